"""RealCluster: the demo cluster's interface over a *real* control plane.

`DemoCluster` runs everything in-process; `RealCluster` keeps only the parts a real
cluster has no binary for here — one simulated kubelet per node (kwatch.demo.kubelet,
registering real Nodes and Leases, each with its own ``system:node:<name>`` client
certificate, so the Node authorizer and NodeRestriction admission judge it like a real
kubelet) and the traffic simulator — and lets the real kube-apiserver,
kube-controller-manager (deployment, replicaset, statefulset, daemonset, endpointslice,
node lifecycle, taint eviction, podgc …) and kube-scheduler do the rest.

    with ControlPlane() as plane:
        async with RealCluster(plane, nodes=3) as cluster:
            view = await cluster.scenario_view("lab")   # a namespace + its own traffic
            await SCENARIOS["create-deployment"].run(ScenarioContext(view, print, "lab"))

A scenario script only touches what `DemoCluster` offers it: ``clock``, ``client()``,
``kubelets``, ``traffic``, ``leader()`` / ``managers``. `ScenarioCluster` offers the
same over one RealCluster, with a traffic simulator of its own, so several scenarios
can play at once in different namespaces.

kube-controller-manager replicas (for controller-failover) are processes: the control
plane's own one plus ``extra_controller_managers`` started from its recorded command
line. Which one leads is read from each one's ``/metrics``
(``leader_election_master_status``), because the Lease names a hostname_uuid identity
that does not say which process it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import ssl
import subprocess
from collections.abc import Awaitable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import aiohttp

from kwatch.core.events import JSON
from kwatch.core.kinds import LEASE, NODE
from kwatch.demo.client import ApiError, KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock
from kwatch.demo.kubelet import Kubelet
from kwatch.demo.traffic import (
    DEFAULT_PROPAGATION_DELAY,
    DEFAULT_RATE,
    INGRESS_USER_AGENT,
    Backend,
    Outcome,
    TrafficSimulator,
)
from kwatch.testing.controlplane import (  # _PREEXEC: the launcher's orphan guard
    _PREEXEC,
    ControlPlane,
    ControlPlaneError,
)

log = logging.getLogger(__name__)

__all__ = ["KcmReplica", "RealCluster", "ScenarioCluster", "node_names"]

_BOOT_USER_AGENT: Final = "kwatch-realcluster/1.0"
#: Put on Nodes this cluster does not run (e.g. the fixtures' fake nodes, on which no
#: pod ever starts) while it is up, so the scheduler and the daemonset controller only
#: use nodes with a (simulated) kubelet. Removed again on stop.
ISOLATION_TAINT: Final = "kwatch.dev/no-kubelet-simulator"
KCM: Final = "kube-controller-manager"
LEADER_METRIC: Final = re.compile(
    r'^leader_election_master_status\{[^}]*name="kube-controller-manager"[^}]*\}\s+(\S+)',
    re.MULTILINE,
)
READY_TIMEOUT: Final = 60.0  # wall seconds for the nodes to be Ready and schedulable
LEADER_POLL: Final = 0.5  # seconds between leadership polls of the kcm replicas


def node_names(n: int) -> list[str]:
    """The demo's node names (node-1 … node-N): scenarios refer to them (node-failure
    kills node-2)."""
    return [f"node-{i}" for i in range(1, n + 1)]


class RealCluster:
    def __init__(
        self,
        plane: ControlPlane,
        *,
        nodes: int = 3,
        heartbeat_interval: float = 5.0,
        node_identities: bool = True,
        isolate: bool = True,
        delete_nodes: bool = True,
        extra_controller_managers: int = 0,
        traffic_rate: float = DEFAULT_RATE,
        propagation_delay: float = DEFAULT_PROPAGATION_DELAY,
    ) -> None:
        if heartbeat_interval * 2 > plane.node_monitor_grace_period:
            # One lost heartbeat must not make a healthy node Unknown.
            raise ValueError("heartbeat_interval must be at most half the plane's "
                             "node-monitor-grace-period")
        self.plane = plane
        # A real control plane runs on the wall clock: simulated time must too.
        self.clock = Clock(1.0)
        self.node_count = nodes
        self.heartbeat_interval = heartbeat_interval
        self.node_identities = node_identities
        self.isolate = isolate
        self.delete_nodes = delete_nodes
        self.extra_controller_managers = extra_controller_managers
        self.traffic_rate = traffic_rate
        self.propagation_delay = propagation_delay
        self.kubeconfig_path = str(plane.admin_kubeconfig_path)
        self.readonly_kubeconfig_path = str(plane.readonly_kubeconfig_path)
        self.kubelets: dict[str, Kubelet] = {}
        self.managers: list[KcmReplica] = []
        self.namespaces: list[str] = []
        self._clients: list[KubeClient] = []
        self._views: list[ScenarioCluster] = []
        self._tainted: list[str] = []
        self._default_view: ScenarioCluster | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> RealCluster:
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
        api = self.client(_BOOT_USER_AGENT)
        names = node_names(self.node_count)
        if self.isolate:
            await self._taint_foreign_nodes(api, set(names))
        for i, name in enumerate(names, start=1):
            kubelet = Kubelet(self._kubelet_client(name), self.clock, name, pod_cidr_index=i,
                              heartbeat_interval=self.heartbeat_interval)
            kubelet.start()
            self.kubelets[name] = kubelet
        await asyncio.wait_for(self._wait_ready(api, names), READY_TIMEOUT)
        if self.extra_controller_managers:
            await self._start_replicas(api)

    async def _wait_ready(self, api: KubeClient, names: list[str]) -> None:
        for kubelet in self.kubelets.values():
            await kubelet.registered.wait()
        while True:
            nodes, _ = await api.list(NODE.collection_path())
            mine = [n for n in nodes if n["metadata"]["name"] in names]
            if len(mine) == len(names) and all(_schedulable(n) for n in mine):
                return
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Stop everything this cluster started; every step runs even if one fails."""
        for view in self._views:
            await _quietly(view.traffic.stop())
        api = self.client(_BOOT_USER_AGENT) if self._clients or self.kubelets else None
        if api is not None:
            # Pods of our namespaces are force-deleted while their kubelets still run:
            # a namespace can only go once its pods are gone.
            for ns in self.namespaces:
                await _quietly(_delete_namespace(api, ns))
        for kubelet in self.kubelets.values():
            await _quietly(kubelet.stop())
        if api is not None and self.delete_nodes:
            for name in self.kubelets:
                await _quietly(api.delete(f"{NODE.collection_path()}/{name}"))
        self.kubelets.clear()
        for replica in self.managers:
            await _quietly(replica.close())
        self.managers.clear()
        if api is not None:
            for name in self._tainted:
                await _quietly(_set_taint(api, name, ISOLATION_TAINT, None))
        self._tainted.clear()
        for client in self._clients:
            await _quietly(client.session.close())
        self._clients.clear()

    # -- access --------------------------------------------------------------------------

    def client(self, user_agent: str) -> KubeClient:
        """An admin API client with its own connection pool (closed on stop)."""
        client = client_from_kubeconfig(self.kubeconfig_path, user_agent=user_agent)
        self._clients.append(client)
        return client

    def _kubelet_client(self, node: str) -> KubeClient:
        if not self.node_identities:
            return self.client("kubelet")
        # Like a bootstrapped kubelet: its own certificate, user system:node:<name> in
        # group system:nodes — the Node authorizer and NodeRestriction apply.
        path = self.plane.kubeconfig_for(f"system:node:{node}", ["system:nodes"])
        client = client_from_kubeconfig(str(path), user_agent="kubelet")
        self._clients.append(client)
        return client

    async def scenario_view(self, namespace: str) -> ScenarioCluster:
        """A fresh namespace (with its default ServiceAccount) and a DemoCluster-shaped
        view on this cluster with a traffic simulator of its own."""
        api = self.client(_BOOT_USER_AGENT)
        if await _create_namespace(api, namespace):
            self.namespaces.append(namespace)  # ours to delete on stop (not `default`)
        view = ScenarioCluster(self, namespace)
        self._views.append(view)
        return view

    @property
    def traffic(self) -> TrafficSimulator:
        """The traffic simulator of a view on no particular namespace (DemoCluster's)."""
        if self._default_view is None:
            self._default_view = ScenarioCluster(self, "")
            self._views.append(self._default_view)
        return self._default_view.traffic

    def leader(self) -> KcmReplica | None:
        return next((m for m in self.managers if m.is_leader), None)

    def probe(self, backend: Backend) -> Outcome:
        """What a connection to `backend` gets: the same rules as DemoCluster.probe."""
        kubelet = self.kubelets.get(backend.node)
        candidates = [kubelet] if kubelet is not None else list(self.kubelets.values())
        for k in candidates:
            if not k.alive:
                continue
            if k.listening(backend.ip):
                return "ok"
            if backend.pod_uid and k.pod_ip(backend.pod_uid) == backend.ip:
                return "refused"
        return "timeout"

    # -- isolation -----------------------------------------------------------------------

    async def _taint_foreign_nodes(self, api: KubeClient, mine: set[str]) -> None:
        nodes, _ = await api.list(NODE.collection_path())
        for node in nodes:
            name = str(node["metadata"]["name"])
            if name in mine:
                continue
            taints = (node.get("spec") or {}).get("taints") or []
            if any(t.get("key") == ISOLATION_TAINT for t in taints):
                continue  # someone else's isolation: theirs to remove
            await _set_taint(api, name, ISOLATION_TAINT, "NoSchedule")
            self._tainted.append(name)

    # -- controller-manager replicas -----------------------------------------------------

    async def _start_replicas(self, api: KubeClient) -> None:
        pid = self.plane.pids().get(KCM)
        if pid is None:
            raise ControlPlaneError("the control plane runs no kube-controller-manager")
        argv = _recorded_argv(self.plane.log_path(KCM).with_suffix(".cmdline"))
        ssl_ctx = self.plane.admin_ssl_context()
        first = KcmReplica("controlplane-1", argv, self.plane.log_path(KCM), ssl_ctx, api,
                           pid=pid)
        self.managers.append(first)
        # The first replica leads before the others campaign, as in DemoCluster: the
        # scenario's narration (and its checks) assume controlplane-1 leads first.
        await first.start_polling()
        await asyncio.wait_for(first.leading.wait(), READY_TIMEOUT)
        for i in range(2, self.extra_controller_managers + 2):
            port = _free_port()
            replica_argv = [_with_port(a, port) for a in argv]
            replica = KcmReplica(f"controlplane-{i}", replica_argv,
                                 self.plane.log_path(f"{KCM}-{i}"), ssl_ctx, api)
            self.managers.append(replica)
            await replica.start()


