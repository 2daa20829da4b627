"""create-deployment and rolling-update: the Deployment → ReplicaSet → Pod path."""

from __future__ import annotations

import pytest
from scenario_play import assert_as_expected, play

from kwatch.core.steps import StepName


async def test_create_deployment_walks_the_whole_path() -> None:
    r = await play("create-deployment")
    assert_as_expected(r)
    order = [s.step for s in r.steps if s.name.startswith("web")]
    # Each controller acts on the previous one's output, so kwatch sees them in order.
    first = {name: order.index(name) for name in (
        StepName.DEPLOYMENT_CREATED, StepName.REPLICASET_CREATED, StepName.POD_CREATED,
        StepName.POD_SCHEDULED, StepName.CONTAINER_STARTED, StepName.POD_READY)}
    assert list(first.values()) == sorted(first.values())
    actors = {s.step: s.actor for s in r.steps}
    assert actors[StepName.DEPLOYMENT_CREATED] == "kubectl"
    assert actors[StepName.REPLICASET_CREATED] == "deployment-controller"
    assert actors[StepName.POD_CREATED] == "replicaset-controller"
    assert actors[StepName.POD_SCHEDULED] == "default-scheduler"
    assert actors[StepName.POD_READY] == "kubelet"
    scheduled = {s.details.get("node") for s in r.steps if s.step == StepName.POD_SCHEDULED}
    assert scheduled == {"node-1", "node-2", "node-3"}  # spread, one per node
    assert r.traffic.ok > 0 and r.traffic.refused == r.traffic.timeout == 0
    assert r.hazards == []


@pytest.mark.slow
async def test_rolling_update_makes_a_second_replicaset_within_surge_bounds() -> None:
    r = await play("rolling-update")
    assert_as_expected(r)
    rs = sorted(r.facts["replicasets"], key=lambda x: x["revision"])
    assert len(rs) == 2 and rs[0]["hash"] != rs[1]["hash"]
    assert [x["replicas"] for x in rs] == [0, 4]
    # Replay kwatch's own ReplicaSetScaled steps (one reflector: in order): the desired
    # total never exceeds replicas + maxSurge = 5, and it took several steps.
    created = [s for s in r.steps if s.step == StepName.REPLICASET_CREATED]
    assert len(created) == 2 and created[0].details["hash"] != created[1].details["hash"]
    desired = {s.name: int(s.details["replicas"]) for s in created[:1]}
    desired[created[1].name] = int(created[1].details["replicas"])
    scaled = [s for s in r.steps if s.step == StepName.REPLICASET_SCALED]
    ups = [s for s in scaled if s.name == created[1].name]
    downs = [s for s in scaled if s.name == created[0].name]
    assert len(ups) >= 2 and len(downs) >= 2, "a rolling sequence, not one big swap"
    for s in scaled:
        desired[s.name] = int(s.details["to"])
        assert sum(desired.values()) <= 5, f"over maxSurge after {s}"
    assert desired == {created[0].name: 0, created[1].name: 4}
    assert r.traffic.refused == r.traffic.timeout == 0
