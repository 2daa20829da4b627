"""statefulset-ordering: pods become Ready strictly in ordinal order."""

from __future__ import annotations

from scenario_play import assert_as_expected, play

from kwatch.core.steps import StepName


async def test_statefulset_pods_start_in_order_and_stop_in_reverse() -> None:
    r = await play("statefulset-ordering")
    assert_as_expected(r)
    ready = [s.name for s in r.steps if s.step == StepName.POD_READY]
    assert ready[:3] == ["db-0", "db-1", "db-2"]
    created = [s.name for s in r.steps if s.step == StepName.POD_CREATED]
    assert created[:3] == ["db-0", "db-1", "db-2"]
    # No pod is created before its predecessor is Ready (kwatch's step order).
    seq = [(s.step, s.name) for s in r.steps
           if s.step in (StepName.POD_CREATED, StepName.POD_READY)]
    assert seq.index((StepName.POD_CREATED, "db-1")) > seq.index((StepName.POD_READY, "db-0"))
    assert seq.index((StepName.POD_CREATED, "db-2")) > seq.index((StepName.POD_READY, "db-1"))
    gone = [s.name for s in r.steps if s.step == StepName.POD_GONE]
    assert gone == ["db-2", "db-1"]
