"""The store: slim rows of every watched object, incremental indexes, pod lanes.

`Store.apply(batch)` turns KEvents into `Change`s (old row, new row). It is idempotent,
as an informer cache must be under relists and reflector restarts:

* ADDED for a key that exists is treated as MODIFIED (a relist re-adds), and MODIFIED
  for an unknown key as an insert (a restarted reflector re-sends survivors as MODIFIED).
* An event whose resourceVersion equals the stored row's yields no change; without a
  resourceVersion an equal row yields none either.
* DELETED for an unknown key yields nothing. A DELETED whose body differs from the
  stored row in more than its resourceVersion first yields a MODIFIED change to that
  final state (a status written just before the deletion may arrive only there), then
  the DELETED change. The sources' relist tombstones carry metadata only: no MODIFIED.
* A key whose uid changed (deleted and recreated while the watch was down) yields a
  DELETED change for the old object, then an ADDED one for the new.
* LISTED / RESET markers yield no changes. The sources send the deletions a relist
  implies themselves (see kwatch.sources.kube.WatchEngine), so the store never sweeps.
  Markers only keep the bookkeeping: which (kind, namespace) views have completed
  their first list (`synced_views`, `synced_kinds`), and how often each kind was
  relisted (`relists`). A change made while its view had not completed its first list
  is marked `initial`, so the pipeline can summarise 50k-pod lists instead of
  narrating them.

Every index is maintained per event in O(size of that object) — never by rescanning:
uid → (kind, key); owner uid → child uids (and how many are not terminating); pod uid →
EndpointSlice memberships; service → slices; object uid → its latest Events (bounded,
with Events for objects not seen yet parked by uid or by kind/namespace/name and linked
when the object arrives); node → pods.

Lanes: per pod, the times of its lifecycle marks (Pending, Scheduled, Running, Ready,
NotReady, DeletionRequested, endpoint joined/ready/not-ready/terminating/left per slice,
ContainerTerminated, Gone). Marks carry the *observed* time (the event's `t`), because
the gaps that matter (deletion → left the slice) are sub-second and object timestamps
have one-second resolution. A lane starts at the first change that makes a mark after
the pod's view synced (the initial list starts none); a lane started for a pod that
was already running is seeded, lazily, from the object's own timestamps
(`observed=False`). Lanes survive the pod's deletion until `dismiss_lane` or until
evicted (least recently touched first) beyond `max_lanes`; `lane(uid)` also answers
for live pods without a recorded lane, seeded from their row.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import NamedTuple

from kwatch.core.events import EventType, KEvent
from kwatch.core.rows import (
    Endpoint,
    EndpointSliceRow,
    EventRow,
    PodRow,
    Row,
    fast_frozen_init,
    row_from,
)

_LISTED = EventType.LISTED
_RESET = EventType.RESET
_DELETED = EventType.DELETED
# A bulk load creates hundreds of thousands of long-lived objects; collector passes
# during it are pure overhead (each one walks everything already loaded).
_GC_PAUSE_BATCH = 1000
_LANE_MAX_ENTRIES = 200  # a crash-looping pod must not grow its lane forever
_new_entry = tuple.__new__  # a NamedTuple without its Python-level constructor: 3x cheaper

_NO_ROWS: Mapping[str, Row] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Change:
    """One object's transition. old is None for an insert, new is None for a deletion."""

    t: float
    kind: str
    key: str
    old: Row | None
    new: Row | None
    initial: bool = False  # made by the first LIST of its view (see module docstring)

    @property
    def type(self) -> str:
        if self.old is None:
            return "ADDED"
        return "DELETED" if self.new is None else "MODIFIED"

    @property
    def row(self) -> Row:
        """The newest known state (the deleted object's last state for deletions)."""
        row = self.new if self.new is not None else self.old
        assert row is not None, "a Change always has old or new"
        return row


fast_frozen_init(Change)


