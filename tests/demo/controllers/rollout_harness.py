"""Harness for the deployment / replicaset / leader tests: a demo API server, controller
manager(s) and a tiny fake kubelet, all on one fast simulated clock, over real HTTP.

The fake kubelet stands in for the real kubelet simulator (someone else's module): it
binds each new pod to a node, marks it Running + Ready after `ready_delay` simulated
seconds (or never, when `ready=False`), and finishes graceful deletions after
`terminate_delay` — the minimum a controller test needs to see pods come and go.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, POD, REPLICASET, ResourceKind
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import ApiError, Informer, KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock
from kwatch.demo.controllers.base import Controller
from kwatch.demo.controllers.deployment import DeploymentController
from kwatch.demo.controllers.manager import ControllerManager
from kwatch.demo.controllers.replicaset import ReplicaSetController

NS = "default"
NODE = "node-1"


def labels(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def owner_uid(obj: JSON) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


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


class FakeKubelet:
    """Binds pods, makes them Ready, finishes their graceful deletion."""

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
        await self.client.create(f"{self._path(name)}/binding", {
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}})
        await self.clock.sleep(self.ready_delay)
        if self.ready:
            await self.make_ready(name)

    async def make_ready(self, name: str) -> None:
        now = self.clock.rfc3339()
        conds = [{"type": t, "status": "True", "lastTransitionTime": now}
                 for t in ("Initialized", "ContainersReady", "Ready")]
        await self.client.patch(f"{self._path(name)}/status", {"status": {
            "phase": "Running", "startTime": now, "podIP": "10.244.0.10", "hostIP": "10.0.0.1",
            "conditions": conds,
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                   "image": "nginx", "imageID": "", "started": True,
                                   "state": {"running": {"startedAt": now}}}],
        }}, "strategic")

    async def _finish_deletion(self, name: str, uid: str) -> None:
        await self.clock.sleep(self.terminate_delay)
        await self.client.delete(self._path(name), grace_period=0, uid=uid)


class Cluster:
    """`async with Cluster() as c:` — server, one controller manager, fake kubelet."""

    def __init__(
        self,
        *,
        speed: float = 40.0,
        controllers: Sequence[type[Controller]] = (DeploymentController,
                                                   ReplicaSetController),
        kubelet: bool = True,
        ready: bool = True,
        ready_delay: float = 1.0,
        terminate_delay: float = 1.0,
        managers: int = 1,
    ) -> None:
        self.clock = Clock(speed)
        self.server = DemoApiServer(tls=False, clock=self.clock.now)
        self.controller_classes = list(controllers)
        self.want_kubelet = kubelet
        self.ready = ready
        self.ready_delay = ready_delay
        self.terminate_delay = terminate_delay
        self.manager_count = managers
        self.managers: list[ControllerManager] = []
        self.kubelet: FakeKubelet | None = None

    async def __aenter__(self) -> Cluster:
        await self.server.start()
        self.server.add_nodes(1)
        self.client = client_from_kubeconfig(self.server.kubeconfig(), user_agent="kubectl/v1.35.0")
        for i in range(self.manager_count):
            mgr = ControllerManager(self.client, self.clock, self.controller_classes,
                                    identity=f"kcm-{i}_test")
            await mgr.start()
            self.managers.append(mgr)
            if i == 0:
                await asyncio.wait_for(mgr.wait_synced(), 5)
        if self.want_kubelet:
            self.kubelet = FakeKubelet(self.client, self.clock, ready=self.ready,
                                       ready_delay=self.ready_delay,
                                       terminate_delay=self.terminate_delay)
            self.kubelet.start()
            await asyncio.wait_for(self.kubelet.informer.synced.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kubelet is not None:
            await self.kubelet.stop()
        for mgr in self.managers:
            await mgr.stop()
        await self.client.session.close()
        await self.server.stop()

    # -- API shortcuts ------------------------------------------------------------------

    async def create_deployment(self, body: JSON) -> JSON:
        return await self.client.create(DEPLOYMENT.collection_path(NS), body)

    async def patch_deployment(self, name: str, patch: Any) -> JSON:
        return await self.client.patch(f"{DEPLOYMENT.collection_path(NS)}/{name}", patch,
                                       "strategic")

    async def get_deployment(self, name: str) -> JSON:
        d = await self.client.get(f"{DEPLOYMENT.collection_path(NS)}/{name}")
        assert d is not None
        return d

    async def replicasets(self, app: str | None = None) -> list[JSON]:
        items, _ = await self.client.list(REPLICASET.collection_path(NS),
                                          label_selector=f"app={app}" if app else None)
        return items

    async def pods(self, app: str | None = None) -> list[JSON]:
        items, _ = await self.client.list(POD.collection_path(NS),
                                          label_selector=f"app={app}" if app else None)
        return items

    async def events(self, reason: str | None = None) -> list[JSON]:
        items, _ = await self.client.list("/apis/events.k8s.io/v1/namespaces/default/events")
        return [e for e in items if reason is None or e.get("reason") == reason]


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 5.0, interval: float = 0.02
) -> None:
    """Poll `check` until true, or fail after `within` wall seconds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


def condition(obj: JSON, type_: str) -> JSON | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


async def deployment_complete(c: Cluster, name: str) -> bool:
    d = await c.get_deployment(name)
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
