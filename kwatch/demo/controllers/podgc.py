"""The pod garbage collector: force-deletes pods no kubelet will ever finish.

The last step of the node-failure story. A pod on a dead node stays Terminating forever
(only its kubelet could confirm the deletion), so kube-controller-manager's podgc
(pkg/controller/podgc) cleans up, every `gc_check_period` (20 s):

- orphaned pods: bound to a Node that no longer exists — after the node has been missing
  for `quarantine` (40 s) and an uncached GET confirms it is gone;
- terminated (Succeeded/Failed) pods beyond `terminated_pod_threshold` (12500), oldest
  first (evicted ones before others);
- terminating pods on a NotReady node tainted `node.kubernetes.io/out-of-service` (the
  operator's "this node is really down" signal);
- terminating pods that were never scheduled.

Each is first marked Failed (plus a DisruptionTarget condition for orphans), then deleted
with grace period 0 — the force delete that finally removes it from the API.
"""

from __future__ import annotations

import logging
from typing import Any

from kwatch.core.events import JSON
from kwatch.core.kinds import NODE, POD
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.controllers._objects import meta
from kwatch.demo.controllers.base import Controller, Recorder, register
from kwatch.demo.placement import TAINT_OUT_OF_SERVICE, node_ready_status

log = logging.getLogger(__name__)

GC_KEY = "gc"
# kube-controller-manager --terminated-pod-gc-threshold default.
TERMINATED_POD_THRESHOLD = 12500


def _is_terminated(pod: JSON) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _gc_order(pod: JSON) -> tuple[bool, str, str]:
    """Evicted pods first, then oldest first, then by name (byEvictionAndCreationTimestamp)."""
    status = pod.get("status") or {}
    evicted = status.get("phase") == "Failed" and status.get("reason") == "Evicted"
    return (not evicted, str(meta(pod).get("creationTimestamp") or ""),
            str(meta(pod).get("name") or ""))


@register
class PodGCController(Controller):
    name = "pod-garbage-collector"
    concurrent_syncs = 1

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        recorder: Recorder | None = None,
        *,
        gc_check_period: float = 20.0,
        quarantine: float = 40.0,
        terminated_pod_threshold: int = TERMINATED_POD_THRESHOLD,
    ) -> None:
        super().__init__(client, clock, recorder)
        self.gc_check_period = gc_check_period
        self.quarantine = quarantine
        self.terminated_pod_threshold = terminated_pod_threshold
        # Missing node → when it becomes due for a check (the real delaying queue).
        self._missing_since: dict[str, float] = {}

    def setup(self) -> None:
        self.pods = self.informer(POD, _ignore)
        self.nodes = self.informer(NODE, _ignore)
        self.enqueue(GC_KEY)

    async def reconcile(self, key: str) -> None:
        try:
            await self._gc()
        finally:
            self.enqueue_after(GC_KEY, self.gc_check_period)

    async def _gc(self) -> None:
        pods = list(self.pods.cache.values())
        if self.terminated_pod_threshold > 0:
            await self._gc_terminated(pods)
        await self._gc_terminating_out_of_service(pods)
        await self._gc_orphaned(pods)
        await self._gc_unscheduled_terminating(pods)

    async def _gc_terminated(self, pods: list[JSON]) -> None:
        terminated = sorted((p for p in pods if _is_terminated(p)), key=_gc_order)
        excess = len(terminated) - self.terminated_pod_threshold
        for pod in terminated[:max(0, excess)]:
            await self._force_delete(pod)

    async def _gc_terminating_out_of_service(self, pods: list[JSON]) -> None:
        for pod in pods:
            if not meta(pod).get("deletionTimestamp"):
                continue
            node = self.nodes.cache.get(str((pod.get("spec") or {}).get("nodeName") or ""))
            if node is None or node_ready_status(node) == "True":
                continue
            if any(t.get("key") == TAINT_OUT_OF_SERVICE
                   for t in (node.get("spec") or {}).get("taints") or []):
                await self._force_delete(pod)

    async def _gc_orphaned(self, pods: list[JSON]) -> None:
        now = self.clock.now()
        missing = {
            str((p.get("spec") or {}).get("nodeName"))
            for p in pods
            if (p.get("spec") or {}).get("nodeName")
            and (p.get("spec") or {}).get("nodeName") not in self.nodes.cache
        }
        for node in missing:
            self._missing_since.setdefault(node, now + self.quarantine)
        deleted: set[str] = set()
        for node, due in list(self._missing_since.items()):
            if due > now:
                continue
            del self._missing_since[node]
            if node in self.nodes.cache:
                continue
            # The cache may lag: only a fresh GET may declare the node gone.
            if await self.client.get(f"{NODE.collection_path()}/{node}") is None:
                deleted.add(node)
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in deleted:
                await self._force_delete(pod, {
                    "type": "DisruptionTarget", "status": "True",
                    "reason": "DeletionByPodGC", "message": "PodGC: node no longer exists",
                    "lastTransitionTime": self.clock.rfc3339(),
                })

    async def _gc_unscheduled_terminating(self, pods: list[JSON]) -> None:
        for pod in pods:
            if meta(pod).get("deletionTimestamp") and not (pod.get("spec") or {}).get(
                "nodeName"
            ):
                await self._force_delete(pod)

    async def _force_delete(self, pod: JSON, condition: JSON | None = None) -> None:
        """markFailedAndDeletePodWithCondition: phase Failed first (no kubelet will ever
        set it), then delete with grace period 0."""
        ns, name = str(meta(pod)["namespace"]), str(meta(pod)["name"])
        path = f"{POD.collection_path(ns)}/{name}"
        log.info("podgc: force deleting pod %s/%s", ns, name)
        try:
            if not _is_terminated(pod):
                status: JSON = {"phase": "Failed"}
                if condition is not None:
                    status["conditions"] = [condition]
                await self.client.patch(f"{path}/status", {"status": status}, "strategic")
            await self.client.delete(path, grace_period=0, uid=str(meta(pod).get("uid")))
        except ApiError as e:
            if e.code not in (404, 409):  # gone already, or replaced by a namesake
                raise


def _ignore(type_: str, old: Any, new: Any) -> None:
    """podgc polls its caches on a timer; it doesn't react to single events."""
    return None
