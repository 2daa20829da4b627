"""node-failure: a node dies; the control plane notices, waits, evicts, and cleans up.

When a node dies its kubelet stops answering and nobody on the node deletes anything.
The node lifecycle controller notices the silence after node-monitor-grace-period (50 s),
sets Ready=Unknown, marks the node's pods not Ready (they leave the endpoints) and taints
the node unreachable:NoExecute. The taint eviction controller deletes each pod once its
toleration for that taint runs out (300 s by default; 60 s here), the ReplicaSet
replaces it elsewhere, and the deleted pod stays Terminating — only its kubelet could
confirm — until podgc force-deletes it (here after the operator marks the node
out-of-service).
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.hazards import NODE_NOT_READY, STUCK_TERMINATING
from kwatch.core.kinds import NODE, POD
from kwatch.core.steps import StepName
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import (
    all_of,
    hazard,
    hazard_closed,
    served,
    steps_at_least,
    timeouts,
)
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

APP = "web"
REPLICAS = 3
DEAD_NODE = "node-2"
TOLERATION_SECONDS = 60
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
STUCK_WATCH = 70.0  # long enough past grace (30 s) + kwatch's slack (30 s) to flag it

_TOLERATIONS = [
    {"key": key, "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": TOLERATION_SECONDS}
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
]


async def create(ctx: ScenarioContext) -> None:
    ctx.facts["pod_log"] = await ctx.log(POD)
    await k.create(ctx, m.service(APP))
    template = m.pod_template(APP, startup=3, extra_spec={"tolerations": _TOLERATIONS})
    await k.create(ctx, m.deployment(APP, REPLICAS, template))
    pods = await k.wait_ready(ctx, APP, REPLICAS)
    await k.wait_rollout(ctx, APP)
    victims = [p["metadata"]["name"] for p in pods if p["spec"].get("nodeName") == DEAD_NODE]
    ctx.facts["victims"] = victims
    await ctx.cluster.traffic.start(ctx.namespace, APP)


async def kill_node(ctx: ScenarioContext) -> None:
    ctx.facts["died_at"] = ctx.clock.now()
    await ctx.cluster.kubelets[DEAD_NODE].stop_heartbeats()


def _node_ready(node: JSON | None) -> str | None:
    return k.condition(node or {}, "Ready")


async def wait_unknown(ctx: ScenarioContext) -> None:
    async def unknown() -> bool:
        return _node_ready(await k.get(ctx, NODE, DEAD_NODE)) == "Unknown"

    await ctx.wait_for(unknown, within=120, what=f"{DEAD_NODE} Ready=Unknown")
    ctx.facts["unknown_at"] = ctx.clock.now()


async def wait_eviction(ctx: ScenarioContext) -> None:
    victims = set(ctx.facts["victims"])

    async def evicted() -> bool:
        pods = await k.pods(ctx, APP)
        return any(p["metadata"]["name"] in victims and p["metadata"].get("deletionTimestamp")
                   for p in pods)

    await ctx.wait_for(evicted, within=TOLERATION_SECONDS * 3, what="the eviction")
    ctx.facts["evicted_at"] = ctx.clock.now()


async def wait_replaced(ctx: ScenarioContext) -> None:
    def replaced(pods: list[JSON]) -> bool:
        healthy = [p for p in pods if k.pod_ready(p) and p["spec"].get("nodeName") != DEAD_NODE]
        return len(healthy) >= REPLICAS

    await k.wait_pods(ctx, APP, "replacement pods Ready", replaced)


async def out_of_service(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl taint node {DEAD_NODE} {OUT_OF_SERVICE}=nodeshutdown:NoExecute")
    await k.taint(ctx, DEAD_NODE, OUT_OF_SERVICE, "nodeshutdown", "NoExecute")
    victims = set(ctx.facts["victims"])
    await k.wait_pods(ctx, APP, "the evicted pod gone",
                      lambda ps: not any(p["metadata"]["name"] in victims for p in ps))
    ctx.facts["force_deleted_at"] = ctx.clock.now()


async def recover(ctx: ScenarioContext) -> None:
    await ctx.cluster.kubelets[DEAD_NODE].resume_heartbeats()

    async def ready() -> bool:
        return _node_ready(await k.get(ctx, NODE, DEAD_NODE)) == "True"

    await ctx.wait_for(ready, within=60, what=f"{DEAD_NODE} Ready again")
    ctx.narrate(f"kubectl taint node {DEAD_NODE} {OUT_OF_SERVICE}-")
    await k.untaint(ctx, DEAD_NODE, OUT_OF_SERVICE)
    pods = await k.pods(ctx, APP)
    ctx.facts["end_nodes"] = sorted(str(p["spec"].get("nodeName")) for p in pods)


def evicted_after_toleration(o: Observed) -> str | None:
    if not o.facts.get("victims"):
        return f"no pod ran on {DEAD_NODE}"
    unknown, evicted = o.facts.get("unknown_at"), o.facts.get("evicted_at")
    if unknown is None or evicted is None:
        return "the node never went Unknown, or its pod was never evicted"
    waited = float(evicted) - float(unknown)
    # The taint lands a monitor period (5 s) after Unknown at most; allow that early.
    if waited < TOLERATION_SECONDS - 5:
        return f"evicted {waited:.0f} s after the node went Unknown (toleration 60 s)"
    return None


def victims_left_endpoints_late(o: Observed) -> str | None:
    """The dead node's pod got requests (timeouts) only until the endpoint went away."""
    died, unknown = o.facts.get("died_at"), o.facts.get("unknown_at")
    if died is None or unknown is None:
        return "missing timings"
    late = [r for r in o.requests if r.outcome == "timeout" and r.t > float(unknown) + 15]
    early = [r for r in o.requests if r.outcome == "timeout" and r.t < float(died)]
    if early or late:
        return f"{len(early)} timeouts before the node died, {len(late)} long after Unknown"
    return None


