"""Node failure, step by step: silence → Unknown → NotReady pods → taints → eviction.

The test plays the kubelets: it renews node Leases (heartbeats) for the nodes it keeps
alive and posts node status when a kubelet "comes back".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from lab_cluster import Cluster, pod_manifest, pod_status, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, NODE, POD
from kwatch.demo.clock import parse_time
from kwatch.demo.controllers.nodelifecycle import NODE_LEASE, NodeLifecycleController
from kwatch.demo.controllers.tainteviction import TaintEvictionController

SPEED = 50.0  # the 50 s grace period takes one wall second


class Kubelets:
    """Heartbeats (Lease renewals every 10 simulated seconds) for the nodes in `alive`."""

    def __init__(self, c: Cluster, nodes: list[str]) -> None:
        self.c = c
        self.alive = set(nodes)
        self.nodes = nodes

    async def start(self) -> None:
        for node in self.nodes:
            await self.c.create(NODE_LEASE, {
                "metadata": {"name": node},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                         "renewTime": self.c.clock.rfc3339_micro()},
            }, ns="kube-node-lease")

    async def run(self) -> None:
        while True:
            for node in sorted(self.alive):
                await self.c.api.patch(
                    f"{NODE_LEASE.collection_path('kube-node-lease')}/{node}",
                    {"spec": {"renewTime": self.c.clock.rfc3339_micro()}})
            await self.c.clock.sleep(10)

    async def post_ready(self, node: str, status: str = "True") -> None:
        """A kubelet posting its status: fresh heartbeat, Ready as given."""
        now = self.c.clock.rfc3339()
        reason = "KubeletReady" if status == "True" else "KubeletNotReady"
        conditions = [
            {"type": t, "status": "False", "reason": f"KubeletHasNo{t}", "message": "",
             "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ]
        conditions.append({"type": "Ready", "status": status, "reason": reason,
                           "message": "kubelet is posting status", "lastHeartbeatTime": now,
                           "lastTransitionTime": now})
        await self.c.api.patch(f"/api/v1/nodes/{node}/status",
                               {"status": {"conditions": conditions}}, "strategic")


@contextlib.asynccontextmanager
async def kubelets(c: Cluster, nodes: list[str]) -> AsyncIterator[Kubelets]:
    k = Kubelets(c, nodes)
    await k.start()
    task = asyncio.create_task(k.run())
    try:
        yield k
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def tolerating(seconds: int | None) -> list[JSON]:
    tol: list[JSON] = []
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        t: JSON = {"key": key, "operator": "Exists", "effect": "NoExecute"}
        if seconds is not None:
            t["tolerationSeconds"] = seconds
        tol.append(t)
    return tol


async def running_pod(c: Cluster, name: str, node: str, ip: str,
                      tolerations: list[JSON] | None = None) -> None:
    manifest = pod_manifest(name, {"app": "web"}, node=node)
    if tolerations is not None:
        manifest["spec"]["tolerations"] = tolerations
    await c.create(POD, manifest)
    await c.set_pod_status(name, pod_status(ready=True, ip=ip))


async def node(c: Cluster, name: str) -> JSON:
    obj = await c.get(NODE, name)
    assert obj is not None
    return obj


def condition(obj: JSON, type_: str) -> JSON:
    return next(x for x in obj["status"]["conditions"] if x["type"] == type_)


def taints(obj: JSON) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in obj["spec"].get("taints") or []}


async def deleted_at(c: Cluster, name: str) -> float | None:
    pod = await c.get(POD, name)
    return c.clock.now() if pod is not None and pod["metadata"].get("deletionTimestamp") else None


async def events(c: Cluster, reason: str) -> list[JSON]:
    return [e for e in await c.list(EVENT, ns=None) if e["reason"] == reason]


UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


async def test_silent_node_goes_unknown_then_taints_and_evictions_follow() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(2)
        async with kubelets(c, ["node-1", "node-2"]) as k:
            await running_pod(c, "quick", "node-2", "10.244.2.2", tolerating(0))
            await running_pod(c, "web", "node-2", "10.244.2.3", tolerating(20))
            await running_pod(c, "patient", "node-2", "10.244.2.4")  # admission's 300 s
            await running_pod(c, "elsewhere", "node-1", "10.244.1.2", tolerating(0))
            await c.start(NodeLifecycleController)
            await c.start(TaintEvictionController)
            await asyncio.sleep(0.2)
            assert condition(await node(c, "node-2"), "Ready")["status"] == "True"

            stopped = c.clock.now()
            k.alive.discard("node-2")  # its kubelet dies

            async def unknown() -> JSON | None:
                n = await node(c, "node-2")
                return n if condition(n, "Ready")["status"] == "Unknown" else None
            n2 = await wait_for(unknown, within=4, what="node-2 Ready=Unknown")
            silent = c.clock.now() - stopped
            assert 40 <= silent <= 75, f"went Unknown after {silent:.0f}s, grace is 50s"
            ready = condition(n2, "Ready")
            assert (ready["reason"], ready["message"]) == (
                "NodeStatusUnknown", "Kubelet stopped posting node status.")
            for t in ("MemoryPressure", "DiskPressure", "PIDPressure"):
                assert condition(n2, t)["status"] == "Unknown"
            assert condition(await node(c, "node-1"), "Ready")["status"] == "True"

            # Its pods stop being Ready: that is what takes them out of endpoints.
            async def not_ready() -> bool:
                pod = await c.get(POD, "patient")
                assert pod is not None
                return bool(condition(pod, "Ready")["status"] == "False")
            await wait_for(not_ready, within=2, what="patient NotReady")

            async def tainted() -> JSON | None:
                n = await node(c, "node-2")
                want = {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}
                return n if want <= taints(n) else None
            n2 = await wait_for(tainted, within=2, what="unreachable taints")
            assert (NOT_READY, "NoExecute") not in taints(n2)
            noexec = next(t for t in n2["spec"]["taints"] if t["effect"] == "NoExecute")
            assert parse_time(noexec["timeAdded"]) is not None

            # tolerationSeconds 0: evicted at once; 20: twenty seconds later; 300: not yet.
            quick_at = await wait_for(lambda: deleted_at(c, "quick"), within=2,
                                        what="quick evicted")
            web_at = await wait_for(lambda: deleted_at(c, "web"), within=3,
                                      what="web evicted")
            assert 12 <= web_at - quick_at <= 35, f"web evicted {web_at - quick_at:.0f}s later"
            quick = await c.get(POD, "quick")
            assert quick is not None, "graceful delete on a dead node: stays Terminating"
            assert condition(quick, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
            for untouched in ("patient", "elsewhere"):
                pod = await c.get(POD, untouched)
                assert pod is not None and not pod["metadata"].get("deletionTimestamp")

            notes = {e["note"] for e in await events(c, "TaintManagerEviction")}
            assert {"Marking for deletion Pod default/quick",
                    "Marking for deletion Pod default/web"} <= notes
            assert any(e["note"] == "Node node-2 status is now: NodeNotReady"
                       and e["regarding"]["name"] == "node-2"
                       and e["reportingController"] == "node-controller"
                       for e in await events(c, "NodeNotReady"))

            # The kubelet comes back: taints go, the pending eviction is cancelled.
            k.alive.add("node-2")
            await k.post_ready("node-2")

            async def untainted() -> bool:
                keys = {key for key, _ in taints(await node(c, "node-2"))}
                return not keys & {UNREACHABLE, NOT_READY}
            await wait_for(untainted, within=2, what="taints removed")
            await asyncio.sleep(0.1)

            async def cancelled() -> bool:
                notes = {e["note"] for e in await events(c, "TaintManagerEviction")}
                return "Cancelling deletion of Pod default/patient" in notes
            await wait_for(cancelled, within=2, what="eviction of patient cancelled")
            pod = await c.get(POD, "patient")
            assert pod is not None and not pod["metadata"].get("deletionTimestamp")


async def test_kubelet_reported_not_ready_and_the_new_node_taint() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(2)
        # A kubelet registers its node with the not-ready:NoSchedule taint.
        await c.api.patch("/api/v1/nodes/node-2", {"spec": {"taints": [
            {"key": NOT_READY, "effect": "NoSchedule"}]}})
        async with kubelets(c, ["node-1", "node-2"]) as k:
            await running_pod(c, "web", "node-1", "10.244.1.2")
            await c.start(NodeLifecycleController)

            async def schedulable() -> bool:
                return not taints(await node(c, "node-2"))
            await wait_for(schedulable, within=2, what="initial taint removed (Ready=True)")

            await k.post_ready("node-1", "False")  # alive, but reporting NotReady

            async def not_ready_tainted() -> bool:
                return {(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")} <= taints(
                    await node(c, "node-1"))
            await wait_for(not_ready_tainted, within=2, what="not-ready taints")
            assert not {key for key, _ in taints(await node(c, "node-1"))} & {UNREACHABLE}
            pod = await c.get(POD, "web")
            assert pod is not None and condition(pod, "Ready")["status"] == "False"

            await k.post_ready("node-1", "True")

            async def clean() -> bool:
                return not taints(await node(c, "node-1"))
            await wait_for(clean, within=2, what="taints removed")


async def test_all_nodes_silent_means_no_noexecute_taints() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(2)
        await c.start(NodeLifecycleController)

        async def both_unreachable() -> bool:
            found = [taints(await node(c, n)) for n in ("node-1", "node-2")]
            return all((UNREACHABLE, "NoSchedule") in t for t in found)
        await wait_for(both_unreachable, within=4, what="both nodes Unknown")
        await asyncio.sleep(0.5)  # 25 simulated seconds: several monitor passes
        for n in ("node-1", "node-2"):
            # Every zone is down: the controller blames its own network, evicts nothing.
            assert (UNREACHABLE, "NoExecute") not in taints(await node(c, n))