class ScenarioCluster:
    """What one scenario sees of a RealCluster: the same attributes DemoCluster offers
    a scenario, with its own traffic simulator (one Service at a time, as in the demo)."""

    def __init__(self, cluster: RealCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.clock = cluster.clock
        self.kubelets = cluster.kubelets
        self.managers = cluster.managers
        self.kubeconfig_path = cluster.kubeconfig_path
        self.traffic = TrafficSimulator(
            cluster.client(INGRESS_USER_AGENT), cluster.clock, cluster.probe,
            rate=cluster.traffic_rate, propagation_delay=cluster.propagation_delay)

    def client(self, user_agent: str) -> KubeClient:
        return self.cluster.client(user_agent)

    def leader(self) -> KcmReplica | None:
        return self.cluster.leader()

    def probe(self, backend: Backend) -> Outcome:
        return self.cluster.probe(backend)


class KcmReplica:
    """One kube-controller-manager process, shaped like the demo's ControllerManager
    for what controller-failover uses: ``identity``, ``is_leader``, ``crash()``,
    ``start()``."""

    def __init__(self, name: str, argv: list[str], log_path: Path, ssl_ctx: ssl.SSLContext,
                 api: KubeClient, *, pid: int | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.api = api
        self.identity = ""  # the Lease holder identity, once seen leading
        self.leading = asyncio.Event()
        self._ssl = ssl_ctx
        self._port = _port_of(argv)
        self._pid = pid  # the control plane's own process (not ours to reap)
        self._proc: subprocess.Popen[bytes] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else self._pid

    async def start(self) -> None:
        """(Re)start the process from its command line; it campaigns for the Lease."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._pid is not None and _alive(self._pid):
            return  # the control plane's own process is still running
        self._proc = self._spawn()
        self._pid = None
        await self.start_polling()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as out:
            # Like the launcher's components: own process group, and SIGKILLed if the
            # thread that started it (the cluster's event loop thread) dies first.
            return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_PREEXEC, close_fds=True)

    async def crash(self) -> None:
        """SIGKILL: no Lease release, controllers die mid-work (as the demo's crash)."""
        self.leading.clear()
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._proc is not None:
            await asyncio.to_thread(self._proc.wait)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(self._proc.wait), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                await asyncio.to_thread(self._proc.wait)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def start_polling(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(total=2))
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name=f"kcm-poll-{self.name}")

    async def _poll(self) -> None:
        while True:
            leading = await self._leading_now()
            if leading:
                lease = await self.api.get(f"{LEASE.collection_path()}/{KCM}")
                holder = str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")
                if holder:
                    self.identity = holder
                    self.leading.set()
            else:
                self.leading.clear()
            await asyncio.sleep(LEADER_POLL)

    async def _leading_now(self) -> bool:
        pid = self.pid
        if pid is None or not _alive(pid):
            return False
        assert self._session is not None
        try:
            async with self._session.get(f"https://127.0.0.1:{self._port}/metrics") as resp:
                if resp.status != 200:
                    return False
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        m = LEADER_METRIC.search(text)
        return m is not None and float(m.group(1)) == 1.0


# --------------------------------------------------------------------------- helpers


def _schedulable(node: JSON) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    taints = (node.get("spec") or {}).get("taints") or []
    return ready and not any(t.get("effect") == "NoSchedule" for t in taints)


async def _set_taint(api: KubeClient, node: str, key: str, effect: str | None) -> None:
    """Add (effect) or remove (None) the taint `key`, keeping the others."""
    path = f"{NODE.collection_path()}/{node}"
    current = await api.get(path)
    if current is None:
        return
    taints = [t for t in (current.get("spec") or {}).get("taints") or [] if t.get("key") != key]
    if effect is not None:
        taints.append({"key": key, "value": "true", "effect": effect})
    # A JSON merge patch replaces the list; the resourceVersion makes it a safe swap.
    await api.patch(path, {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                           "spec": {"taints": taints or None}})


async def _create_namespace(api: KubeClient, name: str) -> bool:
    """Create `name` unless it exists; True if this call created it."""
    created = True
    try:
        await api.create("/api/v1/namespaces",
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiError as e:
        if e.code != 409:
            raise
        created = False
    # Pods are rejected until the serviceaccount controller made `default` (DESIGN §8).
    for _ in range(600):
        if await api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None:
            return created
        await asyncio.sleep(0.1)
    raise ControlPlaneError(f"namespace {name}: no default ServiceAccount after 60 s")


async def _delete_namespace(api: KubeClient, name: str) -> None:
    pods, _ = await api.list(f"/api/v1/namespaces/{name}/pods")
    for pod in pods:
        await api.delete(f"/api/v1/namespaces/{name}/pods/{pod['metadata']['name']}",
                         grace_period=0)
    await api.delete(f"/api/v1/namespaces/{name}")


def _recorded_argv(cmdline: Path) -> list[str]:
    """The argv ControlPlane wrote to logs/<component>.cmdline (one arg per line,
    joined with ' \\\\')."""
    return [a.strip() for a in cmdline.read_text().split(" \\\n") if a.strip()]


def _port_of(argv: Sequence[str]) -> int:
    for a in argv:
        if a.startswith("--secure-port="):
            return int(a.split("=", 1)[1])
    raise ControlPlaneError("kube-controller-manager has no --secure-port")


def _with_port(arg: str, port: int) -> str:
    return f"--secure-port={port}" if arg.startswith("--secure-port=") else arg


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _quietly(aw: Awaitable[object]) -> None:
    try:
        await aw
    except Exception:
        log.debug("real cluster shutdown step failed", exc_info=True)
