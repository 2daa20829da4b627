"""The demo's kube-scheduler: binds pending pods to nodes, as an ordinary API client.

Like the real scheduler it watches unassigned pods (``spec.nodeName=``) to find work and
all pods plus nodes to know where there is room; it filters nodes, scores the feasible
ones, and POSTs a v1 Binding to ``pods/{name}/binding``. Who did it shows up where kwatch
looks on a real cluster: the Binding's managedFields entry (User-Agent
``kube-scheduler/...``) and a ``Scheduled`` Event from ``default-scheduler``.

Filters (each a real scheduler plugin, reduced to what the demo needs):

- NodeUnschedulable / TaintToleration: ``spec.unschedulable`` and the node's taints
  against the pod's tolerations (NoSchedule, NoExecute). Conditions are turned into the
  taints the node lifecycle controller would add (Ready False → ``not-ready``, Unknown →
  ``unreachable``, pressures), so a NotReady node is skipped even before (or without) a
  controller tainting it — and a pod tolerating ``not-ready`` may still land there;
- NodeAffinity: ``nodeSelector`` and required node affinity (DaemonSet pods use
  ``matchFields metadata.name``);
- pod count against ``allocatable.pods``.

Scoring is plain spreading: fewest pods first, ties broken by node name so runs are
reproducible. When nothing fits, the pod gets ``PodScheduled=False
reason=Unschedulable`` through ``pods/status`` and a ``FailedScheduling`` Event, and is
retried when nodes change, pods leave, or every `retry_interval` simulated seconds.

Not simulated: resource requests fit, inter-pod (anti-)affinity, topology spread,
preemption, volume binding, scheduling gates, multiple profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import NODE, POD
from kwatch.demo.client import ApiError, Informer, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.events import EventRecorder, as_component
from kwatch.demo.placement import (
    TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE,
    TAINT_NOT_READY,
    TAINT_PID_PRESSURE,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    node_condition,
    node_ready_status,
    node_taints,
    pod_fits_node_affinity,
    untolerated,
)

log = logging.getLogger(__name__)

SCHEDULER_USER_AGENT = "kube-scheduler/v1.35.0 (linux/amd64) kubernetes/kwatch"
DEFAULT_SCHEDULER = "default-scheduler"
_EFFECTS = ("NoSchedule", "NoExecute")
_TERMINAL = ("Succeeded", "Failed")


# -- filtering (pure) ----------------------------------------------------------------------


def condition_taints(node: JSON) -> list[JSON]:
    """The NoSchedule taints the node lifecycle controller derives from node state."""
    taints: list[JSON] = []
    ready = node_ready_status(node)
    if ready == "False":
        taints.append({"key": TAINT_NOT_READY, "effect": "NoSchedule"})
    elif ready != "True":
        taints.append({"key": TAINT_UNREACHABLE, "effect": "NoSchedule"})
    for cond, key in (
        ("MemoryPressure", TAINT_MEMORY_PRESSURE),
        ("DiskPressure", TAINT_DISK_PRESSURE),
        ("PIDPressure", TAINT_PID_PRESSURE),
    ):
        if (node_condition(node, cond) or {}).get("status") == "True":
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def _effective_taints(node: JSON) -> list[JSON]:
    explicit = node_taints(node)
    seen = {(t.get("key"), t.get("effect")) for t in explicit}
    return explicit + [
        t for t in condition_taints(node) if (t["key"], t["effect"]) not in seen
    ]


def allocatable_pods(node: JSON) -> int:
    raw = (node.get("status", {}).get("allocatable") or {}).get("pods", "110")
    try:
        return int(str(raw))
    except ValueError:
        return 110


def unfit_reason(pod: JSON, node: JSON, pods_on_node: int) -> str | None:
    """Why `pod` cannot go to `node` (the real plugin's message), or None if it fits.

    Checked in the real scheduler's filter order; the first failure is the reason.
    """
    spec: Mapping[str, Any] = pod.get("spec") or {}
    tolerations = list(spec.get("tolerations") or [])
    if node.get("spec", {}).get("unschedulable"):
        flag = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
        if untolerated([flag], tolerations, _EFFECTS):
            return "node(s) were unschedulable"
    blocking = untolerated(_effective_taints(node), tolerations, _EFFECTS)
    if blocking:
        t = blocking[0]
        return f"node(s) had untolerated taint {{{t.get('key', '')}: {t.get('value', '')}}}"
    if not pod_fits_node_affinity(spec, node):
        return "node(s) didn't match Pod's node affinity/selector"
    if pods_on_node >= allocatable_pods(node):
        return "Too many pods"
    return None


def unschedulable_message(total: int, reasons: Iterable[str]) -> str:
    """kube-scheduler's FitError text: "0/3 nodes are available: 2 node(s) ...."."""
    if total == 0:
        return "no nodes available to schedule pods"
    counts = Counter(reasons)
    parts = sorted(f"{n} {reason}" for reason, n in counts.items())
    return (
        f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes "
        f"are available: {total} Preemption is not helpful for scheduling."
    )


def pick_node(pod: JSON, nodes: Iterable[JSON], load: Mapping[str, int]) -> tuple[str | None, str]:
    """(chosen node name, "") or (None, FailedScheduling message)."""
    feasible: list[tuple[int, str]] = []
    reasons: list[str] = []
    total = 0
    for node in nodes:
        total += 1
        name = str(node.get("metadata", {}).get("name", ""))
        reason = unfit_reason(pod, node, load.get(name, 0))
        if reason is None:
            feasible.append((load.get(name, 0), name))
        else:
            reasons.append(reason)
    if feasible:
        return min(feasible)[1], ""
    return None, unschedulable_message(total, reasons)


def _node_signature(node: JSON) -> tuple[Any, ...]:
    """What scheduling depends on; heartbeats alone must not trigger retries."""
    meta = node.get("metadata", {})
    return (
        repr(sorted((meta.get("labels") or {}).items())),
        repr(_effective_taints(node)),
        bool(node.get("spec", {}).get("unschedulable")),
        allocatable_pods(node),
    )


def _is_pending(pod: JSON, scheduler_name: str) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == scheduler_name
        and not pod.get("metadata", {}).get("deletionTimestamp")
        and pod.get("status", {}).get("phase") not in _TERMINAL
    )


