"""A kubelet-less demo cluster for controller tests: API server + chosen controllers.

Tests play the kubelet themselves (patching `pods/{name}/status`) so every transition
happens exactly when the test says, over real HTTP against the embedded API server. The
server and the controllers share one fast Clock, so "50 s grace period" takes a
fraction of a second of wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from kwatch.core.events import JSON
from kwatch.core.kinds import ResourceKind
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock
from kwatch.demo.controllers.base import USER_AGENT, Controller

T = TypeVar("T")
C = TypeVar("C", bound=Controller)


def pod_status(*, ready: bool, ip: str | None, phase: str = "Running",
               now: str = "2025-01-01T00:00:00Z") -> JSON:
    """What a kubelet reports for a running pod (Ready or not)."""
    flag = "True" if ready else "False"
    status: JSON = {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ],
        "startTime": now,
    }
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return status


def pod_manifest(name: str, labels: dict[str, str], *, node: str | None = None,
                 ports: list[JSON] | None = None) -> JSON:
    spec: JSON = {"containers": [{"name": "app", "image": "nginx:1.27",
                                  "ports": ports or [{"name": "http", "containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


class Cluster:
    def __init__(self, speed: float = 20.0) -> None:
        self.clock = Clock(speed)
        self.server = DemoApiServer(clock=self.clock)
        self.controllers: list[tuple[Controller, asyncio.Task[None]]] = []
        self._clients: list[KubeClient] = []

    async def __aenter__(self) -> Cluster:
        await self.server.start()
        self.api = self.new_client("kubectl/v1.35.0 (linux/amd64) kubernetes/test")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for ctrl, task in self.controllers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ctrl.stop(), 2.0)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for client in self._clients:
            await client.session.close()
        await self.server.stop()

    def new_client(self, user_agent: str) -> KubeClient:
        client = client_from_kubeconfig(self.server.kubeconfig(), user_agent=user_agent)
        self._clients.append(client)
        return client

    async def start(self, cls: type[C], **kwargs: Any) -> C:
        """Run controller `cls` as kube-controller-manager would, once its caches sync."""
        ctrl = cls(self.new_client(USER_AGENT), self.clock, **kwargs)
        task = asyncio.create_task(ctrl.run(), name=f"test-{cls.name}")
        self.controllers.append((ctrl, task))
        await asyncio.wait_for(ctrl.synced.wait(), 5.0)
        return ctrl

    # -- API shorthands ---------------------------------------------------------------

    async def create(self, kind: ResourceKind, obj: JSON, ns: str | None = "default") -> JSON:
        return await self.api.create(kind.collection_path(ns if kind.namespaced else None), obj)

    async def get(self, kind: ResourceKind, name: str, ns: str = "default") -> JSON | None:
        path = kind.collection_path(ns if kind.namespaced else None)
        return await self.api.get(f"{path}/{name}")

    async def list(self, kind: ResourceKind, ns: str | None = "default",
                   label_selector: str | None = None) -> list[JSON]:
        items, _ = await self.api.list(kind.collection_path(ns), label_selector=label_selector)
        return items

    async def set_pod_status(self, name: str, status: JSON, ns: str = "default") -> JSON:
        return await self.api.patch(f"/api/v1/namespaces/{ns}/pods/{name}/status",
                                    {"status": status})

    async def delete_pod(self, name: str, ns: str = "default",
                         grace: int | None = None) -> JSON | None:
        return await self.api.delete(f"/api/v1/namespaces/{ns}/pods/{name}", grace_period=grace)

    async def wait_for(self, probe: Callable[[], Awaitable[T | None]], *, within: float = 5.0,
                       what: str = "condition") -> T:
        """Poll `probe` until it returns something truthy (`within` wall seconds)."""
        deadline = time.monotonic() + within
        last: T | None = None
        while time.monotonic() < deadline:
            last = await probe()
            if last:
                return last
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
