"""One reflector: LIST then WATCH one collection, forever (DESIGN.md §3).

A ``Reflector`` does paged LIST (prefetching the next page while it slims this one)
or a streaming list, then WATCH → re-WATCH …, and turns what it reads into ``KEvent``
batches for the sink. It keeps only key → (uid, resourceVersion) between lists, so a
relist can tell what changed and what vanished. Failures are sorted into three
outcomes: 410 → relist; 401/403/404 → unavailable, retried slowly; anything else
(network, 5xx, 429, timeouts, malformed data) → back off and retry. ``WatchEngine``
(kube.py) plans the reflectors and supervises them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from kwatch.core.events import JSON, EventSink, EventType, KEvent
from kwatch.core.kinds import ResourceKind
from kwatch.core.slim import slim
from kwatch.sources.backoff import BackoffTimer
from kwatch.sources.health import KindHealth, State
from kwatch.sources.kubeconfig import Query, status_message

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
# client-go: a watch that closes this fast with nothing in it is an error, not an end.
MIN_WATCH_SECONDS = 1.0
# After this many objects in one list, freeze them out of the cyclic GC's sight: they
# are long-lived, and otherwise the first collection after the list (the GC is paused
# during it) walks everything the list kept (~70 ms for 5,000 pods in a dict), and
# each older generation walks it again later. JSON makes no cycles, so nothing leaks.
GC_FREEZE_THRESHOLD = 1_000
# LIST page size and list events per sink batch. Smaller than client-go's 500 because
# the cost of a big list here is memory traffic, not requests: orjson materialises a
# whole page at once (a 500-pod page is ~15 MB of Python objects, several times the
# L2 cache), then slim() and the sink walk those objects again. With 250-pod pages, one
# page per sink batch, the sink builds rows from bodies slim() just touched and they are
# freed while still cached. Measured on 50k ~5 KB pods (benchmarks/README.md): batches
# of 2000 → 500 cut list CPU ~30%; pages of 500 → 250 cut it ~20% more. The price is
# twice the requests (200 for 50k pods), each a cheap watch-cache read on the server.
PAGE_SIZE = 250
LIST_BATCH_SIZE = PAGE_SIZE
# How many times a list may restart because its continue token expired before we
# treat it as a failure worth backing off for.
MAX_LIST_RESTARTS = 3
# The BOOKMARK that ends the initial events of a streaming list (sendInitialEvents).
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# Statuses meaning "this server does not do streaming lists": fall back to LIST.
_NO_STREAMING = frozenset({400, 422})

_WATCH_TYPES = {
    "ADDED": EventType.ADDED,
    "MODIFIED": EventType.MODIFIED,
    "DELETED": EventType.DELETED,
}


class Requester(Protocol):
    """What the engine needs from a connection (``kubeconfig.Connection`` is one)."""

    async def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        *,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse: ...


# -- outcomes of one request, as the reflector loop needs to tell them apart ----------


class _Expired(Exception):
    """410 Gone: our resourceVersion (or continue token) is too old → relist."""


class _Unavailable(Exception):
    """401/403/404/400…: retrying soon will not help → mark unavailable, retry slowly."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


