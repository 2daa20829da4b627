"""The two labs, broken and fixed: the lesson must show up in the numbers.

Lab 1 (start-up) and lab 2 (shutdown) each run twice, with and without the fix, under
the same steady traffic; the broken variant must lose requests and make kwatch raise
the matching hazard, the fixed one must lose none and raise nothing.
"""

from __future__ import annotations

import pytest
from scenario_play import assert_as_expected, play

from kwatch.core.hazards import KILLED_AT_GRACE_PERIOD, READY_WITHOUT_PROBE, SERVING_WHILE_DYING
from kwatch.demo.scenarios.shutdown_grace_too_short import (
    GRACE_SECONDS,
    PRESTOP_SECONDS,
    SHUTDOWN_SECONDS,
)


@pytest.mark.slow
async def test_shutdown_without_prestop_refuses_and_flags_serving_while_dying() -> None:
    r = await play("shutdown-without-prestop")
    assert_as_expected(r)
    assert r.traffic.refused > 0
    assert r.traffic.ok > r.traffic.refused
    dying = [h for h in r.hazards if h.kind == SERVING_WHILE_DYING]
    # The single delete plus the three pods replaced by the rollout restart.
    assert len(dying) >= 2
    bad = [q.t for q in r.requests if q.outcome != "ok"]
    assert bad and min(bad) >= r.facts["deleted_at"]
    # The deleted pod's hazard names it, and its window was measured.
    victim = r.facts["deleted_pod"]
    assert any(h.name == victim for h in dying)


@pytest.mark.slow
async def test_shutdown_with_prestop_loses_nothing() -> None:
    r = await play("shutdown-with-prestop")
    assert_as_expected(r)
    assert r.traffic.ok > 500
    assert r.traffic.refused == 0 and r.traffic.timeout == 0
    assert SERVING_WHILE_DYING not in {h.kind for h in r.hazards}
    # Pods really were deleted and replaced meanwhile (the delete + the rollout restart).
    assert len([s for s in r.steps if s.step == "DeletionRequested"]) >= 4
    assert len([s for s in r.steps if s.step == "PodGone"]) >= 4


@pytest.mark.slow
async def test_shutdown_grace_too_short_kills_the_draining_app() -> None:
    r = await play("shutdown-grace-too-short")
    assert_as_expected(r)
    assert r.traffic.ok > 200 and r.traffic.refused == 0 and r.traffic.timeout == 0
    victim = r.facts["deleted_pod"]
    [killed] = [h for h in r.hazards if h.kind == KILLED_AT_GRACE_PERIOD]
    assert killed.name == victim and killed.details["grace_s"] == GRACE_SECONDS
    # From the grace period on (the kubelet counts from when it saw the delete), and
    # before the app's own drain would have ended.
    assert killed.window_s is not None
    assert GRACE_SECONDS - 1.5 <= killed.window_s < PRESTOP_SECONDS + SHUTDOWN_SECONDS
    [gone] = [s for s in r.steps if s.step == "PodGone" and s.name == victim]
    assert gone.details["exit_codes"] == {"app": 137}


async def test_startup_without_probe_refuses_and_flags_ready_without_probe() -> None:
    r = await play("startup-without-probe")
    assert_as_expected(r)
    assert r.traffic.refused > 0
    scaled_at = r.facts["scaled_at"]
    listening_at = r.facts["listening_at"]
    refused = [q.t for q in r.requests if q.outcome == "refused"]
    # All refusals fall between the scale-up and the moment the new apps listened
    # (+ the ingress's propagation delay: it may still hold an older config).
    assert scaled_at <= min(refused) and max(refused) <= listening_at + 3
    assert len([h for h in r.hazards if h.kind == READY_WITHOUT_PROBE]) >= 2


async def test_startup_with_probe_loses_nothing() -> None:
    r = await play("startup-with-probe")
    assert_as_expected(r)
    assert r.traffic.ok > 200
    assert r.traffic.refused == 0 and r.traffic.timeout == 0
    assert READY_WITHOUT_PROBE not in {h.kind for h in r.hazards}
    # The new pods did join the endpoints: not ready first, then ready.
    changes = [s for s in r.steps if s.step == "EndpointConditionChanged"
               and s.details.get("to", {}).get("ready")]
    assert len(changes) >= 4
