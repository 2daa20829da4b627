"""The node lifecycle controller: notices dead kubelets and taints their nodes.

The first half of the node-failure story (`tainteviction.py` and `podgc.py` tell the
rest), reimplemented after kube-controller-manager's pkg/controller/nodelifecycle:

- every `node_monitor_period` (5 s) each node's heartbeat is checked: a renewed Lease in
  `kube-node-lease` or a new Ready `lastHeartbeatTime` counts, as observed on *our*
  clock. Silence for `node_monitor_grace_period` (50 s; 60 s for a node that never
  posted status) turns Ready, MemoryPressure, DiskPressure and PIDPressure Unknown
  ("NodeStatusUnknown", "Kubelet stopped posting node status."), records a NodeNotReady
  Event and marks the node's pods Ready=False — which is what takes them out of
  EndpointSlices long before they are evicted;
- conditions map to NoSchedule taints (Ready False → not-ready, Unknown → unreachable,
  pressures, unschedulable), reconciled on every node change, so a new node's
  `not-ready:NoSchedule` goes once its kubelet reports Ready;
- a node seen NotReady/Unknown on a monitor pass is queued for the NoExecute taint
  (`not-ready` or `unreachable`, mutually exclusive), rate limited per zone (0.1
  node/s; none while a small zone is partially disrupted) — and when *every* zone is
  fully disrupted the controller assumes its own network is the problem, removes the
  NoExecute taints and evicts nothing ("master disruption mode");
- Ready again removes the NoExecute taints.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import NODE, POD, ResourceKind
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.clock import Clock, parse_time
from kwatch.demo.controllers._nodezones import TokenBucket, ZoneState, zone_key, zone_state
from kwatch.demo.controllers._objects import meta, pod_condition, typed_copy
from kwatch.demo.controllers.base import Controller, Recorder, register
from kwatch.demo.events import EventRecorder
from kwatch.demo.placement import (
    TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
    TAINT_NOT_READY,
    TAINT_PID_PRESSURE,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    node_condition,
    node_taints,
)

log = logging.getLogger(__name__)

NODE_LEASE = ResourceKind("Lease", "coordination.k8s.io", "v1", "leases",
                          fixed_namespace="kube-node-lease")
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"

# Condition → taint key, for the NoSchedule taints (doNoScheduleTaintingPass).
_CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": TAINT_MEMORY_PRESSURE},
    "DiskPressure": {"True": TAINT_DISK_PRESSURE},
    "NetworkUnavailable": {"True": TAINT_NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": TAINT_PID_PRESSURE},
}
_CONDITION_TAINT_KEYS = frozenset(k for m in _CONDITION_TAINTS.values() for k in m.values())
# Conditions the controller turns Unknown when the kubelet goes silent (not
# NetworkUnavailable: the network plugin owns that one).
_MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

MONITOR_KEY = "monitor"
TAINT_KEY = "taint"


def noexecute_taint(key: str, now: str) -> JSON:
    return {"key": key, "effect": "NoExecute", "timeAdded": now}


@dataclass
class _Health:
    """What we last saw of a node's heartbeats, on our own clock."""

    ready: JSON | None  # the Ready condition as last observed
    probe: float  # when we last saw a heartbeat
    transition: float  # when we last saw Ready change
    lease_renew: float | None = None