class _Retry(Exception):
    """Transient: network, 5xx, 429, timeouts, malformed data → back off and retry."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Target:
    kind: ResourceKind
    namespace: str | None  # None: all namespaces (or the kind's fixed one)
    label_selector: str | None

    @property
    def path(self) -> str:
        return self.kind.collection_path(self.namespace)

    @property
    def shown_namespace(self) -> str:
        return self.namespace or self.kind.fixed_namespace or ""


class Reflector:
    """LIST then WATCH one collection, forever, keeping key → (uid, resourceVersion)."""

    def __init__(
        self,
        target: Target,
        conn: Requester,
        sink: EventSink,
        *,
        page_size: int,
        clock: Callable[[], float],
        watch_timeout_range: tuple[float, float],
        inactivity_timeout: float,
        backoff: BackoffTimer,
        unavailable_retry: float,
        min_watch_seconds: float,
        list_batch_size: int,
        streaming_list: bool,
    ) -> None:
        self.target = target
        self._conn = conn
        self._sink = sink
        self._page_size = page_size
        self._clock = clock
        self._watch_timeout_range = watch_timeout_range
        self._timer = backoff
        self._unavailable_retry = unavailable_retry
        self._min_watch_seconds = min_watch_seconds
        self._list_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=max(inactivity_timeout, 30.0)
        )
        # sock_read is the inactivity timeout: aiohttp re-arms it on every byte
        # received, so a half-open connection surfaces as a TimeoutError.
        self._watch_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=inactivity_timeout
        )
        self.health = KindHealth(target.kind.kind, target.shown_namespace)
        self.settled = asyncio.Event()  # first list done, or found unavailable
        # Only what a relist needs to compute deletions/changes — never the bodies.
        self._known: dict[str, tuple[str, str]] = {}
        self._out: list[KEvent] = []  # list batch being filled
        self._list_batch_size = list_batch_size
        self._emitted = False  # has the sink ever received an event from us?
        self._streaming = streaming_list  # try sendInitialEvents before paged LIST
        # key → (uid, rv) of the objects a streaming list has sent so far; None once
        # its initial-events-end bookmark arrived (the stream is a plain watch then).
        self._initial: dict[str, tuple[str, str]] | None = None
        self._rv = ""
        self._need_list = True
        self._listed_once = False
        self._watched_since_list = False
        self._expired_streak = 0
        self._unavailable_logged = ""
        ns = target.namespace
        self._marker_obj: JSON = {"metadata": {"namespace": ns}} if ns else {}

    # -- supervision ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug, or the sink raising: recover, never die
                h = self.health
                h.restarts += 1
                log.warning("reflector %s crashed; restarting", h.key, exc_info=True)
                # The store may have missed part of the batch that failed: make the
                # relist re-send every object (an empty rv never equals the listed one).
                self._known = {k: (uid, "") for k, (uid, _) in self._known.items()}
                self._need_list = True
                await self._sleep(self._timer.next_delay(), "backing-off", _describe(e))

    async def _loop(self) -> None:
        while True:
            try:
                if self._need_list and self._streaming:
                    try:
                        await self._stream_list()  # list and watch on one stream
                        continue
                    except _Unavailable as e:
                        if e.status not in _NO_STREAMING:
                            raise
                        log.info("%s: no streaming list (%s); using LIST", self.health.key, e)
                        self._streaming = False
                if self._need_list:
                    await self._list()
                await self._watch()
            except _Expired as e:
                self._need_list = True
                self._expired_streak += 1
                self.health.reason = f"expired: {e}"
                # A relist that itself meets 410 again must not spin.
                if self._expired_streak > 1:
                    await self._sleep(self._timer.next_delay(), "backing-off", f"expired: {e}")
            except _Unavailable as e:
                self._need_list = True
                if self._unavailable_logged != str(e):  # once, not on every slow retry
                    self._unavailable_logged = str(e)
                    log.warning("%s unavailable: %s", self.health.key, e)
                await self._sleep(self._unavailable_retry, "unavailable", str(e))
            except _Retry as e:
                delay = e.retry_after if e.retry_after is not None else self._timer.next_delay()
                await self._sleep(delay, "backing-off", str(e))

    async def _sleep(self, delay: float, state: State, reason: str) -> None:
        h = self.health
        h.state = state
        h.reason = reason
        h.next_retry_at = self._clock() + delay
        if state == "unavailable":
            self.settled.set()
        await asyncio.sleep(delay)

    def _set_healthy(self) -> None:
        # `reason` stays: the last problem is still worth showing in details.
        h = self.health
        h.state = "synced"
        h.next_retry_at = None
        self._unavailable_logged = ""

    # -- HTTP ---------------------------------------------------------------------------

    async def _get(
        self, query: list[tuple[str, str]], client_timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Send the request; network failures become _Retry."""
        try:
            return await self._conn.request(
                "GET", self.target.path, query, client_timeout=client_timeout
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise _Retry(f"request failed: {_describe(e)}") from e

    @staticmethod
    async def _check(resp: aiohttp.ClientResponse) -> None:
        status = resp.status
        if 200 <= status < 300:
            return
        try:
            body = await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError):
            body = b""
        msg = status_message(body)
        if status == 410:
            raise _Expired(msg)
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}: {msg}", _retry_after(resp.headers.get("Retry-After")))
        if status in (401, 403):
            word = "Unauthorized" if status == 401 else "Forbidden"
            raise _Unavailable(f"{word} ({status}): {msg}", status)
        if status == 404:
            raise _Unavailable(f"not served by this cluster (404): {msg}", status)
        raise _Unavailable(f"HTTP {status}: {msg}", status)

    # -- LIST ---------------------------------------------------------------------------

    async def _list(self) -> None:
        """Paged LIST, diffed against ``_known``, delivered as RESET … LISTED batches."""
        self._start_list()
        seen: dict[str, tuple[str, str]] = {}
        with _gc_paused():
            rv = await self._list_pages(seen)
            self._finish_list(seen, rv)

    def _start_list(self) -> None:
        self.health.state = "syncing"
        # Events a failed attempt diffed but never delivered are already in _known, so
        # this list would not send them again: they go first.
        leftover = [e for e in self._out if not e.is_marker]
        # RESET whenever the sink already heard from us (a relist, or a retried first
        # list that had flushed some pages): "what follows replaces that view".
        reset = KEvent(self._clock(), self.target.kind.kind, EventType.RESET, self._marker_obj)
        self._out = [reset, *leftover] if self._emitted else leftover

    def _finish_list(self, seen: dict[str, tuple[str, str]], rv: str) -> None:
        """Tombstones for what the list did not contain, LISTED, and we are synced."""
        h = self.health
        now = self._clock()
        known = self._known
        out = self._out
        for key in [k for k in known if k not in seen]:
            out.append(self._tombstone(key, known.pop(key), now))
        out.append(KEvent(now, self.target.kind.kind, EventType.LISTED, self._marker_obj, rv))
        self._rv = rv
        self._need_list = False
        self._watched_since_list = False
        if self._listed_once:
            h.relists += 1
        self._listed_once = True
        h.resource_version = rv
        self._flush()
        if len(seen) >= GC_FREEZE_THRESHOLD:
            # What the sink kept from this list is long-lived: take it out of the
            # cyclic GC's sight, or every full collection walks it again.
            gc.freeze()
        self._set_healthy()
        self.settled.set()

    async def _list_pages(self, seen: dict[str, tuple[str, str]]) -> str:
        """Fetch and apply every page; return the list's resourceVersion.

        The next page is requested *before* this one is slimmed and handed to the sink,
        so the server prepares page n+1 while we process page n.
        """
        restarts = 0
        rv = ""
        body = await self._fetch_page("")
        while True:
            items, cont, rv = self._parse_page(body, rv)
            del body
            prefetch: asyncio.Task[bytes] | None = None
            if cont:
                prefetch = asyncio.create_task(self._fetch_page(cont))
                await asyncio.sleep(0)  # let it put the request on the wire
            try:
                self._apply_items(items, seen)
            except BaseException:
                if prefetch is not None:
                    _abandon(prefetch)
                raise
            del items
            if prefetch is None:
                return rv
            try:
                body = await prefetch
            except _Expired as e:
                # The continue token outlived the server's compaction: start over from
                # a fresh snapshot. What we flushed already is in _known, so the new
                # snapshot is diffed against it and nothing is duplicated.
                restarts += 1
                if restarts > MAX_LIST_RESTARTS:
                    raise _Retry(f"list kept expiring: {e}") from e
                seen.clear()
                body = await self._fetch_page("")

    async def _fetch_page(self, cont: str) -> bytes:
        query = [("limit", str(self._page_size))]
        if self.target.label_selector:
            query.append(("labelSelector", self.target.label_selector))
        if cont:
            query.append(("continue", cont))
        resp = await self._get(query, self._list_timeout)
        async with resp:
            await self._check(resp)
            try:
                return await resp.read()
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                raise _Retry(f"list read failed: {_describe(e)}") from e

    def _parse_page(self, body: bytes, rv: str) -> tuple[list[JSON], str, str]:
        """→ (items, continue token, resourceVersion)."""
        self.health.last_event_at = self._clock()
        try:
            page = orjson.loads(body)
            meta = page.get("metadata") or {}
            items = page.get("items") or []
            if not isinstance(items, list):
                raise TypeError("items is not a list")
        except (orjson.JSONDecodeError, TypeError, AttributeError) as e:
            raise _Retry(f"malformed list response: {_describe(e)}") from e
        return items, str(meta.get("continue") or ""), str(meta.get("resourceVersion") or rv)

    def _apply_items(self, items: list[JSON], seen: dict[str, tuple[str, str]]) -> None:
        """Diff one page's items against _known into self._out (flushing full batches)."""
        now = self._clock()
        batch_size = self._list_batch_size
        # Popped, so each item is freed as soon as it is handled: what slim() dropped
        # (managedFields, mostly) goes while still in cache, not as a cold page at the end.
        items.reverse()
        while items:
            obj = items.pop()
            try:
                self._diff_item(obj, seen, now)
            except (KeyError, TypeError, AttributeError) as e:
                raise _Retry(f"malformed list item: {_describe(e)}") from e
            del obj
            # Outside the try: what the sink raises is a crash, not a malformed item.
            if len(self._out) >= batch_size:
                self._flush()

    def _diff_item(self, obj: JSON, seen: dict[str, tuple[str, str]], now: float) -> None:
        """One listed object: ADDED / MODIFIED / nothing, by its (uid, resourceVersion).

        The hot path of a big list: no per-object copies beyond ``slim``.
        """
        m = obj["metadata"]
        ns = m.get("namespace")
        name = m["name"]
        key = f"{ns}/{name}" if ns else name
        orv = m.get("resourceVersion", "")
        ident = (m.get("uid", ""), orv)
        seen[key] = ident
        prev = self._known.get(key)
        if prev == ident:
            return  # unchanged since we last saw it: nothing to send
        self._known[key] = ident
        kind = self.target.kind
        # List items omit kind/apiVersion; watch objects carry them.
        obj["kind"] = kind.kind
        obj["apiVersion"] = kind.api_version
        out = self._out
        if prev is None:
            out.append(KEvent(now, kind.kind, EventType.ADDED, slim(obj), orv))
        elif prev[0] != ident[0]:  # same name, new object: delete the old one first
            out.append(self._tombstone(key, prev, now))
            out.append(KEvent(now, kind.kind, EventType.ADDED, slim(obj), orv))
        else:
            out.append(KEvent(now, kind.kind, EventType.MODIFIED, slim(obj), orv))

    def _flush(self) -> None:
        """Hand the pending list batch to the sink and start a new one."""
        out = self._out
        self._out = []
        if out:
            self.health.events += sum(1 for e in out if not e.is_marker)
            self._emitted = True
            self._sink(out)

    def _tombstone(self, key: str, prev: tuple[str, str], now: float) -> KEvent:
        """DELETED for an object we only know by key: just enough to find it in a store."""
        ns, _, name = key.rpartition("/")
        meta: JSON = {"name": name, "uid": prev[0], "resourceVersion": prev[1]}
        if ns:
            meta["namespace"] = ns
        kind = self.target.kind
        obj: JSON = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta}
        return KEvent(now, kind.kind, EventType.DELETED, obj, prev[1])

    # -- WATCH --------------------------------------------------------------------------

    async def _watch(self) -> None:
        """One watch request from the last resourceVersion; returns when the server
        ends it normally."""
        if self._watched_since_list:
            self.health.reconnects += 1
        self._watched_since_list = True
        await self._open_stream([("resourceVersion", self._rv)])

    async def _stream_list(self) -> None:
        """A streaming list: one watch whose initial events are the list, ended by a
        bookmark annotated ``k8s.io/initial-events-end``, then live changes."""
        self._start_list()
        self._initial = {}
        try:
            await self._open_stream(
                [("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]
            )
            if self._initial is not None:
                raise _Retry("streaming list ended before its initial-events-end bookmark")
        finally:
            self._initial = None

    async def _open_stream(self, params: list[tuple[str, str]]) -> None:
        lo, hi = self._watch_timeout_range
        query = [
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            *params,
            ("timeoutSeconds", str(random.randint(int(lo), int(hi)))),
        ]
        if self.target.label_selector:
            query.append(("labelSelector", self.target.label_selector))
        loop = asyncio.get_running_loop()
        resp = await self._get(query, self._watch_timeout)
        async with resp:
            await self._check(resp)
            if self._initial is None:
                self._set_healthy()
            self._expired_streak = 0
            started = loop.time()
            try:
                lines = await self._read_stream(resp)
            except TimeoutError as e:  # first: aiohttp's read timeout is also a ClientError
                raise _Retry("watch stream silent for too long; reconnecting") from e
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as e:
                raise _Retry(f"watch stream broke: {_describe(e)}") from e
        if lines == 0 and loop.time() - started < self._min_watch_seconds:
            raise _Retry("watch ended at once with no events")

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> int:
        """Read lines until EOF, feeding the sink one batch per chunk; return line count."""
        content = resp.content
        pending: list[bytes] = []
        pending_len = 0
        lines = 0
        while True:
            chunk = await content.readany()
            if not chunk:
                if pending_len:
                    self.health.malformed += 1
                    raise _Retry("watch stream ended inside a line")
                return lines
            nl = chunk.rfind(b"\n")
            if nl < 0:
                pending.append(chunk)
                pending_len += len(chunk)
                if pending_len > MAX_LINE_BYTES:
                    self.health.malformed += 1
                    raise _Retry(f"watch line longer than {MAX_LINE_BYTES} bytes")
                continue
            if pending:
                pending.append(chunk[:nl])
                block = b"".join(pending)
                pending.clear()
            else:
                block = chunk[:nl]
            tail = chunk[nl + 1 :]
            if tail:
                pending.append(tail)
            pending_len = len(tail)
            # One GC pause per chunk instead of a collection every 700 allocations:
            # the generation thresholds count collections, so batching them also
            # spares most of the full collections over an ever larger store.
            with _gc_paused():
                raw_lines = block.split(b"\n")
                if self._initial is not None:
                    used = self._handle_initial_lines(raw_lines)
                    lines += used
                    raw_lines = raw_lines[used:]
                lines += self._handle_lines(raw_lines)

    def _handle_initial_lines(self, raw_lines: list[bytes]) -> int:
        """Lines of a streaming list's initial phase, diffed like list items; stops
        after the initial-events-end bookmark. Returns how many lines it consumed."""
        seen = self._initial
        assert seen is not None
        now = self._clock()
        self.health.last_event_at = now
        batch_size = self._list_batch_size
        for i, line in enumerate(raw_lines):
            if not line or line.isspace():
                continue
            try:
                ev = orjson.loads(line)
                typ = ev["type"]
                obj = ev["object"]
                if typ == "ADDED":
                    self._diff_item(obj, seen, now)
                elif typ == "ERROR":
                    raise _watch_error(obj)
                elif typ != "BOOKMARK":
                    raise ValueError(f"{typ} event before the initial-events-end bookmark")
                elif (obj["metadata"].get("annotations") or {}).get(INITIAL_EVENTS_END):
                    self._initial = None
                    self._finish_list(seen, str(obj["metadata"]["resourceVersion"]))
                    self._watched_since_list = True  # this stream was the first watch
                    return i + 1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                self.health.malformed += 1
                raise _Retry(f"malformed watch line: {_describe(e)}") from e
            if len(self._out) >= batch_size:
                self._flush()
        return len(raw_lines)

    def _handle_lines(self, raw_lines: list[bytes]) -> int:
        """Turn complete lines into one sink batch. Problems are raised *after* the
        good events before them went out, so nothing read is lost."""
        h = self.health
        kind = self.target.kind.kind
        known = self._known
        now = self._clock()
        out: list[KEvent] = []
        rv = self._rv
        problem: Exception | None = None
        n = 0
        for line in raw_lines:
            if not line or line.isspace():
                continue
            n += 1
            try:
                ev = orjson.loads(line)
                typ = ev["type"]
                obj = ev["object"]
                if typ == "BOOKMARK":
                    rv = obj["metadata"]["resourceVersion"]
                    continue
                etype = _WATCH_TYPES.get(typ)
                if etype is None:
                    if typ == "ERROR":
                        problem = _watch_error(obj)
                        break
                    raise ValueError(f"unknown watch event type {typ!r}")
                meta = obj["metadata"]
                orv = meta["resourceVersion"]
                ns = meta.get("namespace")
                key = f"{ns}/{meta['name']}" if ns else meta["name"]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                h.malformed += 1
                problem = _Retry(f"malformed watch line: {_describe(e)}")
                break
            if etype is EventType.DELETED:
                known.pop(key, None)
            else:
                known[key] = (meta.get("uid", ""), orv)
            rv = orv
            out.append(KEvent(now, kind, etype, slim(obj), orv))
        self._rv = rv
        h.resource_version = rv
        h.last_event_at = now
        if out:
            h.events += len(out)
            self._emitted = True
            self._sink(out)
        if problem is not None:
            raise problem
        return n


def _watch_error(status: Any) -> Exception:
    """An in-stream ERROR event: 410 means relist, anything else means re-watch."""
    if not isinstance(status, dict):
        return _Retry("watch ERROR event without a Status")
    code = status.get("code")
    msg = str(status.get("message") or status.get("reason") or "no message")
    if code == 410 or status.get("reason") in ("Expired", "Gone"):
        return _Expired(msg)
    return _Retry(f"watch ERROR {code}: {msg}")


def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel a task whose result no longer matters, without "never retrieved" noise."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the apiserver only sends the integer form)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _describe(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while we build many objects (a list, a chunk of watch
    events). JSON has no cycles, so nothing is missed; without this, collections run
    every 700 allocations and full ones re-walk the growing heap over and over.
    Counted, because several reflectors list at once."""
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()
