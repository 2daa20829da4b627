"""The demo scheduler against the embedded API server, over real HTTPS."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, NODE, POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.scheduler import Scheduler, pick_node, unfit_reason

NS = "default"


@pytest.fixture
async def scheduler(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> AsyncIterator[Scheduler]:
    _, client, clock = api
    sched = Scheduler(client, clock)
    sched.start()
    try:
        yield sched
    finally:
        await sched.stop()


async def eventually(check: Callable[[], Any], within: float = 2.0) -> Any:
    """Poll an async or sync check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


def pod_body(name: str, **spec: Any) -> JSON:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "app", "image": "nginx"}], **spec}}


async def create_pod(client: KubeClient, name: str, **spec: Any) -> JSON:
    return await client.create(POD.collection_path(NS), pod_body(name, **spec))


async def get_pod(client: KubeClient, name: str) -> JSON:
    pod = await client.get(f"{POD.collection_path(NS)}/{name}")
    assert pod is not None
    return pod


async def node_of(client: KubeClient, name: str) -> str | None:
    node = (await get_pod(client, name))["spec"].get("nodeName")
    return str(node) if node else None


async def patch_node(client: KubeClient, name: str, patch: JSON, *, status: bool = False) -> None:
    path = f"{NODE.collection_path()}/{name}" + ("/status" if status else "")
    await client.patch(path, patch, "strategic")


def scheduled_condition(pod: JSON) -> JSON:
    conds = pod["status"].get("conditions") or []
    return next((c for c in conds if c["type"] == "PodScheduled"), {})