@register
class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"
    # Real Events from this controller say `reportingController: node-controller`.
    event_source: ClassVar[str] = "node-controller"
    concurrent_syncs = 1  # one worker: the health map and zone queues are shared state

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        recorder: Recorder | None = None,
        *,
        node_monitor_period: float = 5.0,
        node_monitor_grace_period: float = 50.0,
        node_startup_grace_period: float = 60.0,
        node_eviction_rate: float = 0.1,
        secondary_node_eviction_rate: float = 0.01,
        large_cluster_size_threshold: int = 50,
        unhealthy_zone_threshold: float = 0.55,
    ) -> None:
        own = EventRecorder(client, clock, self.event_source) if recorder is None else None
        super().__init__(client, clock, recorder or own)
        if own is not None:
            self._own_recorder = own  # the base class closes the recorder it owns
        self.monitor_period = node_monitor_period
        self.grace_period = node_monitor_grace_period
        self.startup_grace_period = node_startup_grace_period
        self.eviction_rate = node_eviction_rate
        self.secondary_eviction_rate = secondary_node_eviction_rate
        self.large_cluster_threshold = large_cluster_size_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self._health: dict[str, _Health] = {}
        self._known: set[str] = set()
        self._zone_states: dict[str, ZoneState] = {}
        self._limiters: dict[str, TokenBucket] = {}
        self._taint_queue: dict[str, list[str]] = {}  # zone → node names, FIFO
        self._retry_not_ready: set[str] = set()  # nodes whose pods aren't all marked yet

    def setup(self) -> None:
        self.nodes = self.informer(NODE, self._on_node)
        # Lease renewals are read on each monitor pass; no need to react to each one.
        self.leases = self.informer(NODE_LEASE, _ignore, namespace="kube-node-lease")
        self.pods = self.informer(POD, self._on_pod)
        self.enqueue(MONITOR_KEY)

    def _on_node(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is not None:
            self.enqueue(f"node/{meta(new)['name']}")

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        # A pod landing on a node that is already NotReady must not look Ready.
        node = ((new or {}).get("spec") or {}).get("nodeName")
        if node and node != ((old or {}).get("spec") or {}).get("nodeName"):
            self.enqueue(f"pod/{object_key(new or {})}")

    async def reconcile(self, key: str) -> None:
        if key == MONITOR_KEY:
            try:
                await self._monitor()
            finally:
                self.enqueue_after(MONITOR_KEY, self.monitor_period)
        elif key == TAINT_KEY:
            await self._noexecute_tainting_pass()
        elif key.startswith("node/"):
            await self._noschedule_tainting_pass(key.removeprefix("node/"))
        elif key.startswith("pod/"):
            await self._process_pod(key.removeprefix("pod/"))

    # -- monitorNodeHealth ----------------------------------------------------------------

    async def _monitor(self) -> None:
        nodes = {str(meta(n)["name"]): n for n in self.nodes.cache.values()}
        for name in sorted(set(nodes) - self._known):
            node = nodes[name]
            self._node_event(node, "RegisteredNode", f"Registered Node {name} in Controller")
            self._known.add(name)
            self._zone(node)
            await self._mark_reachable(node)
        for name in sorted(self._known - set(nodes)):
            self._node_event({"metadata": {"name": name}}, "RemovingNode",
                             f"Removing Node {name} from Controller")
            self._known.discard(name)
            self._health.pop(name, None)
            self._retry_not_ready.discard(name)
            for queue in self._taint_queue.values():
                if name in queue:
                    queue.remove(name)
        zone_conditions: dict[str, list[str]] = {}
        for name in sorted(nodes):
            node = nodes[name]
            self._zone(node)  # zone labels may change after registration
            try:
                observed, current = await self._update_health(node)
            except ApiError as e:
                log.info("node %s: health update failed, no pods evicted: %s", name, e)
                continue
            if not (meta(node).get("labels") or {}).get(EXCLUDE_DISRUPTION_LABEL):
                zone_conditions.setdefault(zone_key(node), []).append(current)
            await self._taint_based_eviction(node, observed)
            if current != "True" and observed == "True":
                self._node_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
                self._retry_not_ready.add(name)
            if name in self._retry_not_ready and current != "True":
                # Until every pod is marked: a failed write must not be forgotten, since
                # the True → Unknown transition that triggered it is seen only once.
                try:
                    await self._mark_pods_not_ready(name)
                except ApiError as e:
                    log.info("node %s: marking pods NotReady failed, will retry: %s", name, e)
                    continue
            self._retry_not_ready.discard(name)
        await self._handle_disruption(zone_conditions, list(nodes.values()))
        if any(self._taint_queue.values()):
            self.enqueue(TAINT_KEY)

    async def _update_health(self, node: JSON) -> tuple[str, str]:
        """tryUpdateNodeHealth: (Ready status observed, Ready status after our update)."""
        name = str(meta(node)["name"])
        now = self.clock.now()
        health = self._health.get(name)
        ready = node_condition(node, "Ready")
        created = parse_time(meta(node).get("creationTimestamp")) or now
        if ready is None:
            observed = "Unknown"
            grace = self.startup_grace_period
            if health is None:
                health = _Health(None, created, created)
        else:
            observed = str(ready.get("status", "Unknown"))
            grace = self.grace_period
        saved = health.ready if health is not None else None
        if health is None or (saved is None) != (ready is None):
            health = _Health(ready, now, now)
        elif saved is not None and ready is not None and (
            saved.get("lastHeartbeatTime") != ready.get("lastHeartbeatTime")
        ):
            changed = saved.get("lastTransitionTime") != ready.get("lastTransitionTime")
            health = _Health(ready, now, now if changed else health.transition,
                             health.lease_renew)
        lease = self.leases.cache.get(f"kube-node-lease/{name}")
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renew is not None and (health.lease_renew is None or renew > health.lease_renew):
            # A renewed Lease is a heartbeat even when the status isn't posted.
            health.lease_renew = renew
            health.probe = now
        self._health[name] = health
        if now <= health.probe + grace:
            return observed, observed
        updated = self._unknown_conditions(node, now)
        if updated is None:
            return observed, observed
        await self._put_node_status(updated)
        health.ready = node_condition(updated, "Ready")
        health.transition = now
        return observed, "Unknown"

    def _unknown_conditions(self, node: JSON, now: float) -> JSON | None:
        """The node with every monitored condition Unknown, or None if already so."""
        out = typed_copy(node, "v1", "Node")
        conditions: list[JSON] = out.setdefault("status", {}).setdefault("conditions", [])
        stamp = self.clock.rfc3339(now)
        changed = False
        for type_ in _MONITORED_CONDITIONS:
            cond = next((c for c in conditions if c.get("type") == type_), None)
            if cond is None:
                conditions.append({
                    "type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": meta(node).get("creationTimestamp"),
                    "lastTransitionTime": stamp,
                })
                changed = True
            elif cond.get("status") != "Unknown":
                cond.update(status="Unknown", reason="NodeStatusUnknown",
                            message="Kubelet stopped posting node status.",
                            lastTransitionTime=stamp)
                changed = True
        return out if changed else None

    async def _put_node_status(self, node: JSON) -> None:
        # PUT with the cached resourceVersion: if the kubelet posted meanwhile we get a
        # 409 and decide again on the next pass, with its fresh heartbeat.
        await self.client.update(f"{NODE.collection_path()}/{meta(node)['name']}/status", node)

    # -- zones and rate limits --------------------------------------------------------------

    def _zone(self, node: JSON) -> str:
        zone = zone_key(node)
        if zone not in self._limiters:
            self._limiters[zone] = TokenBucket(self.clock, self.eviction_rate)
            self._taint_queue[zone] = []
            self._zone_states.setdefault(zone, ZoneState.INITIAL)
        return zone

    def _set_limiter(self, zone: str, size: int, state: ZoneState) -> None:
        if state is ZoneState.PARTIAL_DISRUPTION:
            # Many nodes down in a small zone looks like a network split: stop evicting.
            qps = self.secondary_eviction_rate if size > self.large_cluster_threshold else 0.0
        else:
            qps = self.eviction_rate
        self._limiters[zone].swap(qps)

    async def _handle_disruption(self, zone_conditions: dict[str, list[str]],
                                 nodes: list[JSON]) -> None:
        new = {z: zone_state(c, self.unhealthy_zone_threshold)
               for z, c in zone_conditions.items()}
        for zone in list(self._zone_states):
            if zone not in new:
                del self._zone_states[zone]
        all_are_full = bool(new) and all(s is ZoneState.FULL_DISRUPTION for s in new.values())
        all_were_full = bool(self._zone_states) and all(
            s is ZoneState.FULL_DISRUPTION for s in self._zone_states.values())
        if all_are_full and all_were_full:
            return
        if all_are_full:
            log.info("all nodes are NotReady: entering master disruption mode")
            for node in nodes:
                await self._mark_reachable(node)
            for zone in new:
                self._limiters[zone].swap(0.0)
                self._zone_states[zone] = ZoneState.FULL_DISRUPTION
            return
        if all_were_full:
            log.info("some nodes are Ready again: exiting master disruption mode")
            now = self.clock.now()
            for health in self._health.values():
                health.probe = health.transition = now
            for zone, state in new.items():
                self._set_limiter(zone, len(zone_conditions[zone]), state)
                self._zone_states[zone] = state
            return
        for zone, state in new.items():
            if self._zone_states.get(zone) is not state:
                self._set_limiter(zone, len(zone_conditions[zone]), state)
                self._zone_states[zone] = state

    # -- NoExecute taints -------------------------------------------------------------------

    async def _taint_based_eviction(self, node: JSON, observed: str) -> None:
        """processTaintBaseEviction, on the Ready status the kubelet last reported."""
        name = str(meta(node)["name"])
        keys = {t.get("key") for t in node_taints(node) if t.get("effect") == "NoExecute"}
        now = self.clock.rfc3339()
        if observed == "False":
            if TAINT_UNREACHABLE in keys:
                await self._swap_taints(name, [noexecute_taint(TAINT_NOT_READY, now)],
                                        [(TAINT_UNREACHABLE, "NoExecute")])
            else:
                self._queue_for_tainting(node)
        elif observed == "Unknown":
            if TAINT_NOT_READY in keys:
                await self._swap_taints(name, [noexecute_taint(TAINT_UNREACHABLE, now)],
                                        [(TAINT_NOT_READY, "NoExecute")])
            else:
                self._queue_for_tainting(node)
        elif observed == "True":
            await self._mark_reachable(node)

    def _queue_for_tainting(self, node: JSON) -> None:
        queue = self._taint_queue[self._zone(node)]
        name = str(meta(node)["name"])
        if name not in queue:
            queue.append(name)

    async def _mark_reachable(self, node: JSON) -> None:
        name = str(meta(node)["name"])
        if any(t.get("effect") == "NoExecute" and t.get("key") in (TAINT_NOT_READY,
                                                                   TAINT_UNREACHABLE)
               for t in node_taints(node)):
            await self._swap_taints(name, [], [(TAINT_UNREACHABLE, "NoExecute"),
                                               (TAINT_NOT_READY, "NoExecute")])
        queue = self._taint_queue.get(zone_key(node)) or []
        if name in queue:
            queue.remove(name)

    async def _noexecute_tainting_pass(self) -> None:
        """doNoExecuteTaintingPass: taint queued nodes as fast as each zone's limiter allows."""
        retry: float | None = None
        for zone, queue in self._taint_queue.items():
            limiter = self._limiters[zone]
            while queue:
                if not limiter.try_accept():
                    wait = limiter.wait()
                    if wait is not None:
                        retry = wait if retry is None else min(retry, wait)
                    break
                name = queue.pop(0)
                node = self.nodes.cache.get(name)
                if node is None:
                    continue
                status = str((node_condition(node, "Ready") or {}).get("status", "Unknown"))
                now = self.clock.rfc3339()
                if status == "False":
                    add, remove = TAINT_NOT_READY, TAINT_UNREACHABLE
                elif status == "Unknown":
                    add, remove = TAINT_UNREACHABLE, TAINT_NOT_READY
                else:
                    continue  # Ready again while it waited
                try:
                    await self._swap_taints(name, [noexecute_taint(add, now)],
                                            [(remove, "NoExecute")])
                except ApiError as e:
                    log.info("node %s: tainting failed, will retry: %s", name, e)
                    queue.append(name)
                    continue
                await self._mark_pods_not_ready(name)
        if retry is not None:
            self.enqueue_after(TAINT_KEY, retry + 0.01)

    async def _swap_taints(self, node_name: str, add: list[JSON],
                           remove: Iterable[tuple[str, str]]) -> None:
        """SwapNodeControllerTaint: add and remove (key, effect) taints in one write,
        guarded by the node's resourceVersion (taints have no merge key: the list is
        replaced, so a concurrent change must make us start over)."""
        drop = set(remove)
        path = f"{NODE.collection_path()}/{node_name}"
        # Read the node fresh, not from the informer: right after our own write the
        # cache may still show the taints we just changed.
        node = await self.client.get(path)
        for attempt in range(5):
            if node is None:
                return
            current = node_taints(node)
            taints = [t for t in current if (t.get("key"), t.get("effect")) not in drop]
            for a in add:
                if not any((t.get("key"), t.get("effect")) == (a["key"], a["effect"])
                           for t in taints):
                    taints.append(a)
            if _taint_set(taints) == _taint_set(current):
                return
            patch = {"metadata": {"resourceVersion": meta(node)["resourceVersion"]},
                     "spec": {"taints": taints}}
            try:
                await self.client.patch(path, patch)
                return
            except ApiError as e:
                if e.code != 409 or attempt == 4:
                    raise
                node = await self.client.get(path)

    # -- NoSchedule taints ------------------------------------------------------------------

    async def _noschedule_tainting_pass(self, name: str) -> None:
        node = self.nodes.cache.get(name)
        if node is None:
            return
        want: list[JSON] = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            key = _CONDITION_TAINTS.get(str(cond.get("type")), {}).get(str(cond.get("status")))
            if key:
                want.append({"key": key, "effect": "NoSchedule"})
        if (node.get("spec") or {}).get("unschedulable"):
            want.append({"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"})
        managed = {TAINT_UNSCHEDULABLE} | _CONDITION_TAINT_KEYS
        have = [t for t in node_taints(node)
                if t.get("effect") == "NoSchedule" and t.get("key") in managed]
        want_keys = {t["key"] for t in want}
        have_keys = {t.get("key") for t in have}
        if want_keys == have_keys:
            return
        await self._swap_taints(name, [t for t in want if t["key"] not in have_keys],
                                [(str(k), "NoSchedule") for k in have_keys - want_keys])

    # -- pods -------------------------------------------------------------------------------

    async def _process_pod(self, pod_key: str) -> None:
        pod = self.pods.cache.get(pod_key)
        if pod is None:
            return
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        health = self._health.get(node_name)
        if health is None or health.ready is None:
            return  # the node isn't monitored yet; its next pass covers the pod
        if health.ready.get("status") != "True":
            await self._mark_pods_not_ready(node_name, [pod])

    async def _mark_pods_not_ready(self, node_name: str,
                                   pods: list[JSON] | None = None) -> None:
        """MarkPodsNotReady: flip each pod's Ready condition to False (not ContainersReady)."""
        if pods is None:
            pods = [p for p in self.pods.cache.values()
                    if (p.get("spec") or {}).get("nodeName") == node_name]
        for pod in pods:
            ready = pod_condition(pod, "Ready")
            if ready is None or ready.get("status") == "False":
                continue
            cond = copy.deepcopy(ready)
            cond.update(status="False", lastTransitionTime=self.clock.rfc3339())
            path = f"{POD.collection_path(meta(pod)['namespace'])}/{meta(pod)['name']}/status"
            try:
                await self.client.patch(path, {"status": {"conditions": [cond]}}, "strategic")
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            self.recorder.event(typed_copy(pod, "v1", "Pod"), "Warning", "NodeNotReady",
                                "MarkPodNotReady", "Node is not ready")

    def _node_event(self, node: JSON, reason: str, text: str) -> None:
        name = meta(node)["name"]
        ref: JSON = {"apiVersion": "v1", "kind": "Node", "name": name}
        if meta(node).get("uid"):
            ref["uid"] = meta(node)["uid"]
        note = text if reason == "NodeNotReady" else f"Node {name} event: {text}"
        self.recorder.event(ref, "Normal", reason, reason, note)


def _ignore(type_: str, old: JSON | None, new: JSON | None) -> None:
    return None


def _taint_set(taints: Iterable[Mapping[str, Any]]) -> set[tuple[Any, Any, Any]]:
    return {(t.get("key"), t.get("value"), t.get("effect")) for t in taints}
