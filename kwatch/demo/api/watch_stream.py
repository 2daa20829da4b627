"""Serve one watch: a chunked HTTP/1.1 response, one JSON event per line.

The stream sends the watcher's initial snapshot, then whatever storage queued, flushing
after each batch; BOOKMARKs when the client allowed them and nothing is queued (so a
bookmark never claims a resourceVersion whose events are still unsent); and ends
cleanly at `timeoutSeconds`, on `close()`, or when the watcher fell too far behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from kwatch.demo.api.entry import Entry
from kwatch.demo.api.watchers import Watcher

_INITIAL_BATCH = 500
# Bytes per write while catching up on a backlog. Why: the TLS transport encrypts a
# write whole before sending any of it, so one 150 MB write of replayed history kept
# the client waiting over a second for its first event; bounded writes stream it.
_WRITE_BYTES = 256 * 1024
# How often an idle stream checks that its client is still connected (a safety net:
# the server cancels the handler of a client that hangs up).
_LIVENESS_CHECK = 5.0


@dataclass(frozen=True, slots=True)
class StreamOptions:
    kind: str
    api_version: str
    timeout: float | None  # seconds; None = the server's default (30-60 min, randomized)
    bookmarks: bool
    bookmark_interval: float


def bookmark_line(kind: str, api_version: str, rv: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, object] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {"kind": kind, "apiVersion": api_version, "metadata": meta}
    return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def error_line(status: dict[str, object]) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": status}) + b"\n"


def start_response() -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"},
    )
    resp.enable_chunked_encoding()
    return resp


async def stream(
    request: web.Request,
    watcher: Watcher,
    options: StreamOptions,
    current_rv: Callable[[], int],
) -> web.StreamResponse:
    resp = start_response()
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    timeout = options.timeout or random.uniform(1800.0, 3600.0)
    deadline = loop.time() + timeout

    def bookmark_due(now: float) -> float:
        # Like the real cacher: every interval, and once more ~2 s before the deadline
        # so a client's next watch can start from a fresh resourceVersion.
        due = now + options.bookmark_interval
        return min(due, deadline - 2.0) if deadline - 2.0 > now else due

    next_bookmark = bookmark_due(loop.time())
    with contextlib.suppress(ConnectionError):
        await _send_initial(resp, watcher, options)
        while True:
            lines = watcher.drain()
            if lines:
                await write_lines(resp, lines)
            if watcher.closed and not watcher.has_pending:
                break
            now = loop.time()
            if now >= deadline:
                break
            if watcher.has_pending:
                continue  # queued while we were writing
            if options.bookmarks and now >= next_bookmark:
                next_bookmark = bookmark_due(now)
                rv = current_rv()
                # Nothing is queued, so every event up to `rv` has been sent; a bookmark
                # that would not move the client forward is not sent.
                if rv > watcher.last_rv:
                    watcher.last_rv = rv
                    await resp.write(bookmark_line(options.kind, options.api_version, rv))
                continue
            wait = min(deadline - now, _LIVENESS_CHECK)
            if options.bookmarks:
                wait = min(wait, next_bookmark - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await watcher.wakeup.wait()
            if request.transport is None or request.transport.is_closing():
                return resp  # the client went away
        await resp.write_eof()
    return resp


async def write_lines(resp: web.StreamResponse, lines: list[bytes]) -> None:
    """Write lines in writes of about `_WRITE_BYTES` (one write when they are few)."""
    start = size = 0
    for i, line in enumerate(lines):
        size += len(line)
        if size >= _WRITE_BYTES:
            await resp.write(b"".join(lines[start : i + 1]))
            start, size = i + 1, 0
    if start < len(lines):
        await resp.write(b"".join(lines[start:]))


async def _send_initial(resp: web.StreamResponse, watcher: Watcher, options: StreamOptions) -> None:
    initial: list[Entry] = watcher.initial
    watcher.initial = []
    for i in range(0, len(initial), _INITIAL_BATCH):
        chunk = initial[i : i + _INITIAL_BATCH]
        await write_lines(resp, [b'{"type":"ADDED","object":' + watcher.render(e) + b"}\n"
                                 for e in chunk])
    if watcher.initial_end_rv is not None:
        await resp.write(bookmark_line(options.kind, options.api_version, watcher.initial_end_rv,
                                       initial_end=True))


async def stream_error(request: web.Request, status: dict[str, object]) -> web.StreamResponse:
    """A watch that cannot start (too old RV): 200, one ERROR event, then a clean end."""
    resp = start_response()
    await resp.prepare(request)
    with contextlib.suppress(ConnectionError):
        await resp.write(error_line(status))
        await resp.write_eof()
    return resp
