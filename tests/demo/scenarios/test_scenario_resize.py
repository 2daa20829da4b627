"""in-place-resize: resources change without recreating the pod."""

from __future__ import annotations

from scenario_play import assert_as_expected, play

from kwatch.core.steps import StepName


async def test_in_place_resize_keeps_the_pod() -> None:
    r = await play("in-place-resize")
    assert_as_expected(r)
    assert r.facts["cpu_same_pod"] and r.facts["cpu_restarts"] == 0
    assert r.facts["cpu_failed_requests"] == 0
    assert r.facts["memory_same_pod"] and r.facts["memory_restarts"] == 1
    # PodResizeValidator (v1.36): refused at admission, nothing stored, nothing pending.
    assert r.facts["refused"] == 403 and r.facts["refused_why"]
    assert r.facts["spec_kept"] and r.facts["still_running"]
    assert r.facts["resize_pending"] is False
    # One pod for the whole scenario: never deleted, never re-created.
    assert [s.name for s in r.steps if s.step == StepName.POD_CREATED] == ["api"]
    assert not [s for s in r.steps if s.step == StepName.DELETION_REQUESTED]
    assert [s for s in r.steps if s.step == StepName.POD_RESIZED]