async def test_binds_only_to_a_fitting_node(
    api: tuple[DemoApiServer, KubeClient, Clock], scheduler: Scheduler
) -> None:
    server, client, _ = api
    tainted, cordoned, not_ready, _unlabelled, good = server.add_nodes(5)
    await patch_node(client, tainted, {"spec": {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    await patch_node(client, cordoned, {"spec": {"unschedulable": True}})
    await patch_node(client, not_ready, {"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}}, status=True)
    for n in (tainted, cordoned, not_ready, good):
        await patch_node(client, n, {"metadata": {"labels": {"disk": "ssd"}}})

    await create_pod(client, "web", nodeSelector={"disk": "ssd"})
    assert await eventually(lambda: node_of(client, "web")) == good

    pod = await get_pod(client, "web")
    assert scheduled_condition(pod)["status"] == "True"
    # Who bound it shows in the Event (the Binding itself leaves no managedFields entry).
    await scheduler.recorder.flush()
    events, _ = await client.list(EVENT.collection_path(NS))
    [scheduled] = [e for e in events if e["reason"] == "Scheduled"]
    assert scheduled["note"] == f"Successfully assigned default/web to {good}"
    assert scheduled["reportingController"] == "default-scheduler"
    assert scheduled["action"] == "Binding"
    assert scheduled["regarding"]["name"] == "web"


async def test_unschedulable_pod_is_reported_then_retried_when_a_node_changes(
    api: tuple[DemoApiServer, KubeClient, Clock], scheduler: Scheduler
) -> None:
    server, client, _ = api
    a, b = server.add_nodes(2)
    await patch_node(client, a, {"spec": {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoExecute"}]}})
    await patch_node(client, b, {"spec": {"unschedulable": True}})
    await create_pod(client, "web")

    async def unschedulable() -> JSON | None:
        pod = await get_pod(client, "web")
        conds = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        return conds[0] if conds and conds[0]["status"] == "False" else None

    cond = await eventually(unschedulable)
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith(
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "1 node(s) were unschedulable."
    )
    await scheduler.recorder.flush()
    events, _ = await client.list(EVENT.collection_path(NS))
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert failed and failed[0]["type"] == "Warning"
    assert failed[0]["note"] == cond["message"]
    assert await node_of(client, "web") is None

    # Uncordoning the node is a cluster change: the pod is retried and bound.
    await patch_node(client, b, {"spec": {"unschedulable": None}})
    assert await eventually(lambda: node_of(client, "web")) == b


async def test_spreads_pods_least_loaded_first_with_name_tie_break(
    api: tuple[DemoApiServer, KubeClient, Clock], scheduler: Scheduler
) -> None:
    server, client, _ = api
    n1, n2, n3 = server.add_nodes(3)
    # A pod already placed on n1 (spec.nodeName set by hand) counts towards its load.
    await create_pod(client, "pinned", nodeName=n1)
    await create_pod(client, "p0")
    assert await eventually(lambda: node_of(client, "p0")) == n2  # n2 < n3 by name
    for i in range(1, 5):
        await create_pod(client, f"p{i}")
    for name in (f"p{i}" for i in range(1, 5)):
        await eventually(functools.partial(node_of, client, name))
    pods, _ = await client.list(POD.collection_path(NS))
    load = Counter(p["spec"]["nodeName"] for p in pods)
    assert load == {n1: 2, n2: 2, n3: 2}
    assert (await get_pod(client, "pinned"))["spec"]["nodeName"] == n1


async def test_respects_tolerations_scheduler_name_and_pod_capacity(
    api: tuple[DemoApiServer, KubeClient, Clock], scheduler: Scheduler
) -> None:
    server, client, _ = api
    [node] = server.add_nodes(1)
    await patch_node(client, node, {"spec": {"taints": [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}})
    await patch_node(client, node, {"status": {"allocatable": {"pods": "1"}}}, status=True)
    await create_pod(client, "other", schedulerName="my-scheduler")
    await create_pod(client, "intolerant")
    await create_pod(client, "tolerant", tolerations=[
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}])
    assert await eventually(lambda: node_of(client, "tolerant")) == node

    await create_pod(client, "tolerant-2", tolerations=[{"operator": "Exists"}])

    async def too_many() -> bool:
        cond = scheduled_condition(await get_pod(client, "tolerant-2"))
        return cond.get("status") == "False" and "1 Too many pods" in cond["message"]

    await eventually(too_many)
    assert await node_of(client, "intolerant") is None
    await asyncio.sleep(0.2)  # a pod for another scheduler is never touched
    other = await get_pod(client, "other")
    assert other["spec"].get("nodeName") is None
    assert not [c for c in other["status"].get("conditions") or []
                if c["type"] == "PodScheduled"]


async def test_daemonset_style_node_affinity(
    api: tuple[DemoApiServer, KubeClient, Clock], scheduler: Scheduler
) -> None:
    server, client, _ = api
    _, n2 = server.add_nodes(2)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [n2]}]}]}}}
    await create_pod(client, "ds-pod", affinity=affinity)
    await create_pod(client, "ds-pod-2", affinity=affinity)
    assert await eventually(lambda: node_of(client, "ds-pod")) == n2
    assert await eventually(lambda: node_of(client, "ds-pod-2")) == n2


def _node(name: str, *, ready: str = "True", **spec: Any) -> JSON:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"allocatable": {"pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def test_unfit_reasons_are_the_real_plugin_messages() -> None:
    pod = pod_body("p")
    assert unfit_reason(pod, _node("a"), 0) is None
    assert unfit_reason(pod, _node("a", ready="Unknown"), 0) == (
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
    assert unfit_reason(pod, _node("a", ready="False"), 0) == (
        "node(s) had untolerated taint {node.kubernetes.io/not-ready: }")
    assert unfit_reason(pod, _node("a", unschedulable=True), 0) == "node(s) were unschedulable"
    assert unfit_reason(pod, _node("a"), 110) == "Too many pods"
    picky = pod_body("p", nodeSelector={"zone": "x"})
    assert unfit_reason(picky, _node("a"), 0) == (
        "node(s) didn't match Pod's node affinity/selector")
    # PreferNoSchedule never blocks.
    soft = _node("a", taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert unfit_reason(pod, soft, 0) is None


def test_pick_node_spreads_and_explains() -> None:
    pod = pod_body("p")
    assert pick_node(pod, [_node("b"), _node("a")], {"a": 3, "b": 3}) == ("a", "")
    assert pick_node(pod, [_node("b"), _node("a")], {"a": 3, "b": 1}) == ("b", "")
    node, msg = pick_node(pod, [_node("a", ready="False"), _node("b", unschedulable=True)], {})
    assert node is None
    assert msg.startswith("0/2 nodes are available: 1 node(s) had untolerated taint "
                          "{node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.")
    assert pick_node(pod, [], {}) == (None, "no nodes available to schedule pods")
