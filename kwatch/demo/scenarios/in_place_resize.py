"""in-place-resize: change a running pod's CPU and memory without recreating it.

Since Kubernetes 1.27 (beta in 1.33, GA in 1.35) container resources are mutable through
the pods/resize subresource. The kubelet allocates the new values (allocatedResources,
PodResizeInProgress), actuates them, and reports them in containerStatuses[].resources.
resizePolicy decides per resource whether the container must restart. A request the
node could never fit is refused at admission since v1.36 (PodResizeValidator: 403
Forbidden, nothing stored); one that fits the node's allocatable but not what is free
right now is accepted and the kubelet reports it PodResizePending (Deferred) until room
frees up.
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.kinds import POD
from kwatch.demo.client import ApiError
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import all_of, fact, served
from kwatch.demo.scenarios.base import (
    Act,
    Expect,
    Observed,
    Scenario,
    ScenarioContext,
    ScenarioError,
)

APP = "api"
START: JSON = {"requests": {"cpu": "250m", "memory": "128Mi"},
               "limits": {"cpu": "500m", "memory": "256Mi"}}
MORE_CPU: JSON = {"requests": {"cpu": "500m", "memory": "128Mi"},
                  "limits": {"cpu": "1", "memory": "256Mi"}}
MORE_MEMORY: JSON = {"requests": {"cpu": "500m", "memory": "256Mi"},
                     "limits": {"cpu": "1", "memory": "512Mi"}}
TOO_MUCH: JSON = {"requests": {"cpu": "64", "memory": "256Mi"},
                  "limits": {"cpu": "64", "memory": "512Mi"}}
RESIZE_POLICY = [{"resourceName": "cpu", "restartPolicy": "NotRequired"},
                 {"resourceName": "memory", "restartPolicy": "RestartContainer"}]


def _pod() -> JSON:
    template = m.pod_template(APP, startup=2, resources=START)
    template["spec"]["containers"][0]["resizePolicy"] = RESIZE_POLICY
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {**template["metadata"], "name": APP}, "spec": template["spec"]}


def _status(pod: JSON) -> JSON:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


async def _resize(ctx: ScenarioContext, resources: JSON) -> None:
    req, lim = resources["requests"], resources["limits"]
    ctx.narrate(f"kubectl patch pod {APP} --subresource resize ...   # cpu "
                f"{req['cpu']}/{lim['cpu']}, memory {req['memory']}/{lim['memory']}")
    await ctx.client.patch(
        f"{POD.collection_path(ctx.namespace)}/{APP}/resize",
        {"spec": {"containers": [{"name": "app", "resources": resources}]}}, "strategic")


async def _wait_applied(ctx: ScenarioContext, resources: JSON) -> JSON:
    async def applied() -> JSON | None:
        pod = await k.get(ctx, POD, APP)
        if pod is None or _status(pod).get("resources") != resources:
            return None
        if k.condition(pod, "PodResizeInProgress") == "True" or not k.pod_ready(pod):
            return None
        return pod

    return await ctx.wait_for(applied, within=120, what="the resize to be applied")


async def create(ctx: ScenarioContext) -> None:
    await k.create(ctx, m.service(APP))
    created = await k.create(ctx, _pod())
    ctx.facts["uid"] = created["metadata"]["uid"]
    await k.wait_ready(ctx, APP, 1)
    await k.wait_listening(ctx, APP, 1)
    await ctx.cluster.traffic.start(ctx.namespace, APP)


async def more_cpu(ctx: ScenarioContext) -> None:
    before = ctx.cluster.traffic.counters()
    await _resize(ctx, MORE_CPU)
    pod = await _wait_applied(ctx, MORE_CPU)
    await ctx.sleep(3)
    after = ctx.cluster.traffic.counters()
    ctx.facts["cpu_same_pod"] = pod["metadata"]["uid"] == ctx.facts["uid"]
    ctx.facts["cpu_restarts"] = k.restart_count(pod)
    ctx.facts["cpu_failed_requests"] = (after.refused + after.timeout
                                        - before.refused - before.timeout)


async def more_memory(ctx: ScenarioContext) -> None:
    await _resize(ctx, MORE_MEMORY)
    await _wait_applied(ctx, MORE_MEMORY)

    # The new limit shows in the status before the restart does: wait for the container
    # to be back, Ready, with its restart counted — or report what happened instead.
    async def restarted() -> JSON | None:
        pod = await k.get(ctx, POD, APP)
        return pod if pod is not None and k.restart_count(pod) and k.pod_ready(pod) else None

    try:
        pod = await ctx.wait_for(restarted, within=60, what="the container restart")
    except ScenarioError:
        pod = await k.get(ctx, POD, APP) or {"metadata": {}}
    ctx.facts["memory_same_pod"] = pod["metadata"].get("uid") == ctx.facts["uid"]
    ctx.facts["memory_restarts"] = k.restart_count(pod)


async def too_much(ctx: ScenarioContext) -> None:
    # The API server refuses it before anything is stored: the kubelet never sees it.
    try:
        await _resize(ctx, TOO_MUCH)
    except ApiError as e:
        ctx.narrate(f"Error from server ({e.reason}): {e.message}")
        ctx.facts["refused"] = e.code
        ctx.facts["refused_why"] = ("node didn't have enough allocatable resources"
                                    in e.message)
    else:
        ctx.facts["refused"] = None
    await ctx.sleep(2)
    pod = await k.get(ctx, POD, APP) or {"metadata": {}, "spec": {"containers": [{}]}}
    ctx.facts["spec_kept"] = pod["spec"]["containers"][0].get("resources") == MORE_MEMORY
    ctx.facts["still_running"] = (pod["metadata"].get("uid") == ctx.facts["uid"]
                                  and _status(pod).get("resources") == MORE_MEMORY
                                  and k.pod_ready(pod))
    ctx.facts["resize_pending"] = k.condition(pod, "PodResizePending") == "True"


def cpu_in_place(o: Observed) -> str | None:
    return all_of(fact("cpu_same_pod", True), fact("cpu_restarts", 0),
                  fact("cpu_failed_requests", 0))(o)


SCENARIO = Scenario(
    "in-place-resize",
    "resize a running pod's CPU (no restart) and memory (RestartContainer) through "
    "pods/resize",
    1.0,
    Act("A pod 'api' (cpu 250m/500m, memory 128Mi/256Mi) behind a Service, with "
        "resizePolicy cpu: NotRequired, memory: RestartContainer. Traffic flows.",
        create, watch=3),
    Act("Double the CPU through the resize subresource. The kubelet accepts it "
        "(allocatedResources, condition PodResizeInProgress), applies it to the running "
        "container and reports it in containerStatuses[].resources: same pod, same IP, "
        "restartCount 0, no request lost.", more_cpu, watch=2),
    Act("Double the memory. Its resizePolicy is RestartContainer: the kubelet restarts the "
        "container in place to apply it (restartCount 1) — still the same pod and IP, but "
        "the app is down while it restarts, so it briefly leaves the endpoints.",
        more_memory, watch=3),
    Act("Ask for 64 CPUs: more than the node's allocatable. Since v1.36 the API server's "
        "PodResizeValidator admission refuses it outright (403 Forbidden, 'node didn't "
        "have enough allocatable resources'): nothing is stored, the spec and the running "
        "container keep their resources, the pod is neither evicted nor moved. (A resize "
        "that fits the allocatable but not what is free right now would be accepted, and "
        "the kubelet would report PodResizePending with reason Deferred.)",
        too_much, watch=3),
    expect=(
        Expect("the CPU resize kept the pod and its container, with no failed request",
               cpu_in_place),
        Expect("the memory resize restarted the container once, in the same pod",
               all_of(fact("memory_same_pod", True), fact("memory_restarts", 1))),
        Expect("the oversized resize was refused at admission (403) and the pod kept "
               "running unchanged",
               all_of(fact("refused", 403), fact("refused_why", True),
                      fact("spec_kept", True), fact("still_running", True),
                      fact("resize_pending", False))),
        Expect("traffic was served", served),
    ),
)