def _occupies_node(pod: JSON) -> str | None:
    node = pod.get("spec", {}).get("nodeName")
    if node and pod.get("status", {}).get("phase") not in _TERMINAL:
        return str(node)
    return None


# -- the scheduler -------------------------------------------------------------------------


class Scheduler:
    """Binds pending pods whose schedulerName is `name`. `start()`, then `await stop()`."""

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        *,
        name: str = DEFAULT_SCHEDULER,
        retry_interval: float = 60.0,
    ) -> None:
        self.client = as_component(client, SCHEDULER_USER_AGENT)
        self.clock = clock
        self.name = name
        self.retry_interval = retry_interval
        self.recorder = EventRecorder(self.client, clock, name)
        self.nodes = Informer(self.client, NODE, self._on_node)
        self.pods = Informer(self.client, POD, self._on_pod)
        self.pending = Informer(
            self.client, POD, self._on_pending, field_selector="spec.nodeName="
        )
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        # uid → node of pods bound but not yet seen bound (the real scheduler's "assume").
        self._assumed: dict[str, str] = {}
        # key → message of pods that did not fit, retried when the cluster changes.
        self._unschedulable: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for informer in (self.nodes, self.pods, self.pending):
            informer.start()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"{self.name}-worker"),
            asyncio.create_task(self._periodic_retry(), name=f"{self.name}-retry"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for informer in (self.nodes, self.pods, self.pending):
            await informer.stop()
        await self.recorder.close()

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in (self.nodes, self.pods, self.pending))

    # -- event handlers (cheap: they only enqueue) ---------------------------------------

    def _enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _retry_unschedulable(self) -> None:
        for key in list(self._unschedulable):
            self._enqueue(key)

    def _on_pending(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is not None and _is_pending(new, self.name):
            self._enqueue(object_key(new))
        elif type_ == "DELETED" and old is not None:
            self._unschedulable.pop(object_key(old), None)

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is not None and new.get("spec", {}).get("nodeName"):
            self._assumed.pop(str(new["metadata"].get("uid")), None)
        if new is None and old is not None:
            self._assumed.pop(str(old["metadata"].get("uid")), None)
        # A pod leaving a node (gone or finished) frees room for the ones that did not fit.
        freed = old is not None and _occupies_node(old) and (new is None or not _occupies_node(new))
        if freed:
            self._retry_unschedulable()

    def _on_node(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if old is None or new is None or _node_signature(old) != _node_signature(new):
            self._retry_unschedulable()

    async def _periodic_retry(self) -> None:
        # The real scheduler flushes pods unschedulable for too long back to the active
        # queue (podMaxInUnschedulablePodsDuration); a cluster change usually comes first.
        while True:
            await self.clock.sleep(self.retry_interval)
            self._retry_unschedulable()

    # -- scheduling ---------------------------------------------------------------------

    async def _work(self) -> None:
        for informer in (self.nodes, self.pods, self.pending):
            await informer.synced.wait()
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                await self.schedule_one(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # one bad pod must not stop scheduling the others
                log.warning("scheduling %s failed: %r", key, e)
                self._unschedulable.setdefault(key, "")

    def _load(self) -> dict[str, int]:
        load: Counter[str] = Counter()
        for pod in self.pods.cache.values():
            node = _occupies_node(pod)
            if node is not None:
                load[node] += 1
        bound_uids = {p["metadata"].get("uid") for p in self.pods.cache.values()
                      if p.get("spec", {}).get("nodeName")}
        for uid, node in self._assumed.items():
            if uid not in bound_uids:
                load[node] += 1
        return dict(load)

    async def schedule_one(self, key: str) -> None:
        pod = self.pending.cache.get(key)
        if pod is None or not _is_pending(pod, self.name):
            self._unschedulable.pop(key, None)
            return
        if str(pod["metadata"].get("uid")) in self._assumed:
            return  # bound already; the watch has not caught up
        nodes = sorted(self.nodes.cache.values(), key=lambda n: str(n["metadata"]["name"]))
        node, message = pick_node(pod, nodes, self._load())
        if node is None:
            await self._report_unschedulable(key, pod, message)
        else:
            await self._bind(key, pod, node)

    async def _bind(self, key: str, pod: JSON, node: str) -> None:
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], str(meta.get("uid", ""))
        binding: JSON = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        self._assumed[uid] = node
        try:
            await self.client.create(f"{POD.collection_path(ns)}/{name}/binding", binding)
        except ApiError as e:
            self._assumed.pop(uid, None)
            if e.code in (404, 409):
                return  # deleted, or bound by someone else meanwhile: nothing to do
            raise
        self._unschedulable.pop(key, None)
        self.recorder.event(
            pod, "Normal", "Scheduled", "Binding", f"Successfully assigned {ns}/{name} to {node}"
        )

    async def _report_unschedulable(self, key: str, pod: JSON, message: str) -> None:
        self._unschedulable[key] = message
        current: JSON = next(
            (c for c in pod.get("status", {}).get("conditions") or []
             if c.get("type") == "PodScheduled"),
            {},
        )
        if current.get("status") != "False" or current.get("message") != message:
            meta = pod["metadata"]
            transition = (
                current["lastTransitionTime"]
                if current.get("status") == "False" and current.get("lastTransitionTime")
                else self.clock.rfc3339()
            )
            condition: JSON = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": transition,
            }
            # Strategic merge: conditions merge by type, so others' conditions survive.
            with contextlib.suppress(ApiError):
                await self.client.patch(
                    f"{POD.collection_path(meta['namespace'])}/{meta['name']}/status",
                    {"status": {"conditions": [condition]}},
                    "strategic",
                )
        self.recorder.event(pod, "Warning", "FailedScheduling", "Scheduling", message)
