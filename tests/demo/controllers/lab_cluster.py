"""The controller tests' cluster: the embedded API server plus the controllers a test asks
for, on one fast simulated clock, over real HTTP.

Two ways to run controllers, for two kinds of test:

- `await c.start(SomeController)` runs one controller directly, once its caches sync —
  for tests that play scheduler and kubelet themselves (`bind`, `set_pod_status`) so
  every transition happens exactly when the test says;
- `Cluster(controllers=[...])` runs them inside `managers` controller managers with
  leader election on the kube-controller-manager Lease, as kube-controller-manager
  does — for rollout and failover tests. `kubelet=True` adds `FakeKubelet`, which plays
  scheduler and kubelet on its own so those tests only watch pods come and go.

The shared clock makes "a 50 s grace period" take a fraction of a second of wall time.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, POD, REPLICASET, ResourceKind
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import (
    ApiError,
    Informer,
    KubeClient,
    PatchType,
    client_from_kubeconfig,
)
from kwatch.demo.clock import Clock
from kwatch.demo.controllers.base import USER_AGENT, Controller
from kwatch.demo.controllers.deployment import DeploymentController
from kwatch.demo.controllers.manager import ControllerManager
from kwatch.demo.controllers.replicaset import ReplicaSetController

T = TypeVar("T")
C = TypeVar("C", bound=Controller)

NS = "default"
NODE = "node-1"  # where FakeKubelet binds every pod
ROLLOUT = (DeploymentController, ReplicaSetController)


# -- manifests and object helpers ----------------------------------------------------------


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


def deployment(
    name: str,
    replicas: int,
    image: str = "nginx:1.25",
    *,
    strategy: JSON | None = None,
    min_ready_seconds: int = 0,
    progress_deadline: int | None = None,
    revision_history_limit: int | None = None,
) -> JSON:
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}],
                     "terminationGracePeriodSeconds": 5},
        },
    }
    if strategy is not None:
        spec["strategy"] = strategy
    if min_ready_seconds:
        spec["minReadySeconds"] = min_ready_seconds
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    if revision_history_limit is not None:
        spec["revisionHistoryLimit"] = revision_history_limit
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def labels(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def owner_uid(obj: JSON) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def condition(obj: JSON, type_: str) -> JSON | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


async def wait_for(probe: Callable[[], Awaitable[T | None]], *, within: float = 5.0,
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


async def bind(client: KubeClient, name: str, node: str, ns: str = NS) -> None:
    """What the scheduler does: the pods/binding subresource."""
    await client.create(f"{POD.collection_path(ns)}/{name}/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}})


# -- the fake kubelet ------------------------------------------------------------------------


class FakeKubelet:
    """Binds pods, makes them Ready, finishes their graceful deletion.

    The minimum a rollout test needs to see pods come and go, without the kubelet
    simulator's probes and timings: Running + Ready `ready_delay` simulated seconds after
    the pod appears (never, with `ready=False`), gone `terminate_delay` after deletion.
    """

    def __init__(self, client: KubeClient, clock: Clock, *, ready: bool = True,
                 ready_delay: float = 1.0, terminate_delay: float = 1.0) -> None:
        self.client = client
        self.clock = clock
        self.ready = ready
        self.ready_delay = ready_delay
        self.terminate_delay = terminate_delay
        self.informer = Informer(client, POD, self._on_pod, namespace=NS)
        self._seen: set[str] = set()
        self._terminating: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(ApiError):
                await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is None:
            return
        meta = new["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            if uid not in self._terminating:
                self._terminating.add(uid)
                self._spawn(self._finish_deletion(meta["name"], uid))
            return
        if uid not in self._seen:
            self._seen.add(uid)
            self._spawn(self._start(meta["name"]))

    def _path(self, name: str) -> str:
        return f"{POD.collection_path(NS)}/{name}"

    async def _start(self, name: str) -> None:
        await bind(self.client, name, NODE)
        await self.clock.sleep(self.ready_delay)
        if self.ready:
            await self.make_ready(name)

    async def make_ready(self, name: str) -> None:
        status = pod_status(ready=True, ip="10.244.0.10", now=self.clock.rfc3339())
        status["hostIP"] = "10.0.0.1"
        status["containerStatuses"] = [{
            "name": "app", "ready": True, "restartCount": 0, "image": "nginx", "imageID": "",
            "started": True, "state": {"running": {"startedAt": status["startTime"]}}}]
        await self.client.patch(f"{self._path(name)}/status", {"status": status}, "strategic")

    async def _finish_deletion(self, name: str, uid: str) -> None:
        await self.clock.sleep(self.terminate_delay)
        await self.client.delete(self._path(name), grace_period=0, uid=uid)


# -- the cluster -----------------------------------------------------------------------------


class Cluster:
    """`async with Cluster(...) as c:` — see the module docstring for the options."""

    def __init__(
        self,
        speed: float = 20.0,
        *,
        controllers: Sequence[type[Controller]] = (),
        managers: int = 1,
        kubelet: bool = False,
        ready: bool = True,
        ready_delay: float = 1.0,
        terminate_delay: float = 1.0,
    ) -> None:
        self.clock = Clock(speed)
        self.server = DemoApiServer(clock=self.clock)
        self.controller_classes = list(controllers)
        # Managers only exist to run controllers: none asked for, none started.
        self.manager_count = managers if controllers else 0
        self.managers: list[ControllerManager] = []
        self.controllers: list[tuple[Controller, asyncio.Task[None]]] = []
        self.want_kubelet = kubelet
        self.ready = ready
        self.ready_delay = ready_delay
        self.terminate_delay = terminate_delay
        self.kubelet: FakeKubelet | None = None
        self._clients: list[KubeClient] = []

    async def __aenter__(self) -> Cluster:
        await self.server.start()
        # The user (kubectl) of the tests; controllers get their own clients.
        self.api = self.new_client("kubectl/v1.35.0 (linux/amd64) kubernetes/test")
        for i in range(self.manager_count):
            mgr = ControllerManager(self.new_client(USER_AGENT), self.clock,
                                    self.controller_classes, identity=f"kcm-{i}_test")
            await mgr.start()
            self.managers.append(mgr)
            if i == 0:
                await asyncio.wait_for(mgr.wait_synced(), 5)
        if self.want_kubelet:
            self.server.add_nodes(1)
            self.kubelet = FakeKubelet(
                self.new_client("kubelet/v1.35.0 (linux/amd64) kubernetes/test"), self.clock,
                ready=self.ready, ready_delay=self.ready_delay,
                terminate_delay=self.terminate_delay)
            self.kubelet.start()
            await asyncio.wait_for(self.kubelet.informer.synced.wait(), 5)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.kubelet is not None:
            await self.kubelet.stop()
        for mgr in self.managers:
            await mgr.stop()
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

    # -- API shorthands, as the user ------------------------------------------------------
    # (`list` below shadows the builtin in this class: annotations say builtins.list)

    async def create(self, kind: ResourceKind, obj: JSON, ns: str | None = NS) -> JSON:
        return await self.api.create(kind.collection_path(ns if kind.namespaced else None), obj)

    async def get(self, kind: ResourceKind, name: str, ns: str = NS) -> JSON | None:
        path = kind.collection_path(ns if kind.namespaced else None)
        return await self.api.get(f"{path}/{name}")

    async def must_get(self, kind: ResourceKind, name: str, ns: str = NS) -> JSON:
        obj = await self.get(kind, name, ns)
        assert obj is not None, f"{kind.kind} {name} not found"
        return obj

    async def patch(self, kind: ResourceKind, name: str, patch: Any, ns: str = NS,
                    patch_type: PatchType = "strategic") -> JSON:
        """`kubectl patch` (strategic merge by default, as kubectl)."""
        path = kind.collection_path(ns if kind.namespaced else None)
        return await self.api.patch(f"{path}/{name}", patch, patch_type)

    async def list(self, kind: ResourceKind, ns: str | None = NS,
                   label_selector: str | None = None) -> builtins.list[JSON]:
        items, _ = await self.api.list(kind.collection_path(ns), label_selector=label_selector)
        return items

    async def pods(self, app: str | None = None) -> builtins.list[JSON]:
        return await self.list(POD, label_selector=f"app={app}" if app else None)

    async def replicasets(self, app: str | None = None) -> builtins.list[JSON]:
        return await self.list(REPLICASET, label_selector=f"app={app}" if app else None)

    async def events(self, reason: str | None = None) -> builtins.list[JSON]:
        """events.k8s.io/v1 Events of the namespace (with `reason`)."""
        items, _ = await self.api.list(f"/apis/events.k8s.io/v1/namespaces/{NS}/events")
        return [e for e in items if reason is None or e.get("reason") == reason]

    async def bind(self, name: str, node: str, ns: str = NS) -> None:
        await bind(self.api, name, node, ns)

    async def set_pod_status(self, name: str, status: JSON, ns: str = NS) -> JSON:
        return await self.api.patch(f"{POD.collection_path(ns)}/{name}/status",
                                    {"status": status})

    async def delete_pod(self, name: str, ns: str = NS,
                         grace: int | None = None) -> JSON | None:
        return await self.api.delete(f"{POD.collection_path(ns)}/{name}", grace_period=grace)


async def deployment_complete(c: Cluster, name: str) -> bool:
    d = await c.must_get(DEPLOYMENT, name)
    s = d.get("status") or {}
    n = d["spec"]["replicas"]
    cond = condition(d, "Progressing") or {}
    return bool(
        s.get("observedGeneration") == d["metadata"]["generation"]
        and s.get("updatedReplicas", 0) == n and s.get("replicas", 0) == n
        and s.get("availableReplicas", 0) == n
        and cond.get("reason") == "NewReplicaSetAvailable"
    )


class History:
    """Every watch event of one kind, in order, for checking invariants afterwards."""

    def __init__(self, client: KubeClient, kind: ResourceKind) -> None:
        self.events: list[tuple[str, JSON]] = []
        self.informer = Informer(client, kind, self._on, namespace=NS)

    def _on(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        self.events.append((type_, obj))

    async def __aenter__(self) -> History:
        self.informer.start()
        await asyncio.wait_for(self.informer.synced.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
