"""Lab 1 of the notes, in two variants: requests refused while a pod starts.

Without a readinessProbe the kubelet reports a container Ready as soon as it runs, so the
endpointslice controller publishes the endpoint ready while the app is still starting
(8 s here): the ingress sends it requests and gets connection refused → 503. With a
readinessProbe the endpoint is published not-ready and flips to ready only once the app
answers the probe.
"""

from __future__ import annotations

from kwatch.core.hazards import READY_WITHOUT_PROBE
from kwatch.core.kinds import DEPLOYMENT
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import (
    all_of,
    failures_only_after,
    hazard,
    no_hazard,
    no_refusals,
    refusals,
    served,
)
from kwatch.demo.scenarios.base import Act, Expect, Scenario, ScenarioContext

APP = "web"
START = 2
SCALED = 4
STARTUP_SECONDS = 8
SPEED = 1.0  # real time: the races last a couple of seconds, slow enough to follow


def build(name: str, *, probe: bool) -> Scenario:
    spec = "a readinessProbe" if probe else "no readinessProbe"

    async def create(ctx: ScenarioContext) -> None:
        await k.create(ctx, m.service(APP))
        template = m.pod_template(APP, startup=STARTUP_SECONDS, probe=probe)
        await k.create(ctx, m.deployment(APP, START, template))
        await k.wait_rollout(ctx, APP)
        # Start the traffic once the first pods really listen: the lesson is the scale-up.
        await k.wait_listening(ctx, APP, START)
        await ctx.cluster.traffic.start(ctx.namespace, APP)

    async def scale_up(ctx: ScenarioContext) -> None:
        ctx.narrate(f"kubectl scale deployment {APP} --replicas={SCALED}")
        ctx.facts["scaled_at"] = ctx.clock.now()
        await k.scale(ctx, DEPLOYMENT, APP, SCALED)
        await k.wait_ready(ctx, APP, SCALED)
        await k.wait_listening(ctx, APP, SCALED)
        ctx.facts["listening_at"] = ctx.clock.now()

    if probe:
        on_scale = (
            "Two new pods start. Their app needs 8 s before it listens; the kubelet probes "
            "GET /healthz every 2 s, so the pods stay Ready=False meanwhile and the "
            "endpointslice controller publishes their endpoints with ready: false — the "
            "ingress ignores them. When the probe passes they flip to ready: true. Watch the "
            "refused counter stay at 0.")
        moral = ("A readinessProbe is what makes Ready mean 'serving'. Without one, Ready "
                 "only means 'the container process runs'.")
        expect: tuple[Expect, ...] = (
            Expect("no request was refused while the new pods started",
                   all_of(served, no_refusals)),
            Expect("kwatch raised no ready-without-probe hazard", no_hazard(READY_WITHOUT_PROBE)),
        )
    else:
        on_scale = (
            "Two new pods start. Without a readinessProbe the kubelet reports Ready as soon "
            "as the container runs, and the endpointslice controller adds the endpoints with "
            "ready: true — but the app needs 8 s before it listens. The ingress already sends "
            "them their share: watch the refused (503) counter climb until the apps listen. "
            "kwatch flags each such pod as ready-without-probe.")
        moral = ("The fix is a readinessProbe (run startup-with-probe): the pod joins the "
                 "endpoints only once the app answers.")
        expect = (
            Expect("requests were refused (503) while the new pods started",
                   all_of(served, refusals)),
            Expect("the failures happened only after the scale-up",
                   failures_only_after("scaled_at", "scale-up")),
            Expect("kwatch raised the ready-without-probe hazard", hazard(READY_WITHOUT_PROBE)),
        )

    return Scenario(
        name,
        f"lab 1: scale up under steady traffic, pods with {spec}"
        + (" (no 503s)" if probe else " (503s while apps start)"),
        SPEED,
        Act(f"A Deployment 'web' (2 replicas) with {spec}; its app takes {STARTUP_SECONDS} s "
            "to listen after the container starts. Once both apps listen, traffic starts: "
            "20 requests/s through the ingress.", create, watch=5),
        Act(on_scale, scale_up, watch=5),
        Act(moral),
        expect=expect,
    )