class Membership(NamedTuple):
    """A pod's endpoint in one EndpointSlice."""

    slice_key: str
    slice_name: str
    service: str
    endpoint: Endpoint

    @property
    def ready(self) -> bool:
        return self.endpoint.is_ready

    @property
    def serving(self) -> bool:
        return self.endpoint.is_serving

    @property
    def terminating(self) -> bool:
        return self.endpoint.is_terminating

    @property
    def routable(self) -> bool:
        return self.endpoint.routable


class LaneMark(StrEnum):
    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"  # a container started
    READY = "Ready"
    NOT_READY = "NotReady"
    DELETION_REQUESTED = "DeletionRequested"
    ENDPOINT_JOINED = "EndpointJoined"
    ENDPOINT_READY = "EndpointReady"
    ENDPOINT_NOT_READY = "EndpointNotReady"
    ENDPOINT_TERMINATING = "EndpointTerminating"
    ENDPOINT_LEFT = "EndpointLeft"
    CONTAINER_TERMINATED = "ContainerTerminated"
    GONE = "Gone"


class LaneEntry(NamedTuple):
    t: float
    mark: LaneMark
    detail: str = ""  # slice name for endpoint marks, container name for container marks
    observed: bool = True  # False: taken from the object's timestamps (1 s resolution)


@dataclass(slots=True)
class Lane:
    """One pod's lifecycle marks, in the order they were recorded."""

    uid: str
    namespace: str
    name: str
    node: str = ""
    gone: bool = False
    _marks: list[LaneEntry] = field(default_factory=list, repr=False)
    # A pod met mid-life: its earlier marks come from this row's timestamps, computed
    # on first read (most lanes are never read, and seeding costs more than a change).
    _seed: PodRow | None = field(default=None, repr=False)

    @property
    def entries(self) -> list[LaneEntry]:
        if self._seed is not None:
            self._marks[:0] = seed_entries(self._seed)
            self._seed = None
        return self._marks

    def add(self, t: float, mark: LaneMark, detail: str = "", observed: bool = True) -> None:
        marks = self._marks
        marks.append(_new_entry(LaneEntry, (t, mark, detail, observed)))
        if len(marks) > _LANE_MAX_ENTRIES:
            # Keep the first marks (how the pod started) and the most recent ones.
            del marks[10]

    def first(self, mark: LaneMark, detail: str | None = None) -> float | None:
        for e in self.entries:
            if e.mark is mark and (detail is None or e.detail == detail):
                return e.t
        return None

    def last(self, mark: LaneMark, detail: str | None = None) -> float | None:
        for e in reversed(self.entries):
            if e.mark is mark and (detail is None or e.detail == detail):
                return e.t
        return None

    def between(self, a: LaneMark, b: LaneMark) -> float | None:
        """Seconds from the first `a` to the first `b` after it (None if either is missing)."""
        start = self.first(a)
        if start is None:
            return None
        for e in self.entries:
            if e.mark is b and e.t >= start:
                return e.t - start
        return None

    def gaps(self) -> list[tuple[LaneEntry, LaneEntry, float]]:
        """Consecutive marks with the seconds between them (what the lane view draws)."""
        ordered = sorted(self.entries, key=lambda e: e.t)
        return [(a, b, b.t - a.t) for a, b in pairwise(ordered)]


def _views_ns(obj: Mapping[str, object]) -> str:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        ns = meta.get("namespace")
        return ns if isinstance(ns, str) else ""
    return ""


def _has_body(obj: Mapping[str, object]) -> bool:
    """More than a tombstone's metadata (relist deletions carry metadata only)."""
    return any(k not in ("kind", "apiVersion", "metadata") for k in obj)


