"""Lab 2 on the real control plane: a pod deleted under traffic, without and with preStop.

What the real endpointslice controller publishes when a pod gets its deletionTimestamp
is the heart of the lesson: the endpoint stops being `ready` at once (terminating),
stays `serving` while the pod is still Ready, and goes when the pod is gone — in
parallel with the kubelet's SIGTERM. kwatch must show that ordering and flag it when
nothing (a preStop sleep) keeps the app serving meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import (
    RealPlaneRuns,
    endpoint_states,
    failed_expectations,
    run_of,
    session_runs,
    steps_of,
    without_brief_tail,
)

from kwatch.core.hazards import SERVING_WHILE_DYING
from kwatch.core.steps import Step
from kwatch.demo.scenarios._shutdown import GRACE_SECONDS, PRESTOP_SECONDS
from kwatch.testing.controlplane import ControlPlane

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

READY = (True, True, False)
NOT_READY = (False, False, False)
TERMINATING_SERVING = (False, True, True)
SHUTDOWN_S = 1.0  # the simulated app exits this long after SIGTERM (the scenario's)
DELETERS = {"user", "replicaset-controller"}  # see where it is used


@pytest.fixture(scope="session")
def real(controlplane: ControlPlane) -> Iterator[RealPlaneRuns]:
    yield from session_runs(controlplane)


def only(steps: list[Step], **kw: str) -> Step:
    found = steps_of(steps, **kw)
    assert len(found) == 1, f"{kw}: {found}"
    return found[0]


def left_ready_set(steps: list[Step], pod: str) -> Step:
    """The endpoint step where the deleted pod stopped being `ready`."""
    for s in steps_of(steps, name=pod, step="EndpointConditionChanged"):
        if s.details["from"]["ready"] and not s.details["to"]["ready"]:
            return s
    raise AssertionError(f"{pod} never left the ready set")


def test_without_prestop_sigterm_races_the_endpoint_removal(real: RealPlaneRuns) -> None:
    r = run_of(real, "shutdown-without-prestop")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    victim = r.facts["deleted_pod"]
    deletion = only(steps, name=victim, step="DeletionRequested")
    # kubectl's delete; kwatch infers the deleter and can read the ReplicaSet's instant
    # replacement as a scale-down (a known race in core/steps.py pod_deleter, reported).
    assert deletion.actor in DELETERS
    assert deletion.details["prestop"] == "none"
    assert deletion.details["grace_s"] == GRACE_SECONDS
    # The real endpointslice controller: ready → (not ready, serving, terminating) →
    # [(not serving, terminating), if its sync catches that moment] → removed.
    assert without_brief_tail(endpoint_states(steps, victim)) == [
        NOT_READY, READY, TERMINATING_SERVING, None]
    out = left_ready_set(steps, victim)
    assert out.actor == "endpointslice-controller"
    # SIGTERM came at once: the app was gone about a second after the delete request,
    # while proxies were still propagating the endpoint change.
    ended = only(steps, name=victim, step="ContainerTerminated")
    assert ended.details["exit_code"] == 0
    assert ended.details["after_deletion_s"] <= SHUTDOWN_S + 3
    hazards = [h for h in r.hazards if h.kind == SERVING_WHILE_DYING]
    assert victim in {h.name for h in hazards}
    assert r.traffic.refused > 0
    # The rollout restart does the same to every old pod.
    assert len(steps_of(steps, step="DeletionRequested")) == 4
    assert {h.name for h in hazards} >= {s.name for s in steps_of(
        steps, step="DeletionRequested")}


def test_with_prestop_the_pod_drains_before_sigterm(real: RealPlaneRuns) -> None:
    r = run_of(real, "shutdown-with-prestop")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    victim = r.facts["deleted_pod"]
    deletion = only(steps, name=victim, step="DeletionRequested")
    assert deletion.details["prestop"] == f"exec-sleep {PRESTOP_SECONDS}s"
    assert without_brief_tail(endpoint_states(steps, victim)) == [
        NOT_READY, READY, TERMINATING_SERVING, None]
    out = left_ready_set(steps, victim)
    ended = only(steps, name=victim, step="ContainerTerminated")
    # The endpoint left the ready set right after the delete request; the app only got
    # SIGTERM after the preStop sleep, so it kept serving while proxies caught up.
    assert out.t - deletion.t < 5
    assert ended.details["after_deletion_s"] >= PRESTOP_SECONDS
    assert ended.t - out.t >= PRESTOP_SECONDS - 5
    assert not [h for h in r.hazards if h.kind == SERVING_WHILE_DYING]
    assert r.traffic.refused == 0 and r.traffic.timeout == 0 and r.traffic.ok > 0
