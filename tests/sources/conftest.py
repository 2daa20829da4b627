"""Fixtures for the watch-engine tests: the demo API server over HTTPS, a kubeconfig
for it, fault injection through its aiohttp middlewares, and a mirror sink.

Every engine test goes the way the CLI does: kubeconfig file → kubernetes_asyncio
(through ``connect``) → TLS → DemoApiServer.

Helpers are reached through the ``kit`` fixture, not imported: tests/ has no packages,
so ``import conftest`` could pick up another directory's conftest. Test modules import
the names below under TYPE_CHECKING only, for annotations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from kwatch.core.events import JSON, EventType, KEvent, object_key
from kwatch.core.kinds import POD, ResourceKind
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.backoff import Backoff
from kwatch.sources.kube import WatchEngine
from kwatch.sources.kubeconfig import Connection, connect

# Fast enough for tests, still exercising the same code paths as the defaults.
FAST_BACKOFF = Backoff(initial=0.02, maximum=0.2, jitter=0.1)


# -- waiting ----------------------------------------------------------------------------


async def eventually(
    predicate: Callable[[], bool], within: float = 5.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


# -- the sink ------------------------------------------------------------------------------


class Mirror:
    """A minimal store: applies batches to key → object, remembers every batch."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], JSON] = {}
        self.batches: list[list[KEvent]] = []
        self.fail_when: Callable[[Sequence[KEvent]], bool] | None = None

    def __call__(self, batch: Sequence[KEvent]) -> None:
        batch = list(batch)
        if self.fail_when is not None and self.fail_when(batch):
            self.fail_when = None  # fail once
            raise RuntimeError("sink exploded")
        self.batches.append(batch)
        for ev in batch:
            if ev.is_marker:
                continue
            key = (ev.kind, object_key(ev.obj))
            if ev.type is EventType.DELETED:
                self.objects.pop(key, None)
            else:
                self.objects[key] = ev.obj

    def events(self, kind: str | None = None) -> list[KEvent]:
        return [e for b in self.batches for e in b if kind is None or e.kind == kind]

    def versions(self, kind: str) -> dict[str, str]:
        """object key → resourceVersion, as the mirror has it."""
        return {
            k: str(o["metadata"]["resourceVersion"])
            for (kd, k), o in self.objects.items()
            if kd == kind
        }


def server_versions(
    server: DemoApiServer, plural: str, group: str = "", *, label_selector: str = ""
) -> dict[str, str]:
    """object key → resourceVersion, as the server has it right now."""
    listed = server.storage.list(plural, group=group, label_selector=label_selector)
    return {object_key(o): str(o["metadata"]["resourceVersion"]) for o in listed["items"]}


def pod(name: str, namespace: str = "default", **labels: str) -> JSON:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def add_pods(
    server: DemoApiServer, names: Iterable[str], namespace: str = "default", **labels: str
) -> None:
    for n in names:
        server.storage.create("pods", pod(n, namespace, **labels), namespace=namespace)


def delete_pod(server: DemoApiServer, name: str, namespace: str = "default") -> None:
    server.storage.delete("pods", name, namespace=namespace, grace_period_seconds=0)


# -- fault injection ---------------------------------------------------------------------

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    path: str
    watch: bool | None  # None: lists and watches alike
    respond: Responder
    times: int
    hits: list[float] = field(default_factory=list)  # monotonic time of each hit

    def matches(self, request: web.Request) -> bool:
        if self.times <= 0 or not request.path.startswith(self.path):
            return False
        is_watch = request.query.get("watch") in ("1", "true")
        return self.watch is None or self.watch == is_watch