def replaced_elsewhere(o: Observed) -> str | None:
    nodes = o.facts.get("end_nodes") or []
    if len(nodes) != REPLICAS or DEAD_NODE in nodes:
        return f"pods at the end run on {nodes}"
    return None


SCENARIO = Scenario(
    "node-failure",
    "a node dies: Unknown after 50 s, NoExecute taint, eviction after the toleration, "
    "podgc cleanup",
    4.0,  # 50 s grace + 60 s toleration + cleanup: ~4 simulated minutes
    Act(f"A Deployment 'web' with {REPLICAS} replicas, one per node, tolerating "
        f"unreachable/not-ready for {TOLERATION_SECONDS} s (pods get 300 s by default, "
        "from the DefaultTolerationSeconds admission plugin). Traffic flows.", create, watch=5),
    Act(f"{DEAD_NODE} dies: its kubelet stops renewing its Lease and posting node status. "
        "Nobody is told. The ingress still routes a third of the requests to the pod "
        "there: watch them time out.", kill_node),
    Act("The node lifecycle controller checks heartbeats every 5 s; after 50 s of silence "
        "(node-monitor-grace-period) it sets the node's Ready=Unknown, marks its pods "
        "Ready=False — so the endpointslice controller drops them and the timeouts stop — "
        "and taints the node unreachable:NoExecute.", wait_unknown),
    Act(f"The pod tolerates that taint for {TOLERATION_SECONDS} s. Until then nothing "
        "replaces it: the Deployment runs one replica short. Then the taint eviction "
        "controller deletes it.", wait_eviction),
    Act("The pod has a deletionTimestamp, so the replicaset controller no longer counts it "
        "and creates a replacement, which the scheduler puts on a healthy node. The old "
        "pod stays Terminating: only its kubelet could confirm the deletion, and that "
        "kubelet is gone. kwatch flags it as stuck-terminating.", wait_replaced,
        watch=STUCK_WATCH),
    Act("The operator confirms the node is really down and marks it out-of-service; the "
        "pod garbage collector (podgc) then force-deletes the pods terminating there.",
        out_of_service, watch=3),
    Act(f"{DEAD_NODE} comes back: heartbeats resume, Ready=True, the controller removes its "
        "NoExecute taint, and the operator removes out-of-service. Nothing moves back: the "
        "Deployment's desired state is met.", recover, watch=5),
    expect=(
        Expect("requests to the dead node's pod timed out until its endpoint was dropped",
               all_of(served, timeouts, victims_left_endpoints_late)),
        Expect(f"the pod was evicted only after its {TOLERATION_SECONDS} s toleration",
               evicted_after_toleration),
        Expect("kwatch saw the node go NotReady and the eviction",
               steps_at_least({StepName.NODE_NOT_READY: 1, StepName.POD_EVICTED: 1})),
        Expect("kwatch flagged the evicted pod as stuck terminating", hazard(STUCK_TERMINATING)),
        Expect("kwatch flagged the NotReady node with a pod stranded on it, until it was gone",
               hazard_closed(NODE_NOT_READY)),
        Expect(f"the Deployment ended with {REPLICAS} pods, none on {DEAD_NODE}",
               replaced_elsewhere),
    ),
    min_nodes=2,  # one to kill, one to move to
)
