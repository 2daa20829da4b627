"""Event recording for every demo component: events.k8s.io/v1 Events, like client-go's.

What it mirrors from client-go's `tools/events` recorder, because kwatch derives "who did
it" and "what happened" from these fields exactly as it does on a real cluster:

- Events are named ``<regarding name>.<unix nanos in hex>`` in the regarding object's
  namespace (``default`` for cluster-scoped objects such as Nodes);
- ``reportingController`` / ``reportingInstance`` / ``action`` / ``reason`` / ``note`` /
  ``regarding`` (an ObjectReference, with ``fieldPath`` for a container) are set, and
  the legacy fields (firstTimestamp, count, source) are not: the real API server
  rejects them on events.k8s.io/v1;
- recording never blocks or fails the caller: Events go through one bounded queue and a
  background writer, and are dropped (with a debug log) when the queue is full or the
  write fails;
- isomorphic repeats (same regarding, reason, action, controller, related) within the
  series window become an ``EventSeries``: the first occurrence is created, later ones
  bump ``series.count`` / ``series.lastObservedTime`` on that same Event.

One deliberate difference: client-go writes a series on its second occurrence and then
only every 30 minutes; the demo patches the count on every repeat (coalesced while a
write is queued) so a viewer sees "x5" grow live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import Literal

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, ResourceKind
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.clock import Clock

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]

# client-go's isomorphic-event window (finishTime) and its sink queue length.
SERIES_WINDOW_SECONDS = 360.0
QUEUE_LIMIT = 1000
NOTE_LIMIT = 1024  # bytes; the API server rejects longer notes


def as_component(client: KubeClient, user_agent: str) -> KubeClient:
    """`client` sharing its session, but acting as the component `user_agent`.

    A component's identity shows twice: the API server attributes its writes
    (managedFields) to the User-Agent's first token, and its Events name it as
    reportingController. `KubeClient.with_user_agent` keeps the old User-Agent (the
    copied headers win over the new one), so the header is replaced here.
    """
    headers = {k: v for k, v in client.headers.items() if k.lower() != "user-agent"}
    return KubeClient(client.base_url, client.session, headers=headers, user_agent=user_agent)


def reference(
    obj: JSON, kind: ResourceKind | None = None, *, field_path: str | None = None
) -> JSON:
    """The ObjectReference of `obj` for an Event's `regarding` / `related`.

    Objects from a LIST carry no apiVersion/kind (only watch events and single GETs
    do), so callers holding listed objects pass `kind`.
    """
    meta = obj.get("metadata") or {}
    ref: JSON = {
        "apiVersion": obj.get("apiVersion") or (kind.api_version if kind else ""),
        "kind": obj.get("kind") or (kind.kind if kind else ""),
        "name": meta.get("name", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def _as_reference(regarding: JSON) -> JSON:
    # Accept a whole object (what controllers hold) or a ready reference (with fieldPath).
    return reference(regarding) if "metadata" in regarding else dict(regarding)


def _truncate(note: str) -> str:
    raw = note.encode()
    if len(raw) <= NOTE_LIMIT:
        return note
    return raw[:NOTE_LIMIT].decode(errors="ignore")


def _series_key(ref: JSON, related: JSON | None, reason: str, action: str, type_: str) -> str:
    # client-go keys on (action, reason, reportingController, regarding, related); the
    # regarding's resourceVersion is left out or no two occurrences would ever match.
    parts = [
        str(ref.get(f, "")) for f in ("kind", "namespace", "name", "uid", "fieldPath")
    ]
    rel = [str((related or {}).get(f, "")) for f in ("kind", "namespace", "name", "uid")]
    return "\x00".join([*parts, *rel, reason, action, type_])


@dataclass
class _Series:
    """One recorded Event and how many times it has been observed."""

    namespace: str
    name: str
    body: JSON  # as first created (recreated from this if the Event expired)
    count: int
    last_observed: float
    written: int = 0  # count already persisted (0: not created yet)
    queued: bool = False


class EventRecorder:
    """Posts events.k8s.io/v1 Events as `reporting_controller` (client-go's recorder).

    `event()` has the call shape of the controllers' recorder protocol, so every demo
    component can share this one. Call `await close()` (or `flush()`) before the client's
    session closes.
    """

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        reporting_controller: str,
        *,
        reporting_instance: str | None = None,
        series_window: float = SERIES_WINDOW_SECONDS,
    ) -> None:
        self.client = client
        self.clock = clock
        self.reporting_controller = reporting_controller
        # client-go's default instance is "<controller>-<hostname>"; kubelets pass their node.
        self.reporting_instance = (
            reporting_instance or f"{reporting_controller}-{socket.gethostname()}"
        )
        self.series_window = series_window
        self._series: dict[str, _Series] = {}
        self._queue: asyncio.Queue[_Series] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._last_nanos = 0
        self.dropped = 0

    def event(
        self,
        regarding: JSON,
        type_: str,
        reason: str,
        action: str,
        note: str,
        *,
        related: JSON | None = None,
    ) -> None:
        """Record an Event about `regarding` (an object or a reference); never blocks."""
        now = self.clock.now()
        ref = _as_reference(regarding)
        rel = _as_reference(related) if related is not None else None
        key = _series_key(ref, rel, reason, action, type_)
        series = self._series.get(key)
        if series is not None and now - series.last_observed <= self.series_window:
            series.count += 1
            series.last_observed = now
        else:
            series = self._new_series(ref, rel, type_, reason, action, note, now)
            self._series[key] = series
            self._expire(now)
        self._enqueue(series)

    def _new_series(
        self,
        ref: JSON,
        rel: JSON | None,
        type_: str,
        reason: str,
        action: str,
        note: str,
        now: float,
    ) -> _Series:
        namespace = str(ref.get("namespace") or "default")
        # Unique, increasing names even when two Events share a clock reading.
        nanos = max(int(now * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        name = f"{ref.get('name', 'event')}.{nanos:x}"
        body: JSON = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": self.clock.rfc3339_micro(now),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "note": _truncate(note),
            "type": type_,
            "regarding": ref,
        }
        if rel is not None:
            body["related"] = rel
        return _Series(namespace, name, body, count=1, last_observed=now)

    def _expire(self, now: float) -> None:
        # Bounded memory: forget series that can no longer be extended.
        if len(self._series) < 256:
            return
        stale = [k for k, s in self._series.items() if now - s.last_observed > self.series_window]
        for k in stale:
            del self._series[k]

    def _enqueue(self, series: _Series) -> None:
        if series.queued:
            return  # the queued write will carry the latest count
        if self._queue.qsize() >= QUEUE_LIMIT:
            self.dropped += 1
            log.debug("event queue full, dropping %s", series.body["reason"])
            return
        series.queued = True
        self._queue.put_nowait(series)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="event-recorder")

    async def _drain(self) -> None:
        while True:
            series = await self._queue.get()
            try:
                series.queued = False
                await self._write(series)
            finally:
                self._queue.task_done()

    async def _write(self, series: _Series) -> None:
        count = series.count
        path = EVENT.collection_path(series.namespace)
        series_field: JSON = {
            "count": count,
            "lastObservedTime": self.clock.rfc3339_micro(series.last_observed),
        }
        try:
            if series.written:
                if count == series.written:
                    return
                try:
                    await self.client.patch(f"{path}/{series.name}", {"series": series_field})
                except ApiError as e:
                    if e.code != 404:
                        raise
                    # Expired (the real server keeps Events for an hour): create it again.
                    await self.client.create(path, {**series.body, "series": series_field})
            else:
                body = dict(series.body)
                if count > 1:
                    body["series"] = series_field
                await self.client.create(path, body)
            series.written = count
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # Best effort, as in Kubernetes: an Event lost to a 4xx or a closing server
            # must never fail the component that reported it.
            log.debug("event %s not recorded: %r", series.body["reason"], e)

    async def flush(self) -> None:
        """Wait until every Event recorded so far has been written (or given up on)."""
        if self._worker is not None and not self._worker.done():
            await self._queue.join()

    async def close(self) -> None:
        """Flush, then stop the writer."""
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
