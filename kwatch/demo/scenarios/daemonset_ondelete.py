"""daemonset-ondelete: an update that waits for the operator, node by node.

With updateStrategy OnDelete the daemonset controller records the new template (a new
ControllerRevision) but replaces nothing: a pod moves to the new revision only when
someone deletes it. The notes' use case: an ingress controller as a DaemonSet — drain
the node from the load balancer first, confirm no traffic, then delete the pod by hand.
"""

from __future__ import annotations

from kwatch.core.hazards import DAEMONSET_OUTDATED
from kwatch.core.kinds import DAEMONSET, POD
from kwatch.demo.scenarios import _daemonsets as ds
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import hazard_closed
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

WAIT_AFTER_UPDATE = 15.0


async def create(ctx: ScenarioContext) -> None:
    await ds.create(ctx, "OnDelete")


async def update(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl set image daemonset/{ds.APP} app={m.IMAGE_NEXT}")
    await k.set_image(ctx, DAEMONSET, ds.APP, "app", m.IMAGE_NEXT)
    await ctx.sleep(WAIT_AFTER_UPDATE)
    ctx.facts["after_update"] = await ds.revisions_by_node(ctx)


async def _replace(ctx: ScenarioContext, node: str) -> None:
    pod = next(p for p in await k.pods(ctx, ds.APP) if ds.node_of(p) == node)
    ctx.narrate(f"kubectl delete pod {pod['metadata']['name']}   # the one on {node}")
    await k.delete(ctx, POD, pod["metadata"]["name"])
    await ds.wait_node_updated(ctx, node)


async def delete_first(ctx: ScenarioContext) -> None:
    first = sorted(ctx.cluster.kubelets)[0]
    ctx.facts["first_node"] = first
    await _replace(ctx, first)
    ctx.facts["after_first_delete"] = await ds.revisions_by_node(ctx)


async def delete_rest(ctx: ScenarioContext) -> None:
    for node in sorted(ctx.cluster.kubelets)[1:]:
        await _replace(ctx, node)
        await ctx.sleep(2)
    ctx.facts["at_end"] = await ds.revisions_by_node(ctx)


def untouched_after_update(o: Observed) -> str | None:
    old = o.facts.get("old_revision")
    seen = o.facts.get("after_update") or {}
    moved = [n for n, rev in seen.items() if rev != old]
    if not seen:
        return "no pods seen after the update"
    return f"pods replaced without a delete on {', '.join(moved)}" if moved else None


def only_deleted_node_updated(o: Observed) -> str | None:
    old, first = o.facts.get("old_revision"), o.facts.get("first_node")
    seen = o.facts.get("after_first_delete") or {}
    updated = sorted(n for n, rev in seen.items() if rev != old)
    return None if updated == [first] else f"updated nodes {updated}, expected only {first}"


def all_updated(o: Observed) -> str | None:
    old = o.facts.get("old_revision")
    seen = o.facts.get("at_end") or {}
    stale = sorted(n for n, rev in seen.items() if rev == old)
    if not seen:
        return "no pods at the end"
    return f"still outdated on {', '.join(stale)}" if stale else None


SCENARIO = Scenario(
    "daemonset-ondelete",
    "a DaemonSet with updateStrategy OnDelete: pods stay outdated until you delete each one",
    1.0,
    Act("A DaemonSet 'edge' — think of an ingress controller on every node — with "
        "updateStrategy OnDelete: the daemonset controller runs one pod per node.",
        create, watch=3),
    Act("The template changes. The controller records a new revision (the pods' "
        "controller-revision-hash label will tell) but replaces nothing: every pod keeps "
        f"the old template. Watch for {WAIT_AFTER_UPDATE:g} s: nothing happens, by design.",
        update),
    Act("The operator's turn, as the notes recommend for an ingress: take the first node "
        "out of the load balancer, confirm no traffic reaches it, then delete its pod. The "
        "controller creates the replacement from the new template — on that node only.",
        delete_first, watch=3),
    Act("The other nodes stay on the old revision until their pods are deleted too, one "
        "at a time: the operator controls the pace.", delete_rest, watch=2),
    expect=(
        Expect("after the update every pod was still on the old revision",
               untouched_after_update),
        Expect("deleting one pod updated exactly that node", only_deleted_node_updated),
        Expect("after deleting each pod, every node runs the new revision", all_updated),
        Expect("kwatch flagged the DaemonSet as outdated until its last pod was replaced",
               hazard_closed(DAEMONSET_OUTDATED)),
    ),
)