class Store:
    def __init__(
        self,
        *,
        events_per_object: int = 50,
        max_lanes: int = 5000,
        max_orphan_events: int = 10_000,
    ) -> None:
        self.events_per_object = events_per_object
        self.max_lanes = max_lanes
        self.max_orphan_events = max_orphan_events

        self._rows: dict[str, dict[str, Row]] = {}  # kind → key → row
        self._by_uid: dict[str, tuple[str, str]] = {}  # uid → (kind, key)
        self._children: dict[str, set[str]] = {}  # owner uid → child uids
        self._active_children: dict[str, int] = {}  # owner uid → children not deleting
        self._pod_eps: dict[str, dict[str, Membership]] = {}  # pod uid → slice key → m
        self._slice_members: dict[str, dict[str, Membership]] = {}  # slice key → pod uid
        self._service_slices: dict[tuple[str, str], set[str]] = {}  # (ns, svc) → slices
        self._events: dict[str, dict[str, EventRow]] = {}  # object uid → event key → row
        # Events whose object is not known yet, by "uid:<uid>" or "ref:<kind>/<ns>/<name>".
        self._orphan_events: OrderedDict[str, dict[str, EventRow]] = OrderedDict()
        self._node_pods: dict[str, set[str]] = {}  # node name → pod keys
        self._synced: dict[str, set[str]] = {}  # kind → namespaces listed ("" = all)

        self.lanes: OrderedDict[str, Lane] = OrderedDict()
        self.synced_kinds: set[str] = set()
        self.relists: dict[str, int] = {}
        self.lists: dict[str, int] = {}

    # ------------------------------------------------------------------ applying

    def apply(self, batch: Sequence[KEvent]) -> list[Change]:
        changes: list[Change] = []
        pause_gc = len(batch) >= _GC_PAUSE_BATCH and gc.isenabled()
        if pause_gc:
            gc.disable()
        try:
            for ev in batch:
                if ev.type is _LISTED or ev.type is _RESET:
                    self._marker(ev)
                else:
                    self._apply_one(ev, changes)
        finally:
            if pause_gc:
                gc.enable()
        return changes

    @property
    def synced_views(self) -> frozenset[tuple[str, str]]:
        """(kind, namespace) views whose first list completed ("" = all namespaces)."""
        return frozenset((k, ns) for k, nss in self._synced.items() for ns in nss)

    def is_synced(self, kind: str, namespace: str = "") -> bool:
        views = self._synced.get(kind)
        return views is not None and ("" in views or namespace in views)

    def _marker(self, ev: KEvent) -> None:
        kind = ev.kind
        if ev.type is _LISTED:
            self._synced.setdefault(kind, set()).add(_views_ns(ev.obj))
            self.synced_kinds.add(kind)
            self.lists[kind] = self.lists.get(kind, 0) + 1
        else:
            self.relists[kind] = self.relists.get(kind, 0) + 1

    def _apply_one(self, ev: KEvent, changes: list[Change]) -> None:
        kind = ev.kind
        obj = ev.obj
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or ""
        name = meta.get("name") or ""
        key = f"{ns}/{name}" if ns else name
        table = self._rows.get(kind)
        if table is None:
            table = self._rows[kind] = {}
        old = table.get(key)
        views = self._synced.get(kind)
        initial = not views or ("" not in views and ns not in views)
        t = ev.t

        if ev.type is _DELETED:
            if old is None:
                return
            uid = meta.get("uid")
            if uid and old.uid and uid != old.uid:
                return  # a tombstone for an older incarnation of this name
            rv = ev.resource_version or meta.get("resourceVersion") or ""
            if rv and rv != old.resource_version and _has_body(obj):
                # A watch DELETED carries the object at deletion (with the deletion's
                # resourceVersion): a change only if something besides that differs.
                final = row_from(kind, obj, old)
                if replace(final, resource_version=old.resource_version) != old:
                    table[key] = final
                    self._index(kind, key, old, final, t, initial)
                    changes.append(Change(t, kind, key, old, final, initial))
                    old = final
            self._remove(kind, key, old, t, initial, changes)
            return

        rv = ev.resource_version or meta.get("resourceVersion") or ""
        if old is not None and rv and rv == old.resource_version:
            return
        new = row_from(kind, obj, old)
        if old is not None:
            if old.uid != new.uid and old.uid and new.uid:
                self._remove(kind, key, old, t, initial, changes)
                old = None
            elif not rv and new == old:
                return
        table[key] = new
        self._index(kind, key, old, new, t, initial)
        changes.append(Change(t, kind, key, old, new, initial))

    def _remove(
        self, kind: str, key: str, old: Row, t: float, initial: bool, changes: list[Change]
    ) -> None:
        del self._rows[kind][key]
        self._index(kind, key, old, None, t, initial)
        changes.append(Change(t, kind, key, old, None, initial))

    # ------------------------------------------------------------------ indexes

    def _index(
        self, kind: str, key: str, old: Row | None, new: Row | None, t: float, initial: bool
    ) -> None:
        old_uid = old.uid if old is not None else ""
        new_uid = new.uid if new is not None else ""
        if old_uid != new_uid:
            if old_uid:
                self._by_uid.pop(old_uid, None)
            if new_uid:
                self._by_uid[new_uid] = (kind, key)
                if self._orphan_events:
                    self._adopt_events(kind, new, new_uid)

        self._index_owner(old, new)

        if kind == "Pod":
            self._index_pod(key, old, new, t, initial)
        elif kind == "EndpointSlice":
            self._index_slice(key, old, new, t, initial)
        elif kind == "Event":
            self._index_event(key, old, new)

        if new is None and old_uid and old_uid not in self.lanes:
            self._events.pop(old_uid, None)

    def _index_owner(self, old: Row | None, new: Row | None) -> None:
        if (
            old is not None
            and new is not None
            and old.owner is new.owner
            and old.uid == new.uid
            and (old.deleted is None) == (new.deleted is None)
        ):
            return  # the common MODIFIED: nothing about ownership changed
        old_owner = old.owner.uid if old is not None and old.owner is not None else ""
        new_owner = new.owner.uid if new is not None and new.owner is not None else ""
        old_active = old is not None and old.deleted is None
        new_active = new is not None and new.deleted is None
        if old_owner == new_owner:
            if old_owner and old_active != new_active:
                self._bump_active(old_owner, 1 if new_active else -1)
            if old is not None and new is not None and old.uid != new.uid and old_owner:
                self._children[old_owner].discard(old.uid)
                self._children[old_owner].add(new.uid)
            return
        if old_owner and old is not None:
            kids = self._children.get(old_owner)
            if kids is not None:
                kids.discard(old.uid)
                if not kids:
                    del self._children[old_owner]
            if old_active:
                self._bump_active(old_owner, -1)
        if new_owner and new is not None:
            self._children.setdefault(new_owner, set()).add(new.uid)
            if new_active:
                self._bump_active(new_owner, 1)

    def _bump_active(self, owner: str, delta: int) -> None:
        n = self._active_children.get(owner, 0) + delta
        if n > 0:
            self._active_children[owner] = n
        else:
            self._active_children.pop(owner, None)

    def _index_pod(
        self, key: str, old: Row | None, new: Row | None, t: float, initial: bool
    ) -> None:
        old_pod = old if isinstance(old, PodRow) else None
        new_pod = new if isinstance(new, PodRow) else None
        old_node = old_pod.node_name if old_pod is not None else ""
        new_node = new_pod.node_name if new_pod is not None else ""
        if old_node != new_node:
            if old_node:
                on_node = self._node_pods.get(old_node)
                if on_node is not None:
                    on_node.discard(key)
                    if not on_node:
                        del self._node_pods[old_node]
            if new_node:
                self._node_pods.setdefault(new_node, set()).add(key)
        # A gone pod's memberships stay until its slices change: they are what the
        # slices say. Only the lane records the pod's end.
        if not initial:
            self._lane_pod(old_pod, new_pod, t)

    def _pod_uid_of(self, ep: Endpoint) -> str:
        if ep.pod_uid:
            return ep.pod_uid
        if ep.pod_name:
            pod = self._rows.get("Pod", {}).get(f"{ep.pod_namespace}/{ep.pod_name}")
            if pod is not None:
                return pod.uid
        return ""

    def _index_slice(
        self, key: str, old: Row | None, new: Row | None, t: float, initial: bool
    ) -> None:
        old_slice = old if isinstance(old, EndpointSliceRow) else None
        new_slice = new if isinstance(new, EndpointSliceRow) else None
        old_svc = (old_slice.namespace, old_slice.service_name) if old_slice else ("", "")
        new_svc = (new_slice.namespace, new_slice.service_name) if new_slice else ("", "")
        if old_svc != new_svc:
            if old_svc[1]:
                slices = self._service_slices.get(old_svc)
                if slices is not None:
                    slices.discard(key)
                    if not slices:
                        del self._service_slices[old_svc]
            if new_svc[1]:
                self._service_slices.setdefault(new_svc, set()).add(key)

        before = self._slice_members.pop(key, {})
        after: dict[str, Membership] = {}
        if new_slice is not None:
            for ep in new_slice.endpoints:
                uid = self._pod_uid_of(ep)
                if uid:
                    after[uid] = Membership(key, new_slice.name, new_slice.service_name, ep)
            if after:
                self._slice_members[key] = after
        for uid in before.keys() - after.keys():
            eps = self._pod_eps.get(uid)
            if eps is not None:
                eps.pop(key, None)
                if not eps:
                    del self._pod_eps[uid]
        for uid, m in after.items():
            self._pod_eps.setdefault(uid, {})[key] = m
        if not initial:
            self._lane_slice(before, after, t)

    def _index_event(self, key: str, old: Row | None, new: Row | None) -> None:
        if not isinstance(new, EventRow):
            return  # deleted Events (TTL) stay in their object's history
        ref = new.regarding
        target = ref.uid
        if not target and ref.name:
            ref_key = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            row = self._rows.get(ref.kind, {}).get(ref_key)
            target = row.uid if row is not None else ""
        if target and (target in self._by_uid or target in self.lanes):
            bucket = self._events.get(target)
            if bucket is None:
                bucket = self._events[target] = {}
            self._file_event(bucket, key, new)
            return
        # The object has not been seen (yet): park the Event until it arrives.
        park = f"uid:{target}" if target else f"ref:{ref.kind}/{ref.namespace}/{ref.name}"
        bucket = self._orphan_events.get(park)
        if bucket is None:
            bucket = self._orphan_events[park] = {}
            if len(self._orphan_events) > self.max_orphan_events:
                self._orphan_events.popitem(last=False)
        self._file_event(bucket, key, new)

    def _file_event(self, bucket: dict[str, EventRow], key: str, row: EventRow) -> None:
        bucket.pop(key, None)  # an updated Event (series count) moves to the end
        bucket[key] = row
        if len(bucket) > self.events_per_object:
            del bucket[next(iter(bucket))]

    def _adopt_events(self, kind: str, row: Row | None, uid: str) -> None:
        if not self._orphan_events or row is None:
            return
        parked = [self._orphan_events.pop(f"uid:{uid}", None)]
        parked.append(self._orphan_events.pop(f"ref:{kind}/{row.namespace}/{row.name}", None))
        for bucket in parked:
            if bucket:
                target = self._events.setdefault(uid, {})
                for key, ev in bucket.items():
                    self._file_event(target, key, ev)

    # ------------------------------------------------------------------ lanes

    def _touch_lane(self, pod: PodRow, seed_from: PodRow | None) -> Lane:
        lane = self.lanes.get(pod.uid)
        if lane is not None:
            self.lanes.move_to_end(pod.uid)
            return lane
        lane = (
            seeded_lane(seed_from)
            if seed_from is not None
            else Lane(pod.uid, pod.namespace, pod.name, pod.node_name)
        )
        self.lanes[pod.uid] = lane
        if len(self.lanes) > self.max_lanes:
            uid, _ = self.lanes.popitem(last=False)
            if uid not in self._by_uid:
                self._events.pop(uid, None)
        return lane

    def _lane_pod(self, old: PodRow | None, new: PodRow | None, t: float) -> None:
        pod = new if new is not None else old
        if pod is None:
            return
        marks = _pod_marks(old, new)
        if marks:
            # Only pods with something to record get (or keep refreshing) a lane.
            lane = self._touch_lane(pod, old)
            for mark, detail in marks:
                lane.add(t, mark, detail)
            if new is None:
                lane.gone = True
            elif new.node_name:
                lane.node = new.node_name

    def _lane_slice(
        self, before: dict[str, Membership], after: dict[str, Membership], t: float
    ) -> None:
        pods = self._rows.get("Pod", {})
        for uid in before.keys() | after.keys():
            b = before.get(uid)
            a = after.get(uid)
            if b is not None and a is not None and b.endpoint == a.endpoint:
                continue
            lane = self.lanes.get(uid)
            if lane is None:
                where = self._by_uid.get(uid)
                pod = pods.get(where[1]) if where is not None and where[0] == "Pod" else None
                if not isinstance(pod, PodRow):
                    continue  # an endpoint of a pod kwatch does not watch
                lane = self._touch_lane(pod, pod)
            else:
                self.lanes.move_to_end(uid)
            if a is None:
                if b is not None:
                    lane.add(t, LaneMark.ENDPOINT_LEFT, b.slice_name)
                continue
            slice_name = a.slice_name
            ep = a.endpoint
            if b is None:
                lane.add(t, LaneMark.ENDPOINT_JOINED, slice_name)
                if ep.is_terminating:
                    lane.add(t, LaneMark.ENDPOINT_TERMINATING, slice_name)
                elif ep.is_ready:
                    lane.add(t, LaneMark.ENDPOINT_READY, slice_name)
                continue
            prev = b.endpoint
            if ep.is_terminating and not prev.is_terminating:
                lane.add(t, LaneMark.ENDPOINT_TERMINATING, slice_name)
            elif ep.is_ready != prev.is_ready:
                mark = LaneMark.ENDPOINT_READY if ep.is_ready else LaneMark.ENDPOINT_NOT_READY
                lane.add(t, mark, slice_name)

    def dismiss_lane(self, uid: str) -> None:
        self.lanes.pop(uid, None)
        if uid not in self._by_uid:
            self._events.pop(uid, None)

    def lane(self, uid: str) -> Lane | None:
        """The recorded lane, else one seeded from the pod's timestamps (not stored)."""
        lane = self.lanes.get(uid)
        if lane is not None:
            return lane
        row = self.by_uid(uid)
        return seeded_lane(row) if isinstance(row, PodRow) else None

    # ------------------------------------------------------------------ queries

    def get(self, kind: str, key: str) -> Row | None:
        return self._rows.get(kind, {}).get(key)

    def by_uid(self, uid: str) -> Row | None:
        where = self._by_uid.get(uid)
        if where is None:
            return None
        return self._rows[where[0]].get(where[1])

    def rows(self, kind: str) -> Mapping[str, Row]:
        """Read-only key → row view of one kind (live: reflects later applies; for a
        kind never seen, an empty view, so that reading creates nothing)."""
        table = self._rows.get(kind)
        return _NO_ROWS if table is None else MappingProxyType(table)

    def children(self, uid: str) -> list[Row]:
        out = []
        for child in self._children.get(uid, ()):
            row = self.by_uid(child)
            if row is not None:
                out.append(row)
        return out

    def active_children(self, uid: str) -> int:
        """Children of `uid` without a deletionTimestamp (O(1))."""
        return self._active_children.get(uid, 0)

    def endpoints_of_pod(self, uid: str) -> list[Membership]:
        return list(self._pod_eps.get(uid, {}).values())

    def slices_of_service(self, namespace: str, name: str) -> list[EndpointSliceRow]:
        table = self._rows.get("EndpointSlice", {})
        out = []
        for key in self._service_slices.get((namespace, name), ()):
            row = table.get(key)
            if isinstance(row, EndpointSliceRow):
                out.append(row)
        return out

    def events_for(self, uid: str) -> list[EventRow]:
        """The object's latest Events (oldest first, at most `events_per_object`)."""
        return list(self._events.get(uid, {}).values())

    def pod_count_on_node(self, name: str) -> int:
        return len(self._node_pods.get(name, ()))

    def pods_on_node(self, name: str) -> list[PodRow]:
        table = self._rows.get("Pod", {})
        out = []
        for key in self._node_pods.get(name, ()):
            row = table.get(key)
            if isinstance(row, PodRow):
                out.append(row)
        return out

    def counts(self) -> dict[str, int]:
        return {kind: len(table) for kind, table in self._rows.items()}


