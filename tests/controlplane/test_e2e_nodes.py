"""Node failure and controller-manager failover on real control planes of their own.

node-failure runs with ``--node-monitor-grace-period`` of 16 s (helpers.NODE_FAILURE_GRACE)
and the scenario's pods tolerate not-ready/unreachable for 60 s; the dead node is the
demo kubelet simulator with its heartbeats stopped. controller-failover runs a second
kube-controller-manager process next to the control plane's own one and SIGKILLs the
leader.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import (
    NODE_FAILURE_GRACE,
    RealPlaneRuns,
    endpoint_states,
    failed_expectations,
    run_of,
    session_runs,
    steps_of,
)

from kwatch.core.hazards import STUCK_TERMINATING
from kwatch.core.rows import LeaseRow
from kwatch.core.steps import Step
from kwatch.demo.scenarios.node_failure import DEAD_NODE, OUT_OF_SERVICE, TOLERATION_SECONDS
from kwatch.testing.controlplane import ControlPlane

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

SKEW = 0.5
UNREACHABLE = "node.kubernetes.io/unreachable"
# The lifecycle controller looks every grace/4 s (launcher's --node-monitor-period).
MONITOR_PERIOD = max(1.0, min(5.0, NODE_FAILURE_GRACE // 4))


@pytest.fixture(scope="session")
def real(controlplane: ControlPlane) -> Iterator[RealPlaneRuns]:
    yield from session_runs(controlplane)


def one(steps: list[Step], **kw: str) -> Step:
    found = steps_of(steps, **kw)
    assert len(found) == 1, f"{kw}: {found}"
    return found[0]


def test_node_failure_taint_eviction_and_cleanup(real: RealPlaneRuns) -> None:
    r = run_of(real, "node-failure")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    [victim] = r.facts["victims"]
    node = [s for s in steps if s.kind == "Node" and s.name == DEAD_NODE]
    # Unknown after the grace period (+ at most one monitor period), by the real node
    # lifecycle controller, then the unreachable taints: NoSchedule, then NoExecute.
    unknown = one(node, step="NodeNotReady")
    assert unknown.actor == "node-lifecycle-controller"
    assert unknown.details["status"] == "Unknown"
    # (lastHeartbeatTime has one-second resolution.)
    silent = unknown.details["since_heartbeat_s"]
    assert NODE_FAILURE_GRACE - 1 <= silent <= NODE_FAILURE_GRACE + MONITOR_PERIOD + 5
    tainted = [(s.details["key"], s.details["effect"], s.actor)
               for s in steps_of(node, step="NodeTainted")]
    assert tainted[:2] == [(UNREACHABLE, "NoSchedule", "node-lifecycle-controller"),
                           (UNREACHABLE, "NoExecute", "node-lifecycle-controller")]
    assert (OUT_OF_SERVICE, "NoExecute", "kubectl") in tainted
    no_execute = steps_of(node, step="NodeTainted")[1]
    # The node's pod is marked not Ready and leaves the ready set, but is not deleted …
    assert endpoint_states(steps, victim)[:3] == [
        (False, False, False), (True, True, False), (False, False, False)]
    not_ready = one(steps, name=victim, step="PodNotReady")
    assert abs(not_ready.t - unknown.t) < 5
    # … until its 60 s toleration of the NoExecute taint ran out: the taint eviction
    # controller deletes it (DisruptionTarget DeletionByTaintManager).
    evicted = one(steps, name=victim, step="PodEvicted")
    deletion = one(steps, name=victim, step="DeletionRequested")
    assert deletion.actor == evicted.actor == "taint-eviction-controller"
    assert deletion.details["disruption"] == "DeletionByTaintManager"
    assert deletion.t - no_execute.t >= TOLERATION_SECONDS - 2
    # The ReplicaSet replaces it elsewhere at once; the old one stays Terminating
    # (nobody on the dead node confirms) — kwatch flags it — until the operator marks
    # the node out-of-service and podgc force-deletes it.
    replacement = [s for s in steps_of(steps, step="PodCreated") if s.t >= deletion.t - SKEW]
    assert len(replacement) == 1 and replacement[0].actor == "replicaset-controller"
    placed = one(steps, name=replacement[0].name, step="PodScheduled")
    assert placed.details["node"] != DEAD_NODE
    assert victim in {h.name for h in r.hazards if h.kind == STUCK_TERMINATING}
    gone = one(steps, name=victim, step="PodGone")
    oos = [s for s in steps_of(node, step="NodeTainted") if s.details["key"] == OUT_OF_SERVICE]
    assert gone.t >= oos[0].t - SKEW
    assert endpoint_states(steps, victim)[-1] is None
    # The node comes back: Ready from its kubelet, taints lifted by the controller.
    back = one(node, step="NodeReady")
    assert back.actor == "kubelet" and back.t >= gone.t - SKEW
    untainted = {(s.details["key"], s.details["effect"]) for s in steps_of(
        node, step="NodeUntainted")}
    assert untainted >= {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute"),
                         (OUT_OF_SERVICE, "NoExecute")}


def test_controller_manager_leader_lease_moves(real: RealPlaneRuns) -> None:
    r = run_of(real, "controller-failover")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    changed = one(steps, kind="Lease", step="LeaderChanged")
    assert changed.namespace == "kube-system" and changed.name == "kube-controller-manager"
    assert changed.actor == "kube-controller-manager"
    assert changed.details["from"] == r.facts["holder_before"] == r.facts["crashed"]
    assert changed.details["to"] == r.facts["holder_after"]
    assert changed.details["transitions"] == r.facts["transitions_before"] + 1
    # The standby waited out the Lease (15 s since the last renewal, which was at most
    # the 2 s retry period before the crash) before it took over.
    assert changed.t - r.facts["crashed_at"] >= 15 - 2 - SKEW
    # Nothing acted on the user's scale-up until the new leader's controllers ran.
    scaled = one(steps, kind="Deployment", step="DeploymentScaled")
    assert scaled.actor == "kubectl" and scaled.t < changed.t
    [rs_scaled] = steps_of(steps, kind="ReplicaSet", step="ReplicaSetScaled")
    assert rs_scaled.actor == "deployment-controller" and rs_scaled.t >= changed.t - SKEW
    # The Lease holder as kwatch's store holds it.
    assert real.track_c.pipeline is not None
    lease = real.track_c.pipeline.store.get("Lease", "kube-system/kube-controller-manager")
    assert isinstance(lease, LeaseRow)
    assert lease.holder == r.facts["holder_after"] and lease.transitions == changed.details[
        "transitions"]
    assert not r.facts["crashed_leads_again"]


def test_node_failure_pod_steps_name_the_controllers(real: RealPlaneRuns) -> None:
    """Nothing on the dead node acts: the node lifecycle controller marks the pod not
    Ready (MarkPodsNotReady), podgc marks it Failed and force-deletes it after the
    out-of-service taint — each as kube-controller-manager on f:status, which
    kwatch/core/steps.py maps to the controller by what the write changed."""
    r = run_of(real, "node-failure")
    steps = r.steps
    [victim] = r.facts["victims"]
    assert one(steps, name=victim, step="PodNotReady").actor == "node-lifecycle-controller"
    assert one(steps, name=victim, step="PodFailed").actor == "pod-garbage-collector"
    assert one(steps, name=victim, step="PodGone").actor == "pod-garbage-collector"
