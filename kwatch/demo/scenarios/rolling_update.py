"""rolling-update: a new pod template means a new pod-template-hash, hence a new ReplicaSet.

The deployment controller scales the new ReplicaSet up and the old one down in steps
bounded by maxSurge (how many pods above `replicas` may exist) and maxUnavailable (how
many below `replicas` may be unavailable). The pods have a readinessProbe and a preStop
sleep, so the rollout loses no request: the lesson is the ReplicaSet dance itself.
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, REPLICASET
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import all_of, no_refusals, served
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

APP = "web"
REPLICAS = 4
MAX_SURGE = 1
MAX_UNAVAILABLE = 1
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


async def create(ctx: ScenarioContext) -> None:
    await k.create(ctx, m.service(APP))
    template = m.pod_template(APP, startup=3, prestop=10)
    await k.create(ctx, m.deployment(APP, REPLICAS, template, max_surge=MAX_SURGE,
                                     max_unavailable=MAX_UNAVAILABLE))
    await k.wait_rollout(ctx, APP)
    await ctx.cluster.traffic.start(ctx.namespace, APP)
    ctx.facts["rs_log"] = await ctx.log(REPLICASET)


async def set_image(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl set image deployment/{APP} app={m.IMAGE_NEXT}")
    ctx.facts["updated_at"] = ctx.clock.now()
    await k.set_image(ctx, DEPLOYMENT, APP, "app", m.IMAGE_NEXT)
    await k.wait_rollout(ctx, APP)


async def record_replicasets(ctx: ScenarioContext) -> None:
    rs = await k.list_objects(ctx, REPLICASET, f"app={APP}")
    ctx.facts["replicasets"] = [
        {"name": r["metadata"]["name"],
         "hash": (r["metadata"].get("labels") or {}).get(HASH_LABEL),
         "revision": (r["metadata"].get("annotations") or {}).get(REVISION),
         "replicas": int((r.get("spec") or {}).get("replicas") or 0)}
        for r in rs
    ]


def two_replicasets(o: Observed) -> str | None:
    rs = sorted(o.facts.get("replicasets") or [], key=lambda r: str(r["revision"]))
    if len(rs) != 2:
        return f"expected 2 ReplicaSets, found {len(rs)}"
    old, new = rs
    if old["hash"] == new["hash"] or not old["hash"] or not new["hash"]:
        return f"pod-template-hash not distinct: {old['hash']!r} vs {new['hash']!r}"
    if (old["revision"], new["revision"]) != ("1", "2"):
        return f"revisions {old['revision']}, {new['revision']} (expected 1, 2)"
    if (old["replicas"], new["replicas"]) != (0, REPLICAS):
        return f"old RS at {old['replicas']}, new at {new['replicas']} replicas"
    return None


def within_bounds(o: Observed) -> str | None:
    """Replay the ReplicaSet versions in watch order: the sum of desired replicas never
    exceeds replicas+maxSurge, available ones never drop below replicas-maxUnavailable."""
    log = o.facts.get("rs_log")
    if log is None:
        return "no ReplicaSet log"
    t0 = float(o.facts.get("updated_at", 0.0))
    current: dict[str, JSON] = {}
    worst_total, worst_available, steps = 0, REPLICAS, 0
    for t, type_, rs in log.versions:
        key = rs["metadata"]["name"]
        if type_ == "DELETED":
            current.pop(key, None)
        else:
            current[key] = rs
        if t < t0:
            continue
        steps += 1
        total = sum(int((r.get("spec") or {}).get("replicas") or 0) for r in current.values())
        available = sum(int((r.get("status") or {}).get("availableReplicas") or 0)
                        for r in current.values())
        worst_total = max(worst_total, total)
        worst_available = min(worst_available, available)
    if steps < 4:
        return f"only {steps} ReplicaSet changes seen during the rollout"
    if worst_total > REPLICAS + MAX_SURGE:
        return f"{worst_total} pods desired at once (max {REPLICAS + MAX_SURGE})"
    if worst_available < REPLICAS - MAX_UNAVAILABLE:
        return f"only {worst_available} available at one point (min {REPLICAS - MAX_UNAVAILABLE})"
    return None


SCENARIO = Scenario(
    "rolling-update",
    "kubectl set image: a new pod-template-hash, a second ReplicaSet, a bounded rollout",
    1.0,
    Act(f"A Deployment 'web': {REPLICAS} replicas, maxSurge {MAX_SURGE}, maxUnavailable "
        f"{MAX_UNAVAILABLE}, a readinessProbe and a preStop sleep. One ReplicaSet, revision "
        "1, named after the hash of the pod template. Traffic flows.", create, watch=3),
    Act("The pod template changes (new image), so its hash changes: the deployment "
        "controller creates a second ReplicaSet (new pod-template-hash, revision 2) and "
        "scales it up while scaling the old one down — never more than "
        f"{REPLICAS + MAX_SURGE} pods (replicas + maxSurge), never fewer than "
        f"{REPLICAS - MAX_UNAVAILABLE} available (replicas - maxUnavailable). Each step waits "
        "for new pods to be Ready.", set_image, watch=3),
    Act("The old ReplicaSet stays, scaled to 0: it is what `kubectl rollout undo` scales "
        "back up. A Deployment differs from a bare ReplicaSet exactly here: it watches the "
        "template, not only the replica count.", record_replicasets, watch=2),
    expect=(
        Expect("two ReplicaSets with different pod-template-hash, revisions 1 and 2, "
               "old at 0 and new at 4", two_replicasets),
        Expect(f"the rollout never exceeded {REPLICAS + MAX_SURGE} pods nor dropped below "
               f"{REPLICAS - MAX_UNAVAILABLE} available", within_bounds),
        Expect("no request was lost (readinessProbe + preStop)", all_of(served, no_refusals)),
    ),
)
