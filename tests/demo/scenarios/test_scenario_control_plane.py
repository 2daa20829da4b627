"""node-failure and controller-failover: the control plane reacting to lost components."""

from __future__ import annotations

import pytest
from scenario_play import assert_as_expected, play

from kwatch.core.hazards import NODE_NOT_READY, STUCK_TERMINATING
from kwatch.core.steps import StepName
from kwatch.demo.scenarios.node_failure import DEAD_NODE, TOLERATION_SECONDS


@pytest.mark.slow
async def test_node_failure_evicts_after_the_toleration() -> None:
    r = await play("node-failure")
    assert_as_expected(r)
    victims = set(r.facts["victims"])
    assert victims
    # Timeouts while the dead node's pod was still an endpoint, none before it died.
    assert r.traffic.timeout > 0
    assert min(q.t for q in r.requests if q.outcome == "timeout") >= r.facts["died_at"]
    # The node went NotReady about 50 s after its last heartbeat...
    not_ready = [s for s in r.steps if s.step == StepName.NODE_NOT_READY and s.name == DEAD_NODE]
    assert not_ready and not_ready[0].t - r.facts["died_at"] >= 40
    # ...and the pod was evicted only once its toleration ran out, by the right actor.
    evicted = [s for s in r.steps if s.step == StepName.POD_EVICTED and s.name in victims]
    assert evicted
    assert evicted[0].t - not_ready[0].t >= TOLERATION_SECONDS - 5
    deletions = [s for s in r.steps if s.step == StepName.DELETION_REQUESTED
                 and s.name in victims]
    assert deletions and deletions[0].actor == "taint-eviction-controller"
    assert any(h.kind == STUCK_TERMINATING and h.name in victims for h in r.hazards)
    # The node's own hazard names the stranded pods and lasts from NotReady until the
    # last of them is gone (podgc, after out-of-service) or the node is Ready again.
    [stranded] = [h for h in r.hazards if h.kind == NODE_NOT_READY]
    assert stranded.name == DEAD_NODE and not stranded.open
    assert {p.split("/")[1] for p in stranded.details["pods"]} == victims
    assert stranded.t == not_ready[0].t and stranded.window_s is not None
    assert stranded.window_s >= TOLERATION_SECONDS - 5
    assert DEAD_NODE not in r.facts["end_nodes"] and len(r.facts["end_nodes"]) == 3


@pytest.mark.slow
async def test_controller_failover_moves_the_lease_to_the_standby() -> None:
    r = await play("controller-failover")
    assert_as_expected(r)
    before, after = r.facts["holder_before"], r.facts["holder_after"]
    assert before.startswith("controlplane-1_") and after.startswith("controlplane-2_")
    assert r.facts["transitions_after"] == r.facts["transitions_before"] + 1
    changes = [s for s in r.steps if s.step == StepName.LEADER_CHANGED]
    assert [s.details["to"] for s in changes][-1] == after
    # Nothing scaled the ReplicaSet while no replica led; the standby's controllers did.
    scaled = [s for s in r.steps if s.step == StepName.REPLICASET_SCALED]
    assert scaled and scaled[0].t >= changes[-1].t
    assert scaled[0].t - r.facts["crashed_at"] >= 10  # waited out most of the 15 s lease
    assert not r.facts["crashed_leads_again"]