class Faults:
    """Rules the server's middleware consults before the real handler runs."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []
        # (monotonic time, path, query) of every resource request, faulted or not.
        self.seen: list[tuple[float, str, dict[str, str]]] = []

    def add(
        self,
        respond: Responder,
        *,
        path: str = "/api/v1/pods",
        watch: bool | None = True,
        times: int = 1,
    ) -> Fault:
        rule = Fault(path, watch, respond, times)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        for r in self.rules:
            r.times = 0

    def watches(self, path: str = "/api/v1/pods") -> list[tuple[float, dict[str, str]]]:
        return [(t, q) for t, p, q in self.seen if p == path and q.get("watch") in ("1", "true")]

    def lists(self, path: str = "/api/v1/pods") -> list[tuple[float, dict[str, str]]]:
        return [(t, q) for t, p, q in self.seen if p == path and "watch" not in q]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(("/api/", "/apis/")):
            self.seen.append((time.monotonic(), request.path, dict(request.query)))
        for rule in self.rules:
            if rule.matches(request):
                rule.times -= 1
                rule.hits.append(time.monotonic())
                return await rule.respond(request)
        return await handler(request)


def status(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
            "metadata": {},
        }
        return web.Response(
            status=code, body=orjson.dumps(body), headers=headers, content_type="application/json"
        )

    return respond


def stream_lines(*lines: bytes, hang: bool = False) -> Responder:
    """A 200 watch stream that sends `lines`, then ends (or hangs with nothing more)."""

    async def respond(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for line in lines:
            await resp.write(line)
        if hang:
            await asyncio.sleep(3600)  # cancelled when the client goes away
        await resp.write_eof()
        return resp

    return respond


def silent_stream() -> Responder:
    return stream_lines(hang=True)


def watch_line(type_: str, obj: JSON) -> bytes:
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


class Kit:
    """The helpers above, for test modules (see the module docstring)."""

    eventually = staticmethod(eventually)
    server_versions = staticmethod(server_versions)
    pod = staticmethod(pod)
    add_pods = staticmethod(add_pods)
    delete_pod = staticmethod(delete_pod)
    status = staticmethod(status)
    stream_lines = staticmethod(stream_lines)
    silent_stream = staticmethod(silent_stream)
    watch_line = staticmethod(watch_line)
    FAST_BACKOFF = FAST_BACKOFF


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


# -- server, connection, engine ---------------------------------------------------------


@pytest.fixture
def faults() -> Faults:
    return Faults()


ServerFactory = Callable[..., Awaitable[DemoApiServer]]


@pytest.fixture
async def make_server(faults: Faults) -> AsyncIterator[ServerFactory]:
    servers: list[DemoApiServer] = []

    async def make(**kwargs: Any) -> DemoApiServer:
        kwargs.setdefault("token", "kwatch-test-token")
        srv = DemoApiServer(middlewares=(faults.middleware,), **kwargs)
        await srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        await srv.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> DemoApiServer:
    return await make_server()


ConnFactory = Callable[[DemoApiServer], Awaitable[Connection]]


@pytest.fixture
async def make_conn(tmp_path: Path) -> AsyncIterator[ConnFactory]:
    conns: list[Connection] = []

    async def make(srv: DemoApiServer) -> Connection:
        path = tmp_path / f"kubeconfig-{len(conns)}"
        srv.write_kubeconfig(path, "kwatch-test")
        conn = await connect(str(path), None)
        conns.append(conn)
        return conn

    yield make
    for c in conns:
        await c.close()


@pytest.fixture
async def conn(server: DemoApiServer, make_conn: ConnFactory) -> Connection:
    return await make_conn(server)


@pytest.fixture
def mirror() -> Mirror:
    return Mirror()


EngineFactory = Callable[..., Awaitable[WatchEngine]]


@pytest.fixture
async def make_engine(mirror: Mirror) -> AsyncIterator[EngineFactory]:
    engines: list[WatchEngine] = []

    async def make(
        conn: Connection,
        kinds: Sequence[ResourceKind] = (POD,),
        *,
        sync: bool = True,
        **kwargs: Any,
    ) -> WatchEngine:
        kwargs.setdefault("backoff", FAST_BACKOFF)
        kwargs.setdefault("inactivity_timeout", 5.0)
        kwargs.setdefault("unavailable_retry", 0.3)
        kwargs.setdefault("watch_timeout_range", (60, 120))
        engine = WatchEngine(conn, mirror, kinds=kinds, **kwargs)
        engines.append(engine)
        await engine.start()
        if sync:
            assert await engine.wait_synced(10.0), "engine did not sync"
        return engine

    yield make
    for e in engines:
        await e.stop()
