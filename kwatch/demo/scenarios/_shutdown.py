"""Lab 2 of the notes, in two variants: requests refused while a pod is deleted.

On delete the pod gets deletionTimestamp; the endpointslice controller marks its
endpoint terminating *and, in parallel,* the kubelet starts the shutdown. Without a
preStop sleep the app stops listening at once, while the ingress still routes to it
until the slice change has propagated: 503s, then timeouts once the pod IP is gone.
With `preStop: sleep 15` the app keeps serving while it is already out of the endpoints,
so it has drained before SIGTERM.
"""

from __future__ import annotations

from kwatch.core.hazards import SERVING_WHILE_DYING
from kwatch.core.kinds import DEPLOYMENT, POD
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
REPLICAS = 3
PRESTOP_SECONDS = 15
GRACE_SECONDS = 30
SPEED = 1.0  # real time: the races last a couple of seconds, slow enough to follow


async def setup(ctx: ScenarioContext, prestop: int | None, *, shutdown: float = 1,
                grace: int = GRACE_SECONDS) -> None:
    await k.create(ctx, m.service(APP))
    template = m.pod_template(APP, startup=3, shutdown=shutdown, grace=grace, prestop=prestop)
    await k.create(ctx, m.deployment(APP, REPLICAS, template))
    await k.wait_rollout(ctx, APP)
    await ctx.cluster.traffic.start(ctx.namespace, APP)


async def delete_one_pod(ctx: ScenarioContext) -> None:
    victim = sorted(p["metadata"]["name"] for p in await k.pods(ctx, APP))[0]
    ctx.narrate(f"kubectl delete pod {victim}")
    ctx.facts["deleted_at"] = ctx.clock.now()
    ctx.facts["deleted_pod"] = victim
    await k.delete(ctx, POD, victim)
    await k.wait_ready(ctx, APP, REPLICAS)


async def rollout_restart(ctx: ScenarioContext) -> None:
    ctx.facts["restarted_at"] = ctx.clock.now()
    await k.rollout_restart(ctx, DEPLOYMENT, APP)
    await k.wait_rollout(ctx, APP)


def build(name: str, *, prestop: int | None) -> Scenario:
    with_prestop = prestop is not None
    spec = (f"a preStop hook `sleep {prestop}`" if with_prestop else "no preStop hook")

    async def create(ctx: ScenarioContext) -> None:
        await setup(ctx, prestop)

    if with_prestop:
        on_delete = (
            "The pod got deletionTimestamp. The endpointslice controller marks its endpoint "
            "terminating (ready: false) and, in parallel, the kubelet runs the preStop hook: "
            f"sleep {prestop}. The app keeps serving while the ingress drops the endpoint "
            "about 2 s later; SIGTERM only comes after the sleep, when no request arrives "
            "any more. Watch the refused counter stay at 0.")
        on_rollout = (
            "The same holds for every pod of a rollout: each old pod leaves the endpoints "
            f"first and gets SIGTERM {prestop} s later. The rollout is slower by the sleep; "
            "no request is lost.")
        moral = (
            "The endpoint is dropped because deletionTimestamp is set, not because readiness "
            "failed. A preStop sleep longer than your slowest proxy's propagation, and a "
            "terminationGracePeriodSeconds longer than the sleep plus the app's own drain, "
            "turns the race into an ordering.")
        expect: tuple[Expect, ...] = (
            Expect("no request was refused or timed out", all_of(served, no_refusals)),
            Expect("kwatch raised no serving-while-dying hazard", no_hazard(SERVING_WHILE_DYING)),
        )
    else:
        on_delete = (
            "The pod got deletionTimestamp. The endpointslice controller marks its endpoint "
            "terminating and, in parallel, the kubelet sends SIGTERM. Without a preStop sleep "
            "the app stops listening at once, before the ingress has dropped it (that takes "
            "about 2 s): watch the refused (503) counter, then timeouts once the pod and its "
            "IP are gone. kwatch flags the ordering as serving-while-dying.")
        on_rollout = (
            "A rollout does the same to every old pod: each deletion is another race lost. "
            "This is where 503s during deploys come from.")
        moral = (
            "The endpoint is dropped because deletionTimestamp is set, not because readiness "
            "failed, and SIGTERM is sent at the same moment. Run shutdown-with-prestop to see "
            "the fix: a preStop sleep.")
        expect = (
            Expect("requests were refused (503) while the pod died", all_of(served, refusals)),
            Expect("the failures started only after the delete",
                   failures_only_after("deleted_at", "delete")),
            Expect("kwatch raised the serving-while-dying hazard", hazard(SERVING_WHILE_DYING)),
        )

    return Scenario(
        name,
        f"lab 2: delete pods under steady traffic, with {spec}"
        + (" (no 503s)" if with_prestop else " (503s)"),
        SPEED,
        Act(f"A Deployment 'web' (3 replicas, readinessProbe, terminationGracePeriodSeconds "
            f"{GRACE_SECONDS}) with {spec}. Its app exits 1 s after SIGTERM. Traffic: 20 "
            "requests/s through an ingress that learns endpoint changes about 2 s late.",
            create, watch=5),
        Act(on_delete, delete_one_pod, watch=5),
        Act("kubectl rollout restart deployment/web: " + on_rollout, rollout_restart, watch=5),
        Act(moral),
        expect=expect,
    )
