"""DemoCluster: a whole small Kubernetes cluster in one process, wired like a real one.

    async with DemoCluster(speed=10, nodes=3) as cluster:
        api = cluster.client("kubectl/v1.35.0 ...")

What runs, each as its own API client over HTTPS (its own connection pool, its own
User-Agent, so managedFields and Events name the right component):

- the in-memory API server, stamping objects with the demo clock, so at `--speed 4` a
  30 s grace period is 30 *simulated* seconds everywhere;
- two kube-controller-manager replicas doing leader election on the Lease
  `kube-system/kube-controller-manager`: one active, one standby (the notes' point that
  more replicas do not mean more throughput);
- the scheduler;
- one simulated kubelet per node (`node-1` … `node-N`), which registers its Node;
- the traffic simulator, idle until a scenario points it at a Service.

Start-up returns once the first replica leads with synced caches and every node is
Ready and schedulable, so a scenario's first pod never waits on cluster boot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable
from types import TracebackType

from kwatch.core.events import JSON
from kwatch.core.kinds import NODE
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock
from kwatch.demo.controllers.manager import ControllerManager, start_controller_manager
from kwatch.demo.kubelet import Kubelet
from kwatch.demo.scheduler import Scheduler
from kwatch.demo.traffic import (
    DEFAULT_PROPAGATION_DELAY,
    DEFAULT_RATE,
    INGRESS_USER_AGENT,
    Backend,
    Outcome,
    TrafficSimulator,
)

log = logging.getLogger(__name__)

CONTEXT = "kwatch-demo"
# What the cluster's own plumbing calls itself; scenarios act as kubectl (see scenarios).
_BOOT_USER_AGENT = "kwatch-demo-bootstrap/1.0"
READY_TIMEOUT = 30.0  # wall seconds for the whole cluster to come up


class DemoCluster:
    def __init__(
        self,
        *,
        speed: float = 1.0,
        nodes: int = 3,
        controller_replicas: int = 2,
        traffic_rate: float = DEFAULT_RATE,
        propagation_delay: float = DEFAULT_PROPAGATION_DELAY,
        heartbeat_interval: float = 10.0,
        port: int = 0,
        kubeconfig_path: str | None = None,
    ) -> None:
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        if controller_replicas < 1:
            raise ValueError("need at least one controller-manager replica")
        self.clock = Clock(speed)
        # The server reads the same clock: creation and deletion timestamps are simulated.
        self.server = DemoApiServer(port=port, clock=self.clock.now)
        self.node_count = nodes
        self.controller_replicas = controller_replicas
        self.heartbeat_interval = heartbeat_interval
        self._traffic_rate = traffic_rate
        self._propagation_delay = propagation_delay
        self._kubeconfig_path = kubeconfig_path
        self._own_dir: str | None = None
        self._clients: list[KubeClient] = []
        self.managers: list[ControllerManager] = []
        self.kubelets: dict[str, Kubelet] = {}
        self.scheduler: Scheduler | None = None
        self._traffic: TrafficSimulator | None = None
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> DemoCluster:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        await self.server.start()
        self._started = True
        self._write_kubeconfig()
        # The first replica campaigns alone, so it (controlplane-1) is the one leading;
        # the second joins as standby. Deterministic for narration and tests.
        for i in range(1, self.controller_replicas + 1):
            identity = f"controlplane-{i}_{uuid.uuid4()}"
            manager = await start_controller_manager(
                self.client("kube-controller-manager"), self.clock, identity=identity)
            self.managers.append(manager)
            if i == 1:
                await asyncio.wait_for(manager.wait_synced(), READY_TIMEOUT)
        self.scheduler = Scheduler(self.client("kube-scheduler"), self.clock)
        self.scheduler.start()
        for i in range(1, self.node_count + 1):
            name = f"node-{i}"
            kubelet = Kubelet(self.client("kubelet"), self.clock, name, pod_cidr_index=i,
                              heartbeat_interval=self.heartbeat_interval)
            kubelet.start()
            self.kubelets[name] = kubelet
        self._traffic = TrafficSimulator(self.client(INGRESS_USER_AGENT), self.clock,
                                         self.probe, rate=self._traffic_rate,
                                         propagation_delay=self._propagation_delay)
        await asyncio.wait_for(self._wait_ready(), READY_TIMEOUT)

    async def _wait_ready(self) -> None:
        for kubelet in self.kubelets.values():
            await kubelet.registered.wait()
        api = self.client(_BOOT_USER_AGENT)
        while True:
            nodes, _ = await api.list(NODE.collection_path())
            if len(nodes) >= self.node_count and all(_schedulable(n) for n in nodes):
                break
            await asyncio.sleep(0.02)
        if self.scheduler is not None:
            for informer in (self.scheduler.nodes, self.scheduler.pods, self.scheduler.pending):
                await informer.synced.wait()

    async def stop(self) -> None:
        """Tear down in reverse order; every part is stopped even if another fails."""
        if self._traffic is not None:
            await _quietly(self._traffic.stop())
        for kubelet in self.kubelets.values():
            await _quietly(kubelet.stop())
        if self.scheduler is not None:
            await _quietly(self.scheduler.stop())
        for manager in self.managers:
            await _quietly(manager.stop())
        for client in self._clients:
            await _quietly(client.session.close())
        self._clients.clear()
        if self._started:
            await _quietly(self.server.stop())
            self._started = False
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def _write_kubeconfig(self) -> None:
        path = self._kubeconfig_path
        if path is None:
            self._own_dir = tempfile.mkdtemp(prefix="kwatch-demo-")
            path = os.path.join(self._own_dir, "kubeconfig")
        self.server.write_kubeconfig(path, context=CONTEXT)
        self.kubeconfig_path = path

    # -- access --------------------------------------------------------------------------

    def client(self, user_agent: str) -> KubeClient:
        """A new API client with its own connection pool, closed when the cluster stops."""
        client = client_from_kubeconfig(self.server.kubeconfig(CONTEXT), user_agent=user_agent)
        self._clients.append(client)
        return client

    @property
    def traffic(self) -> TrafficSimulator:
        if self._traffic is None:
            raise RuntimeError("the cluster is not started")
        return self._traffic

    def leader(self) -> ControllerManager | None:
        """The controller-manager replica currently leading, if any."""
        return next((m for m in self.managers if m.is_leader), None)

    # -- the network, as the traffic simulator sees it -----------------------------------

    def probe(self, backend: Backend) -> Outcome:
        """What a connection to `backend` gets (see kwatch.demo.traffic)."""
        kubelet = self.kubelets.get(backend.node)
        candidates = [kubelet] if kubelet is not None else list(self.kubelets.values())
        for k in candidates:
            if not k.alive:
                continue  # a dead node answers nothing: packets are lost
            if k.listening(backend.ip):
                return "ok"
            if backend.pod_uid and k.pod_ip(backend.pod_uid) == backend.ip:
                return "refused"  # the pod's network exists, its port is closed: RST
        return "timeout"


def _schedulable(node: JSON) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    taints = (node.get("spec") or {}).get("taints") or []
    return ready and not any(t.get("effect") == "NoSchedule" for t in taints)


async def _quietly(aw: Awaitable[object]) -> None:
    """Await a shutdown step; log (don't raise) its failure so the others still run."""
    try:
        await aw
    except Exception:
        log.debug("demo cluster shutdown step failed", exc_info=True)


__all__ = ["CONTEXT", "DemoCluster"]
