"""A simulated kubelet's node side: Node registration, status heartbeat, node Lease.

What the node lifecycle controller and the scheduler read is what a real kubelet writes:
labels (``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``),
``spec.podCIDR(s)``, addresses (InternalIP, Hostname), capacity/allocatable, nodeInfo,
conditions Ready/MemoryPressure/DiskPressure/PIDPressure with lastHeartbeatTime and
lastTransitionTime (through ``nodes/status``), and a Lease ``kube-node-lease/<node>``
(holderIdentity the node, leaseDurationSeconds 40, owned by the Node) renewed every
heartbeat. Stopping the heartbeat is how a scenario makes a node "die": the Lease and
Ready heartbeat go stale and the control plane marks the node Unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from typing import Any

import aiohttp

from kwatch.core.events import JSON
from kwatch.core.kinds import LEASE, NODE
from kwatch.demo.client import ApiError
from kwatch.demo.events import reference
from kwatch.demo.kubelet_env import KubeletEnv, PodIPs
from kwatch.demo.nodeinfo import HEALTHY_CONDITIONS, node_info, os_labels

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
DEFAULT_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}

_OWN_TYPES = {c[0] for c in HEALTHY_CONDITIONS}


class NodeAgent:
    def __init__(
        self,
        env: KubeletEnv,
        *,
        pod_cidr: str,
        heartbeat_interval: float,
        capacity: dict[str, str],
        labels: dict[str, str],
        taints: list[JSON],
    ) -> None:
        self.env = env
        self.name = env.node_name
        self.pod_cidr = pod_cidr
        self.heartbeat_interval = heartbeat_interval
        self.capacity = capacity
        self.labels = {**os_labels(self.name), **labels}
        self.taints = taints
        self.node: JSON | None = None  # as last read from / written to the API
        self.lease: JSON | None = None
        self._boot_id = str(uuid.uuid4())  # a new boot per kubelet start
        self._task: asyncio.Task[None] | None = None

    # -- the objects ---------------------------------------------------------------------

    def _node_info(self) -> JSON:
        digest = hashlib.md5(self.name.encode(), usedforsecurity=False).hexdigest()
        return node_info(machine_id=digest, system_uuid=str(uuid.UUID(digest)),
                         boot_id=self._boot_id)

    def conditions(self) -> tuple[list[JSON], bool]:
        """Healthy conditions (heartbeat now) plus others' ones; and whether Ready flipped."""
        now = self.env.clock.rfc3339()
        existing = {c.get("type"): c for c in ((self.node or {}).get("status") or {}).get(
            "conditions") or []}
        out: list[JSON] = []
        became_ready = existing.get("Ready", {}).get("status") != "True"
        for type_, status, reason, message in HEALTHY_CONDITIONS:
            prev = existing.get(type_) or {}
            since = prev.get("lastTransitionTime") if prev.get("status") == status else None
            out.append({
                "type": type_, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": since or now,
            })
        out.extend(c for t, c in existing.items() if t not in _OWN_TYPES)
        return out, became_ready

    def status(self) -> JSON:
        conditions, _ = self.conditions()
        return {
            "capacity": dict(self.capacity),
            "allocatable": dict(self.env.allocatable),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": self.env.host_ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": self._node_info(),
        }

    def node_object(self) -> JSON:
        spec: JSON = {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}
        if self.taints:
            spec["taints"] = list(self.taints)
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": dict(self.labels),
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
            # No conditions yet: like the real kubelet, the first status update sets
            # Ready, which is when "NodeReady" is reported.
            "status": {k: v for k, v in self.status().items() if k != "conditions"},
        }

    @property
    def path(self) -> str:
        return f"{NODE.collection_path()}/{self.name}"

    # -- registration --------------------------------------------------------------------

    async def register(self, *, create: bool) -> None:
        """Create the Node (or adopt an existing one), then post its full status."""
        client = self.env.client
        if create:
            try:
                self.node = await client.create(NODE.collection_path(), self.node_object())
            except ApiError as e:
                if e.code != 409:
                    raise
        while self.node is None:
            self.node = await client.get(self.path)
            if self.node is None:
                await self.env.clock.sleep(1.0)  # someone else registers it
        await self._reconcile_spec()
        self._node_events()
        await self._patch_status(full=True)

    async def _reconcile_spec(self) -> None:
        assert self.node is not None
        spec = self.node.get("spec") or {}
        labels = self.node["metadata"].get("labels") or {}
        patch: JSON = {}
        if spec.get("podCIDR"):
            if spec["podCIDR"] != self.pod_cidr:
                # The node already has a range (IPAM controller or an earlier kubelet).
                self.pod_cidr = str(spec["podCIDR"])
                self.env.ips = PodIPs(self.pod_cidr)
        else:
            patch["spec"] = {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}
        missing = {k: v for k, v in self.labels.items() if k not in labels}
        if missing:
            patch["metadata"] = {"labels": missing}
        if patch:
            self.node = await self.env.client.patch(self.path, patch)

    def _node_events(self) -> None:
        assert self.node is not None
        ref = reference(self.node, NODE)
        self.env.event(ref, "Normal", "Starting", "StartKubelet", "Starting kubelet.")
        for reason in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                       "NodeHasSufficientPID"):
            self.env.event(ref, "Normal", reason, "NodeStatusUpdate",
                           f"Node {self.name} status is now: {reason}")

    async def _patch_status(self, *, full: bool) -> None:
        """Post conditions (all of the status if `full`) with optimistic concurrency."""
        client = self.env.client
        for _ in range(5):
            assert self.node is not None
            conditions, became_ready = self.conditions()
            status: JSON = self.status() if full else {}
            status["conditions"] = conditions
            body: JSON = {
                "metadata": {"resourceVersion": self.node["metadata"].get("resourceVersion")},
                "status": status,
            }
            try:
                self.node = await client.patch(f"{self.path}/status", body)
            except ApiError as e:
                if e.code != 409:
                    raise
                self.node = await client.get(self.path) or self.node
                continue
            if became_ready:
                self.env.event(reference(self.node, NODE), "Normal", "NodeReady",
                               "NodeStatusUpdate", f"Node {self.name} status is now: NodeReady")
            return

    # -- lease ---------------------------------------------------------------------------

    def _lease_object(self) -> JSON:
        assert self.node is not None
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": NODE_LEASE_NAMESPACE,
                # Owned by the Node: deleting the Node garbage-collects its Lease.
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": self.name,
                    "uid": self.node["metadata"].get("uid", ""),
                }],
            },
            "spec": self._lease_spec(),
        }

    def _lease_spec(self) -> JSON:
        return {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": self.env.clock.rfc3339_micro(),
        }

    async def renew_lease(self) -> None:
        client = self.env.client
        collection = LEASE.collection_path(NODE_LEASE_NAMESPACE)
        path = f"{collection}/{self.name}"
        for _ in range(3):
            if self.lease is None:
                try:
                    self.lease = await client.create(collection, self._lease_object())
                    return
                except ApiError as e:
                    if e.code != 409:
                        raise
                    self.lease = await client.get(path)
                    continue
            body: Any = {**self.lease, "spec": {**(self.lease.get("spec") or {}),
                                                **self._lease_spec()}}
            try:
                self.lease = await client.update(path, body)
                return
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
                self.lease = await client.get(path) if e.code == 409 else None

    # -- heartbeats ----------------------------------------------------------------------

    async def heartbeat(self) -> None:
        await self._patch_status(full=False)
        await self.renew_lease()

    async def _beat(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except (ApiError, aiohttp.ClientError, TimeoutError) as e:
                log.debug("kubelet %s: heartbeat: %r", self.name, e)
            await self.env.clock.sleep(self.heartbeat_interval)

    @property
    def beating(self) -> bool:
        return self._task is not None and not self._task.done()

    def start_heartbeats(self) -> None:
        if not self.beating:
            self._task = asyncio.create_task(self._beat(), name=f"heartbeat-{self.name}")

    async def stop_heartbeats(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
