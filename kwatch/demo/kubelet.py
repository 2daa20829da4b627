"""A simulated kubelet: one per demo node, an ordinary API client like the real one.

It works against the embedded API server and against a real kube-apiserver: it writes
real, valid objects (Node, Lease, pod status, Events) as ``kubelet/v1.35.0``, so
managedFields name the kubelet as the writer, as on a real cluster.

Simulated, with the real kubelet's observable behaviour:

- node registration (labels, podCIDR, addresses, capacity, nodeInfo), Ready and
  pressure conditions with heartbeat/transition times, the node Lease renewed every
  heartbeat; `stop_heartbeats()` makes the node "die" (no heartbeats, no reactions, no
  writes, its pods unreachable) until `resume_heartbeats()`;
- per pod (watch with ``spec.nodeName=<node>``): sandbox and podIP from the podCIDR
  (round-robin host-local IPAM; hostNetwork pods get the node IP), init containers in
  order, native sidecars, containers Waiting(ContainerCreating) → Running → Ready, the
  conditions PodReadyToStartContainers / Initialized / ContainersReady / Ready (with
  readiness gates) and phase, all through ``pods/{name}/status``;
- an app per container with start-up time: a container without readinessProbe is
  Ready as soon as it runs, before its app listens (lab 1); readiness, liveness and
  startup probes with initialDelaySeconds / periodSeconds / successThreshold /
  failureThreshold, and Unhealthy Events;
- graceful deletion: preStop (exec sleep and the native sleep action; the app keeps
  serving), SIGTERM (the app stops listening, exits after its shutdown time), SIGKILL
  (137) when the grace period runs out, terminal status, then DELETE with
  gracePeriodSeconds=0 and a uid precondition (lab 2). As in kuberuntime, the grace
  period counts from when the kubelet acts on the deletion, a preStop hook gets at most
  the grace period, and SIGTERM always gets at least 2 s before SIGKILL;
- crashes and restarts (restartPolicy, restartCount, lastState, CrashLoopBackOff with
  10 s doubling back-off capped at 5 min), liveness-probe restarts;
- in-place resize (allocatedResources, resources, PodResizeInProgress,
  PodResizePending=Infeasible, resizePolicy RestartContainer);
- Events as the kubelet reports them: Pulling/Pulled, Created, Started, Killing,
  Unhealthy, BackOff; Starting / NodeHas* / NodeReady for the node.

Not simulated: images (pulls are a delay), volumes, networking and kube-proxy (the
traffic simulator asks `listening()` instead), resource accounting and eviction
(admission never rejects a pod, pressures stay False), OOM kills, init container
failures, image changes of a running pod, ephemeral containers, static pods, pod-level
cgroups, graceful node shutdown, and adopting running containers after a kubelet
restart (pods found at start are started afresh).

The simulated app state is queryable in-process: `app_state(pod_uid)` and
`listening(pod_ip)` are what the traffic simulator asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

import aiohttp

from kwatch.core.events import JSON
from kwatch.core.kinds import POD
from kwatch.demo.client import ApiError, Informer, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.events import EventRecorder, as_component
from kwatch.demo.kubelet_env import (
    KUBELET_USER_AGENT,
    KubeletEnv,
    PodIPs,
    node_ip_for,
    pod_cidr_for,
)
from kwatch.demo.kubelet_node import DEFAULT_CAPACITY, NodeAgent
from kwatch.demo.kubelet_pod import PodWorker
from kwatch.demo.kubelet_status import AppState

log = logging.getLogger(__name__)

_REMEMBER_GONE = 1000  # uids of removed pods kept to answer app_state() with "exited"


class Kubelet:
    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        node_name: str,
        *,
        pod_cidr_index: int,
        heartbeat_interval: float = 10.0,
        register: bool = True,
        capacity: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        taints: list[JSON] | None = None,
        backoff_initial: float = 10.0,
        backoff_max: float = 300.0,
    ) -> None:
        self.client = as_component(client, KUBELET_USER_AGENT)
        self.clock = clock
        self.node_name = node_name
        self.register = register
        cap = {**DEFAULT_CAPACITY, **(capacity or {})}
        self.env = KubeletEnv(
            client=self.client,
            clock=clock,
            node_name=node_name,
            host_ip=node_ip_for(pod_cidr_index),
            recorder=EventRecorder(self.client, clock, "kubelet", reporting_instance=node_name),
            ips=PodIPs(pod_cidr_for(pod_cidr_index)),
            allocatable=dict(cap),
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self.node = NodeAgent(
            self.env,
            pod_cidr=pod_cidr_for(pod_cidr_index),
            heartbeat_interval=heartbeat_interval,
            capacity=cap,
            labels=dict(labels or {}),
            taints=list(taints or []),
        )
        self.pods = Informer(
            self.client, POD, self._on_pod, field_selector=f"spec.nodeName={node_name}"
        )
        self.registered = asyncio.Event()  # the Node exists with its status and Lease
        self._workers: dict[str, PodWorker] = {}
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.env.alive.set()
        self._task = asyncio.create_task(self._run(), name=f"kubelet-{self.node_name}")

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.node.register(create=self.register)
                await self.node.renew_lease()
                break
            except (ApiError, aiohttp.ClientError, TimeoutError) as e:
                log.warning("kubelet %s: registering: %s", self.node_name, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.node.start_heartbeats()
        self.registered.set()
        self.pods.start()

    async def stop(self) -> None:
        """Stop the kubelet process: the Node and pods stay as they are in the API."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.node.stop_heartbeats()
        await self.pods.stop()
        for worker in list(self._workers.values()):
            await worker.shutdown()
        self._workers.clear()
        await self.env.recorder.close()

    async def stop_heartbeats(self) -> None:
        """The node dies: no Lease renewals, no status, no reactions to its pods."""
        self.env.alive.clear()
        await self.node.stop_heartbeats()

    async def resume_heartbeats(self) -> None:
        """The node comes back: heartbeats resume and the kubelet catches up on its pods."""
        self.env.alive.set()
        if self.registered.is_set():
            self.node.start_heartbeats()
            self._resync()

    # -- queries -------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.env.alive.is_set()

    @property
    def node_ip(self) -> str:
        return self.env.host_ip

    @property
    def pod_cidr(self) -> str:
        return self.env.ips.cidr

    def app_state(self, pod_uid: str) -> AppState:
        worker = self._workers.get(pod_uid)
        if worker is not None:
            return worker.app_state
        return "exited" if pod_uid in self._gone else "not-started"

    def listening(self, pod_ip: str) -> bool:
        """Would a connection to `pod_ip` be accepted? (False while the node is dead.)"""
        if not self.alive or not pod_ip:
            return False
        return any(
            w.pod_ip == pod_ip and w.app_state == "listening" for w in self._workers.values()
        )

    def pod_ip(self, pod_uid: str) -> str | None:
        worker = self._workers.get(pod_uid)
        return (worker.pod_ip or None) if worker is not None else None

    # -- pods ----------------------------------------------------------------------------

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if self.alive:  # a dead kubelet sees nothing; it resyncs when it comes back
            self._dispatch(old, new)

    def _dispatch(self, old: JSON | None, new: JSON | None) -> None:
        if new is None:
            if old is not None:
                self._remove(str(old["metadata"].get("uid", "")))
            return
        uid = str(new["metadata"].get("uid", ""))
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(new)
        elif uid not in self._gone:
            worker = PodWorker(self.env, new)
            self._workers[uid] = worker
            worker.start()

    def _remove(self, uid: str) -> None:
        worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.removed()
        self._gone[uid] = None
        while len(self._gone) > _REMEMBER_GONE:
            self._gone.popitem(last=False)

    def _resync(self) -> None:
        current = {str(p["metadata"].get("uid", "")): p for p in self.pods.cache.values()}
        for uid in [u for u in self._workers if u not in current]:
            self._remove(uid)
        for pod in current.values():
            self._dispatch(None, pod)
