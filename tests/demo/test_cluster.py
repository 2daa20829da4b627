"""DemoCluster: the whole demo cluster comes up wired like a real one, and its network
answers the traffic simulator the way the labs need (ok / refused / timeout)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from kwatch.core.events import JSON
from kwatch.core.kinds import LEASE, NODE, POD
from kwatch.demo.client import KubeClient
from kwatch.demo.cluster import CONTEXT, DemoCluster
from kwatch.demo.traffic import Backend

T = TypeVar("T")
SPEED = 20.0
NS = "default"


@pytest.fixture
async def cluster() -> AsyncIterator[DemoCluster]:
    async with DemoCluster(speed=SPEED, nodes=3) as c:
        yield c


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = await probe()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _ready(obj: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


async def test_comes_up_with_ready_nodes_a_leader_and_a_standby(cluster: DemoCluster) -> None:
    api = cluster.client("test")
    nodes, _ = await api.list(NODE.collection_path())
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    assert all(_ready(n) for n in nodes)
    # The kubelets registered them (managedFields name the kubelet, not a test helper).
    managers = {m["manager"] for n in nodes for m in n["metadata"].get("managedFields") or ()}
    assert "kubelet" in managers
    assert sorted(cluster.kubelets) == ["node-1", "node-2", "node-3"]

    assert len(cluster.managers) == 2
    leader = cluster.leader()
    assert leader is not None and leader.identity.startswith("controlplane-1_")
    assert [m.is_leader for m in cluster.managers] == [True, False]
    lease = await api.get(f"{LEASE.collection_path()}/kube-controller-manager")
    assert lease is not None and lease["spec"]["holderIdentity"] == leader.identity
    assert cluster.scheduler is not None and cluster.scheduler.synced


async def test_kubeconfig_is_private_and_removed_on_stop() -> None:
    async with DemoCluster(speed=SPEED, nodes=1) as c:
        path = c.kubeconfig_path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        text = _read(path)
        assert c.server.url in text and CONTEXT in text
    assert not _exists(path)


async def test_explicit_kubeconfig_path_is_kept(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "kc.yaml")
    async with DemoCluster(speed=SPEED, nodes=0, kubeconfig_path=path) as c:
        assert c.kubeconfig_path == path
    assert _exists(path)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _exists(path: str) -> bool:
    return os.path.exists(path)


async def test_timestamps_are_simulated(cluster: DemoCluster) -> None:
    """The API server stamps objects with the demo clock, not the wall clock."""
    from kwatch.demo.clock import parse_time

    api = cluster.client("test")
    pod = await api.create(POD.collection_path(NS), _pod("stamp"))
    created = parse_time(pod["metadata"]["creationTimestamp"])
    assert created is not None and abs(created - cluster.clock.now()) < 3


def _pod(name: str, annotations: dict[str, str] | None = None) -> JSON:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name},
                         "annotations": annotations or {}},
            "spec": {"terminationGracePeriodSeconds": 5, "containers": [
                {"name": "app", "image": "nginx:1.27",
                 "ports": [{"name": "http", "containerPort": 8080}]}]}}


async def _running(api: KubeClient, name: str) -> JSON:
    async def probe() -> JSON | None:
        pod = await api.get(f"{POD.collection_path(NS)}/{name}")
        return pod if pod and (pod.get("status") or {}).get("podIP") and _ready(pod) else None

    return await eventually(probe)


def _backend(pod: JSON) -> Backend:
    return Backend(ip=pod["status"]["podIP"], node=pod["spec"]["nodeName"],
                   pod_uid=pod["metadata"]["uid"], pod_name=pod["metadata"]["name"])


async def test_probe_follows_the_app_lifecycle(cluster: DemoCluster) -> None:
    """refused while the app starts, ok once it listens, refused after SIGTERM,
    timeout once the pod and its IP are gone."""
    api = cluster.client("test")
    await api.create(POD.collection_path(NS), _pod("web", {
        "kwatch.dev/startup-seconds": "20", "kwatch.dev/shutdown-seconds": "20"}))
    backend = _backend(await _running(api, "web"))
    # No readinessProbe: Ready as soon as the container runs, long before it listens.
    assert cluster.probe(backend) == "refused"

    async def listening() -> bool:
        return cluster.probe(backend) == "ok"

    await eventually(listening)
    await api.delete(f"{POD.collection_path(NS)}/web")

    async def refused() -> bool:
        return cluster.probe(backend) == "refused"

    await eventually(refused)  # SIGTERM: the app stopped listening, the pod still exists

    async def gone() -> bool:
        return cluster.probe(backend) == "timeout"

    await eventually(gone, within=15)  # killed at the grace period, the pod deleted
    assert await api.get(f"{POD.collection_path(NS)}/web") is None


async def test_a_dead_node_times_out(cluster: DemoCluster) -> None:
    api = cluster.client("test")
    await api.create(POD.collection_path(NS), _pod("web", {"kwatch.dev/startup-seconds": "0"}))
    backend = _backend(await _running(api, "web"))

    async def ok() -> bool:
        return cluster.probe(backend) == "ok"

    await eventually(ok)
    kubelet = cluster.kubelets[backend.node]
    await kubelet.stop_heartbeats()
    assert cluster.probe(backend) == "timeout"
    await kubelet.resume_heartbeats()
    await eventually(ok)


async def test_unknown_endpoint_times_out(cluster: DemoCluster) -> None:
    assert cluster.probe(Backend("10.99.0.1", "node-1")) == "timeout"
    assert cluster.probe(Backend("10.99.0.1")) == "timeout"


async def test_traffic_is_available_and_idle(cluster: DemoCluster) -> None:
    assert not cluster.traffic.running
    assert cluster.traffic.counters().ok == 0


async def test_stop_is_idempotent_and_clients_are_closed() -> None:
    c = DemoCluster(speed=SPEED, nodes=1)
    await c.start()
    client = c.client("test")
    await c.stop()
    assert client.session.closed
    await c.stop()


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        DemoCluster(nodes=-1)
    with pytest.raises(ValueError):
        DemoCluster(controller_replicas=0)
