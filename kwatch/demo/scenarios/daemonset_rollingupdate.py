"""daemonset-rollingupdate: the controller replaces the pods itself, one node at a time.

With updateStrategy RollingUpdate (maxUnavailable 1, maxSurge 0) the daemonset
controller deletes one outdated pod, waits until its replacement is Ready, then moves
to the next node: at most one node is without a Ready pod at any time.
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.kinds import DAEMONSET, POD
from kwatch.core.steps import StepName
from kwatch.demo.scenarios import _daemonsets as ds
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

MAX_UNAVAILABLE = 1
CONTROLLER = "daemonset-controller"


async def create(ctx: ScenarioContext) -> None:
    ctx.facts["pod_log"] = await ctx.log(POD)
    pods = await ds.create(ctx, "RollingUpdate")
    ctx.facts["old_uids"] = {p["metadata"]["uid"] for p in pods}


async def update(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl set image daemonset/{ds.APP} app={m.IMAGE_NEXT}")
    ctx.facts["updated_at"] = ctx.clock.now()
    await k.set_image(ctx, DAEMONSET, ds.APP, "app", m.IMAGE_NEXT)
    for node in sorted(ctx.cluster.kubelets):
        await ds.wait_node_updated(ctx, node)
    await k.wait_ready(ctx, ds.APP, len(ctx.cluster.kubelets))
    ctx.facts["at_end"] = await ds.revisions_by_node(ctx)
    ctx.facts["end_uids"] = {p["metadata"]["uid"] for p in await k.pods(ctx, ds.APP)}


def all_replaced(o: Observed) -> str | None:
    old = o.facts.get("old_revision")
    seen = o.facts.get("at_end") or {}
    stale = sorted(n for n, rev in seen.items() if rev == old)
    if not seen or stale:
        return f"outdated at the end: {stale or 'no pods'}"
    kept = set(o.facts.get("old_uids") or ()) & set(o.facts.get("end_uids") or ())
    return f"{len(kept)} old pods survived" if kept else None


def controller_deleted(o: Observed) -> str | None:
    """kwatch names the daemonset controller (not "user") for each old pod's deletion:
    it tells them apart by the pods' pod-template-generation label."""
    old = set(o.facts.get("old_uids") or ())
    actors = {s.actor for s in o.steps_named(StepName.DELETION_REQUESTED) if s.uid in old}
    if actors != {CONTROLLER}:
        return f"old pods' deletions attributed to {sorted(actors) or 'nobody'}"
    return None


def one_node_at_a_time(o: Observed) -> str | None:
    """Replay pod versions in watch order: count nodes without a Ready pod."""
    log = o.facts.get("pod_log")
    if log is None:
        return "no pod log"
    t0 = float(o.facts.get("updated_at", 0.0))
    nodes = len(o.facts.get("at_end") or {})
    current: dict[str, JSON] = {}
    worst = 0
    for t, type_, pod in log.versions:
        if type_ == "DELETED":
            current.pop(pod["metadata"]["name"], None)
        else:
            current[pod["metadata"]["name"]] = pod
        if t < t0:
            continue
        ready_nodes = {ds.node_of(p) for p in current.values() if k.pod_ready(p)}
        worst = max(worst, nodes - len(ready_nodes))
    if worst > MAX_UNAVAILABLE:
        return f"{worst} nodes were without a Ready pod at once (max {MAX_UNAVAILABLE})"
    return None


SCENARIO = Scenario(
    "daemonset-rollingupdate",
    "a DaemonSet with updateStrategy RollingUpdate: the controller replaces pods node by node",
    1.0,
    Act("A DaemonSet 'edge' with updateStrategy RollingUpdate (maxUnavailable 1, "
        "maxSurge 0): one pod per node.", create, watch=3),
    Act("The template changes. The daemonset controller deletes one outdated pod, waits "
        "until the replacement on that node is Ready, then moves on to the next node: at "
        "most one node is without an agent at any time. Compare daemonset-ondelete, where "
        "nothing happened until an operator deleted each pod.", update, watch=3),
    expect=(
        Expect("every pod was replaced by one of the new revision", all_replaced),
        Expect(f"the {CONTROLLER} deleted every old pod", controller_deleted),
        Expect(f"never more than {MAX_UNAVAILABLE} node without a Ready pod",
               one_node_at_a_time),
    ),
)
