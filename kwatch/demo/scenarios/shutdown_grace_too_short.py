"""shutdown-grace-too-short: lab 2 one step further — the drain outlasts the grace period.

A preStop sleep keeps the pod serving while it leaves the endpoints, so no request is
refused. But this app needs longer after SIGTERM than terminationGracePeriodSeconds
leaves it: the grace period counts from the delete request and includes the preStop
hook, and when it runs out the kubelet sends SIGKILL (exit code 137). Whatever the app
was still doing is lost.
"""

from __future__ import annotations

from kwatch.core.hazards import KILLED_AT_GRACE_PERIOD, SERVING_WHILE_DYING
from kwatch.core.steps import StepName
from kwatch.demo.scenarios import _shutdown as sd
from kwatch.demo.scenarios._checks import all_of, hazard, no_hazard, no_refusals, served
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

PRESTOP_SECONDS = 5
SHUTDOWN_SECONDS = 30  # the app's own drain after SIGTERM
# < PRESTOP_SECONDS + SHUTDOWN_SECONDS: the lesson. And well after the readiness probe
# has failed (it stops answering at SIGTERM; 3 failures, 2 s apart), so that the pod is
# NotReady before it is killed, not in a race with it.
GRACE_SECONDS = 15
SLACK = 1.5  # managedFields and status times have one-second resolution


async def create(ctx: ScenarioContext) -> None:
    await sd.setup(ctx, PRESTOP_SECONDS, shutdown=SHUTDOWN_SECONDS, grace=GRACE_SECONDS)


def killed_at_the_grace_period(o: Observed) -> str | None:
    victim = o.facts.get("deleted_pod")
    ends = [s for s in o.steps_named(StepName.CONTAINER_TERMINATED) if s.name == victim]
    if not ends:
        return f"kwatch saw no container of {victim} terminate"
    d = ends[0].details
    if d.get("exit_code") != 137:
        return f"{victim} exited with {d.get('exit_code')} ({d.get('reason')}), not 137"
    # The kubelet's grace period runs from when it saw the deletion, a moment after the
    # request (more simulated seconds on a loaded machine at high --speed): not before
    # the grace period, and before the app would have finished its drain.
    after = d.get("after_deletion_s")
    if not isinstance(after, int | float) or not (
        GRACE_SECONDS - SLACK <= after < PRESTOP_SECONDS + SHUTDOWN_SECONDS
    ):
        return (f"killed {after} s after the delete request, not from {GRACE_SECONDS} s on "
                f"and before the drain's end at {PRESTOP_SECONDS + SHUTDOWN_SECONDS} s")
    return None


SCENARIO = Scenario(
    "shutdown-grace-too-short",
    "lab 2, one step further: the app's drain outlasts terminationGracePeriodSeconds "
    "(SIGKILL, exit 137)",
    sd.SPEED,
    Act(f"A Deployment 'web' (3 replicas, readinessProbe, preStop `sleep {PRESTOP_SECONDS}`, "
        f"terminationGracePeriodSeconds {GRACE_SECONDS}). This app needs {SHUTDOWN_SECONDS} s "
        "after SIGTERM to finish its work (long requests, a queue to flush). Traffic: 20 "
        "requests/s through the ingress.", create, watch=5),
    Act(f"kubectl delete pod: the endpoint goes terminating and the preStop sleep keeps the "
        f"app serving while the ingress drops it, so no request is refused. SIGTERM comes at "
        f"+{PRESTOP_SECONDS} s and the app starts its {SHUTDOWN_SECONDS} s drain, but the grace "
        f"period counts from the delete request and ends at +{GRACE_SECONDS} s: SIGKILL, exit "
        "code 137. kwatch flags killed-at-grace-period.", sd.delete_one_pod, watch=15),
    Act("terminationGracePeriodSeconds must cover the preStop sleep plus the app's own "
        f"drain, with a margin: here more than {PRESTOP_SECONDS + SHUTDOWN_SECONDS} s. Exit "
        "code 137 (reason Error) in a deleted pod's last state is the tell."),
    expect=(
        Expect("no request was refused or timed out (the preStop sleep did its part)",
               all_of(served, no_refusals)),
        Expect(f"the app was SIGKILLed (exit 137) when its {GRACE_SECONDS} s grace period "
               "ran out, in the middle of its drain", killed_at_the_grace_period),
        Expect("kwatch raised the killed-at-grace-period hazard",
               hazard(KILLED_AT_GRACE_PERIOD)),
        Expect("kwatch raised no serving-while-dying hazard", no_hazard(SERVING_WHILE_DYING)),
    ),
)
