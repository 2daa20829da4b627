"""podgc: orphans of deleted nodes, excess terminated pods, out-of-service nodes."""

from __future__ import annotations

import asyncio

from lab_cluster import Cluster, pod_manifest, pod_status, wait_for

from kwatch.core.kinds import POD
from kwatch.demo.controllers.podgc import PodGCController

SPEED = 50.0  # 20 s gc period + 40 s quarantine ≈ 1.2 wall seconds


async def running(c: Cluster, name: str, node: str) -> None:
    await c.create(POD, pod_manifest(name, {"app": "web"}, node=node))
    await c.set_pod_status(name, pod_status(ready=True, ip=f"10.244.0.{len(name) + 2}"))


async def names(c: Cluster) -> set[str]:
    return {p["metadata"]["name"] for p in await c.list(POD)}


async def test_pods_of_a_deleted_node_are_force_deleted_after_quarantine() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(2)
        await running(c, "a", "node-1")
        await running(c, "b", "node-2")
        await running(c, "c", "node-2")
        await c.delete_pod("c")  # graceful: stuck Terminating, its kubelet is gone
        await c.start(PodGCController)
        await asyncio.sleep(0.2)
        assert await names(c) == {"a", "b", "c"}

        deleted = c.clock.now()
        await c.api.delete("/api/v1/nodes/node-2")

        async def orphans_gone() -> set[str] | None:
            left = await names(c)
            return left if left == {"a"} else None
        await wait_for(orphans_gone, within=3, what="pods of node-2 gone")
        waited = c.clock.now() - deleted
        assert waited >= 40, f"deleted after {waited:.0f}s; the quarantine is 40s"


async def test_terminated_pods_beyond_the_threshold_go_oldest_first() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(1)
        for i in range(5):
            await c.create(POD, pod_manifest(f"job-{i}", {"app": "job"}, node="node-1"))
            await c.set_pod_status(f"job-{i}", pod_status(ready=False, ip="10.244.1.9",
                                                          phase="Succeeded"))
            await c.clock.sleep(2)  # distinct creation timestamps
        await running(c, "live", "node-1")
        await c.start(PodGCController, terminated_pod_threshold=2)

        async def trimmed() -> set[str] | None:
            left = await names(c)
            return left if len(left) == 3 else None
        assert await wait_for(trimmed, what="3 pods left") == {"job-3", "job-4", "live"}


async def test_terminating_pods_on_an_out_of_service_node_are_force_deleted() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(2)
        await running(c, "stuck", "node-1")
        await running(c, "fine", "node-2")
        await c.delete_pod("stuck")
        await c.delete_pod("fine")
        await c.start(PodGCController)
        await asyncio.sleep(0.5)
        assert await names(c) == {"stuck", "fine"}, "no out-of-service taint: left alone"
        # The operator confirms node-1 is down: NotReady and tainted out-of-service.
        await c.api.patch("/api/v1/nodes/node-1/status", {"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}}, "strategic")
        await c.api.patch("/api/v1/nodes/node-1", {"spec": {"taints": [
            {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown",
             "effect": "NoExecute"}]}})

        async def gone() -> set[str] | None:
            left = await names(c)
            return left if left == {"fine"} else None
        await wait_for(gone, within=3, what="stuck pod force-deleted")