def _pod_marks(old: PodRow | None, new: PodRow | None) -> list[tuple[LaneMark, str]]:
    """The lane marks one pod change makes, in the order they are recorded."""
    if new is None:
        return [(LaneMark.GONE, "")]
    marks: list[tuple[LaneMark, str]] = []
    if old is None:
        marks.append((LaneMark.PENDING, ""))
    if new.node_name and (old is None or not old.node_name):
        marks.append((LaneMark.SCHEDULED, new.node_name))
    if old is None or old.containers != new.containers:
        before = {c.name: c.state for c in old.containers} if old is not None else {}
        for c in new.containers:
            if c.state != before.get(c.name):
                if c.state == "running":
                    marks.append((LaneMark.RUNNING, c.name))
                elif c.state == "terminated":
                    marks.append((LaneMark.CONTAINER_TERMINATED, c.name))
    if new.ready != (old is not None and old.ready):
        marks.append((LaneMark.READY if new.ready else LaneMark.NOT_READY, ""))
    if new.deleted is not None and (old is None or old.deleted is None):
        marks.append((LaneMark.DELETION_REQUESTED, str(new.deletion_grace or "")))
    return marks


def seeded_lane(pod: PodRow) -> Lane:
    """A lane reconstructed from a pod's own timestamps (for pods met mid-life)."""
    return Lane(pod.uid, pod.namespace, pod.name, pod.node_name, _seed=pod)


