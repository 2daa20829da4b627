"""Fake Nodes for a kubelet-less control plane: register Nodes and keep them Ready.

Each node gets what the node lifecycle controller and the scheduler look at:
Ready=True and pressure conditions False, addresses, capacity/allocatable and
nodeInfo, plus a Lease in ``kube-node-lease`` renewed on every heartbeat. New
Nodes carry the ``node.kubernetes.io/not-ready:NoSchedule`` taint until
kube-controller-manager's node lifecycle controller sees them Ready and removes
it; :meth:`FakeNodes.wait_schedulable` waits for that.

No containers ever run: pods bound to these nodes stay Pending. (The kubelet
simulator that makes them run is a separate component.)
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as _dt
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiohttp
import orjson
import yaml

from kwatch.testing.controlplane import PINNED_K8S_VERSION

__all__ = [
    "FakeNodes",
    "FakeNodesThread",
    "lease_manifest",
    "node_manifest",
    "ssl_context_from_kubeconfig",
]

NOT_READY_TAINT: Final = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT: Final = "node.kubernetes.io/unreachable"
KUBELET_VERSION: Final = PINNED_K8S_VERSION


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _time(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ssl_context_from_kubeconfig(path: Path, context: str | None = None) -> ssl.SSLContext:
    """An SSL context from a kubeconfig using client certificates (data or files)."""
    cfg: dict[str, Any] = yaml.safe_load(path.read_text())
    ctx_name = context or cfg["current-context"]
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])

    def material(key: str) -> bytes:
        if f"{key}-data" in cluster or f"{key}-data" in user:
            src = cluster if f"{key}-data" in cluster else user
            return base64.b64decode(src[f"{key}-data"])
        src = cluster if key in cluster else user
        return Path(src[key]).read_bytes()

    sslctx = ssl.create_default_context(cadata=material("certificate-authority").decode())
    with tempfile.TemporaryDirectory(prefix="kwatch-kc-") as tmp:
        crt, key = Path(tmp) / "c.crt", Path(tmp) / "c.key"
        crt.write_bytes(material("client-certificate"))
        key.touch(mode=0o600)
        key.write_bytes(material("client-key"))
        sslctx.load_cert_chain(str(crt), str(key))
    return sslctx


def node_manifest(
    name: str,
    ip: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """A Node as a kubelet would register it (status included; the API stores
    status on create, so the node is Ready from its first version)."""
    t = _time(now or _now())
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kwatch.dev/fake-node": "true",
                **(labels or {}),
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "conditions": _conditions(t, t),
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources,
            "allocatable": resources,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
                "kernelVersion": "6.1.0-kwatch",
                "osImage": "kwatch fake node",
                "containerRuntimeVersion": "fake://1.0.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _conditions(heartbeat: str, transition: str) -> list[dict[str, str]]:
    def cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition,
        }

    return [
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "fake node"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "fake node"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "fake node"),
        cond("Ready", "True", "KubeletReady", "fake node is posting ready status"),
    ]


def lease_manifest(node: str, node_uid: str | None, *, duration: int = 40) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": node, "namespace": "kube-node-lease"}
    if node_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration,
            "renewTime": _micro_time(_now()),
        },
    }


class FakeNodes:
    """Registers *names* as Nodes and heartbeats them (status + Lease).

    Use ``async with FakeNodes(...) as nodes: await nodes.register(); ...`` and
    either call :meth:`heartbeat_once` yourself or :meth:`run` until cancelled.
    """

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        names: Sequence[str],
        *,
        heartbeat: float = 10.0,
        ip_base: str = "172.30.0.",
    ) -> None:
        self.server = server.rstrip("/")
        self.ssl_context = ssl_context
        self.names = list(names)
        self.heartbeat = heartbeat
        self.ips = {n: f"{ip_base}{10 + i}" for i, n in enumerate(self.names)}
        self.uids: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._transition = _time(_now())

    async def __aenter__(self) -> FakeNodes:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl_context),
            timeout=aiohttp.ClientTimeout(total=15),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (200, 201),
    ) -> tuple[int, Any]:
        if self._session is None:
            raise RuntimeError("use FakeNodes as an async context manager")
        data = orjson.dumps(body) if body is not None else None
        headers = {"Accept": "application/json", "Content-Type": content_type}
        async with self._session.request(
            method, self.server + path, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            payload = orjson.loads(raw) if raw else None
            if resp.status not in ok:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {payload}")
            return resp.status, payload

    async def register(self) -> None:
        """Create the Nodes (or adopt existing ones) and their Leases."""
        for name in self.names:
            status, node = await self._call(
                "POST", "/api/v1/nodes", node_manifest(name, self.ips[name]), ok=(201, 409)
            )
            if status == 409:
                _, node = await self._call("GET", f"/api/v1/nodes/{name}")
            self.uids[name] = node["metadata"]["uid"]
        await self.heartbeat_once()

    async def heartbeat_once(self) -> None:
        """Post Ready status and renew the Lease of every node, like a kubelet."""
        now = _now()
        beat = _time(now)
        for name in self.names:
            await self._call(
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                {"status": {"conditions": _conditions(beat, self._transition)}},
                content_type="application/strategic-merge-patch+json",
            )
            lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
            status, _ = await self._call(
                "PATCH",
                lease_path,
                {"spec": {"holderIdentity": name, "renewTime": _micro_time(now)}},
                content_type="application/merge-patch+json",
                ok=(200, 404),
            )
            if status == 404:
                await self._call(
                    "POST",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    lease_manifest(name, self.uids.get(name)),
                    ok=(201, 409),
                )

    async def schedulable(self) -> bool:
        """True when every node is Ready and has no not-ready/unreachable taint."""
        for name in self.names:
            _, node = await self._call("GET", f"/api/v1/nodes/{name}")
            taints = node.get("spec", {}).get("taints") or []
            if any(t.get("key") in (NOT_READY_TAINT, UNREACHABLE_TAINT) for t in taints):
                return False
            conds = node.get("status", {}).get("conditions") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return False
        return True

    async def wait_schedulable(self, within: float = 60.0) -> None:
        """Wait until :meth:`schedulable` (the node lifecycle controller removed the
        not-ready taint); TimeoutError after *within* seconds."""
        deadline = time.monotonic() + within
        while not await self.schedulable():
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake nodes not schedulable after {within}s")
            await asyncio.sleep(0.25)

    async def run(self) -> None:
        """Heartbeat forever (until cancelled). Errors are retried at the next beat."""
        while True:
            await asyncio.sleep(self.heartbeat)
            with contextlib.suppress(aiohttp.ClientError, RuntimeError, TimeoutError):
                await self.heartbeat_once()


class FakeNodesThread:
    """Runs :class:`FakeNodes` in a background event loop thread, for sync callers
    (e.g. a session-scoped pytest fixture)."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        names: Sequence[str],
        *,
        heartbeat: float = 10.0,
    ) -> None:
        self.nodes = FakeNodes(server, ssl_context, names, heartbeat=heartbeat)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kwatch-fake-nodes", daemon=True
        )
        self._task: concurrent.futures.Future[None] | None = None

    def start(self, wait_schedulable: float | None = 120.0) -> FakeNodesThread:
        """Register the nodes, start heartbeating, and (by default) wait until the
        node lifecycle controller has made them schedulable."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.nodes.__aenter__(), self._loop).result(30)
            asyncio.run_coroutine_threadsafe(self.nodes.register(), self._loop).result(60)
            self._task = asyncio.run_coroutine_threadsafe(self.nodes.run(), self._loop)
            if wait_schedulable:
                fut = asyncio.run_coroutine_threadsafe(
                    self.nodes.wait_schedulable(wait_schedulable), self._loop
                )
                fut.result(wait_schedulable + 10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop heartbeating (the Nodes stay; they go NotReady after the grace period)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                self._task.result(5)
            self._task = None
        if self._thread.is_alive():
            with contextlib.suppress(BaseException):
                asyncio.run_coroutine_threadsafe(
                    self.nodes.__aexit__(None, None, None), self._loop
                ).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> FakeNodesThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
