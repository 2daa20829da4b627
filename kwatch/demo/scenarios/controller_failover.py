"""controller-failover: two kube-controller-manager replicas, one Lease, one leader.

Replicas of kube-controller-manager run active/standby: the one named in the Lease
kube-system/kube-controller-manager runs every controller, the other only polls the
Lease. When the leader dies, nothing reconciles until the standby has seen the Lease
unrenewed for leaseDurationSeconds (15 s); then it takes the Lease over and its
controllers relist everything and catch up on what changed meanwhile.
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, LEASE, REPLICASET
from kwatch.core.steps import StepName
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import steps_at_least
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

APP = "web"
REPLICAS = 2
SCALED = 4
LEASE_NAME = "kube-controller-manager"


async def _lease(ctx: ScenarioContext) -> JSON:
    lease = await ctx.client.get(f"{LEASE.collection_path()}/{LEASE_NAME}")
    return (lease or {}).get("spec") or {}


def replica(identity: str) -> str:
    """'controlplane-1_<uuid>' → 'controlplane-1'."""
    return identity.split("_", 1)[0]


async def create(ctx: ScenarioContext) -> None:
    await k.create(ctx, m.deployment(APP, REPLICAS, m.pod_template(APP, startup=2)))
    await k.wait_rollout(ctx, APP)
    spec = await _lease(ctx)
    ctx.facts["holder_before"] = str(spec.get("holderIdentity") or "")
    ctx.facts["transitions_before"] = int(spec.get("leaseTransitions") or 0)
    ctx.facts["rs_log"] = await ctx.log(REPLICASET)
    ctx.narrate(f"Lease {LEASE_NAME}: holder {replica(ctx.facts['holder_before'])}, "
                f"leaseTransitions {ctx.facts['transitions_before']}.")


async def crash_leader(ctx: ScenarioContext) -> None:
    leader = ctx.cluster.leader()
    if leader is None:
        raise RuntimeError("no controller-manager replica is leading")
    ctx.facts["crashed"] = leader.identity
    ctx.facts["crashed_at"] = ctx.clock.now()
    await leader.crash()


async def scale_meanwhile(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl scale deployment {APP} --replicas={SCALED}")
    ctx.facts["scaled_at"] = ctx.clock.now()
    await k.scale(ctx, DEPLOYMENT, APP, SCALED)


async def wait_takeover(ctx: ScenarioContext) -> None:
    crashed = ctx.facts["crashed"]

    async def new_holder() -> str | None:
        holder = str((await _lease(ctx)).get("holderIdentity") or "")
        return holder if holder and holder != crashed else None

    holder = await ctx.wait_for(new_holder, within=120, what="a new Lease holder")
    ctx.facts["takeover_seen_at"] = ctx.clock.now()
    spec = await _lease(ctx)
    ctx.facts["holder_after"] = holder
    ctx.facts["transitions_after"] = int(spec.get("leaseTransitions") or 0)
    ctx.narrate(f"Lease {LEASE_NAME}: holder {replica(holder)}, "
                f"leaseTransitions {ctx.facts['transitions_after']}.")
    await k.wait_ready(ctx, APP, SCALED)


async def restart_crashed(ctx: ScenarioContext) -> None:
    crashed = next(mg for mg in ctx.cluster.managers if mg.identity == ctx.facts["crashed"])
    await crashed.start()
    await ctx.sleep(10)
    ctx.facts["crashed_leads_again"] = crashed.is_leader
    leader = ctx.cluster.leader()
    ctx.facts["leader_at_end"] = leader.identity if leader is not None else ""


def lease_moved(o: Observed) -> str | None:
    before, after = o.facts.get("holder_before"), o.facts.get("holder_after")
    if not before or not after or before == after:
        return f"holder before {before!r}, after {after!r}"
    if before != o.facts.get("crashed"):
        return "the crashed replica was not the holder"
    if o.facts.get("transitions_after") != int(o.facts.get("transitions_before", 0)) + 1:
        return (f"leaseTransitions {o.facts.get('transitions_before')} → "
                f"{o.facts.get('transitions_after')}")
    return None


def scaled_only_after_takeover(o: Observed) -> str | None:
    """The first ReplicaSet version with the new replica count came after the takeover
    (as the Lease watch saw it: kwatch's LeaderChanged step for the new holder)."""
    log = o.facts.get("rs_log")
    after = o.facts.get("holder_after")
    if log is None or not after:
        return "missing facts"
    changed = [s.t for s in o.steps_named(StepName.LEADER_CHANGED)
               if s.details.get("to") == after]
    takeover = min(changed) if changed else float(o.facts.get("takeover_seen_at", 0.0))
    scaled = [t for t, _, rs in log.versions
              if int((rs.get("spec") or {}).get("replicas") or 0) == SCALED]
    if not scaled:
        return "the ReplicaSet was never scaled"
    if scaled[0] < takeover:
        return f"scaled {takeover - scaled[0]:.1f} s before the new leader took over"
    if scaled[0] < float(o.facts.get("scaled_at", 0.0)):
        return "scaled before the user asked"
    return None


def standby_again(o: Observed) -> str | None:
    if o.facts.get("crashed_leads_again"):
        return "the restarted replica took the Lease back"
    if o.facts.get("leader_at_end") != o.facts.get("holder_after"):
        return "the leader changed again"
    return None


SCENARIO = Scenario(
    "controller-failover",
    "kill the leading kube-controller-manager: the standby takes the Lease over and "
    "catches up",
    1.0,
    Act("Two kube-controller-manager replicas run, controlplane-1 and controlplane-2. Only "
        "the holder of the Lease kube-system/kube-controller-manager runs the controllers; "
        "the other polls the Lease every 2 s. A Deployment 'web' with 2 replicas is "
        "reconciled by the leader.", create, watch=3),
    Act("The leader crashes: its controllers stop mid-work and it stops renewing the Lease "
        "(every 2 s until now).", crash_leader, watch=2),
    Act("Meanwhile a user scales 'web' to 4. The API server accepts and stores the new "
        "spec — but no controller runs to act on it: no new pods. More replicas of "
        "kube-controller-manager do not mean more throughput, only a standby.",
        scale_meanwhile, watch=5),
    Act("The standby must see the same Lease record unchanged for leaseDurationSeconds "
        "(15 s) before it may take over — it trusts only its own clock. Then it writes "
        "itself as holder (leaseTransitions + 1), starts its controllers, which list "
        "everything afresh and find the Deployment wanting 4: the ReplicaSet is scaled "
        "and 2 pods are created.", wait_takeover, watch=3),
    Act("The crashed replica restarts. It finds a Lease that is being renewed by someone "
        "else and stays standby.", restart_crashed, watch=2),
    expect=(
        Expect("the Lease moved from the crashed replica to the standby "
               "(leaseTransitions + 1)", lease_moved),
        Expect("the scale-up was acted on only after the standby took over",
               scaled_only_after_takeover),
        Expect("kwatch saw the leader change", steps_at_least({StepName.LEADER_CHANGED: 1})),
        Expect("the restarted replica stayed standby", standby_again),
    ),
)