def seed_entries(pod: PodRow) -> list[LaneEntry]:
    """Lane marks recoverable from a pod's timestamps (one-second resolution)."""
    marks: list[LaneEntry] = []
    if pod.created is not None:
        marks.append(LaneEntry(pod.created, LaneMark.PENDING, "", False))
    sched = pod.condition("PodScheduled")
    if pod.node_name and sched is not None and sched.is_true and sched.t is not None:
        marks.append(LaneEntry(sched.t, LaneMark.SCHEDULED, pod.node_name, False))
    for c in pod.containers:
        if c.started_at is not None:
            marks.append(LaneEntry(c.started_at, LaneMark.RUNNING, c.name, False))
        if c.state == "terminated" and c.finished_at is not None:
            marks.append(LaneEntry(c.finished_at, LaneMark.CONTAINER_TERMINATED, c.name, False))
    ready = pod.condition("Ready")
    if ready is not None and ready.t is not None and ready.status in ("True", "False"):
        if ready.is_true:
            marks.append(LaneEntry(ready.t, LaneMark.READY, "", False))
        elif any(m.mark is LaneMark.RUNNING for m in marks):
            marks.append(LaneEntry(ready.t, LaneMark.NOT_READY, "", False))
    if pod.deleted is not None:
        # deletionTimestamp is the deadline (request time + grace period).
        requested = pod.deleted - (pod.deletion_grace or 0)
        grace = str(pod.deletion_grace or "")
        marks.append(LaneEntry(requested, LaneMark.DELETION_REQUESTED, grace, False))
    marks.sort(key=lambda e: e.t)
    return marks
