"""DemoApiServer: an in-memory Kubernetes API server on 127.0.0.1.

It speaks the real REST + watch protocol over HTTP(S), so unmodified clients
(kubernetes_asyncio, client-go, kubectl, kwatch's watch engine) work against it. The
demo cluster's controllers, scheduler and kubelets are its API clients, and it is the
server kwatch's watch-engine tests run against; the fault-injection hooks
(`middlewares`, `close_watches`, `compact`, `forbidden`, `request_log`) exist for them.

The pieces live in kwatch.demo.api: storage (objects, resourceVersions, history),
handlers (REST), watch_stream, selectors, patch/strategic, defaults, discovery, certs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from kwatch.demo.api import certs
from kwatch.demo.api.errors import ApiError
from kwatch.demo.api.handlers import (
    HEALTH_PATHS,
    RestHandler,
    Settings,
    WatchTracker,
    error_response,
)
from kwatch.demo.api.nodes import fake_node
from kwatch.demo.api.storage import Storage

JSON = dict[str, Any]
RequestLog = deque[tuple[str, str, dict[str, str]]]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Paths anyone may read, as the real server's system:public-info-viewer role allows.
_ANONYMOUS_PATHS = (*HEALTH_PATHS, "/version")
_SHUTDOWN_TIMEOUT = 0.5


class DemoApiServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        token: str | None = None,
        history_size: int = 2000,
        bookmark_interval: float = 60.0,
        expired_as_http_410: bool = False,
        middlewares: Sequence[Middleware] = (),
        cert_dir: str | None = None,
        clock: Callable[[], float] | None = None,
        request_log_size: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.token: str = token or secrets.token_urlsafe(32)
        self.url = ""
        self.ca_file: str | None = None
        self._ca_pem: bytes | None = None
        self._cert_dir = cert_dir
        self._own_cert_dir: str | None = None
        self._extra_middlewares = tuple(middlewares)
        self.storage = Storage(history_size=history_size, clock=clock or time.time)
        self._settings = Settings(bookmark_interval=bookmark_interval,
                                  expired_as_http_410=expired_as_http_410)
        self._tracker = WatchTracker()
        self.request_log: RequestLog = deque(maxlen=request_log_size)
        self._runner: web.AppRunner | None = None
        self._node_seq = 0
        self._bootstrap()

    # -- knobs tests flip at run time -------------------------------------------------

    @property
    def forbidden(self) -> set[str]:
        """Resource plurals (e.g. {"leases"}) every request for which gets 403."""
        return self._settings.forbidden

    @forbidden.setter
    def forbidden(self, value: set[str]) -> None:
        self._settings.forbidden = set(value)

    @property
    def bookmark_interval(self) -> float:
        return self._settings.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, value: float) -> None:
        self._settings.bookmark_interval = value

    @property
    def expired_as_http_410(self) -> bool:
        return self._settings.expired_as_http_410

    @expired_as_http_410.setter
    def expired_as_http_410(self, value: bool) -> None:
        self._settings.expired_as_http_410 = value

    @property
    def watch_count(self) -> int:
        """Watch streams open right now."""
        return self._tracker.count

    # -- lifecycle --------------------------------------------------------------------

    def _bootstrap(self) -> None:
        """What a fresh cluster has: the system namespaces and the `kubernetes` Service."""
        for ns in SYSTEM_NAMESPACES:
            self.storage.create("namespaces", {"metadata": {"name": ns}},
                                manager="kube-apiserver")
        self.storage.create("services", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }, manager="kube-apiserver")

    def _ssl_context(self) -> ssl.SSLContext:
        directory = self._cert_dir
        if directory is None:
            directory = self._own_cert_dir = tempfile.mkdtemp(prefix="kwatch-demo-certs-")
        made = certs.generate(directory, hosts=_cert_hosts(self.host))
        self.ca_file = made.ca_file
        self._ca_pem = made.ca_pem
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(made.cert_file, made.key_file)
        # HTTP/1.1 only: watch streams rely on chunked encoding, and Go clients then
        # do not try HTTP/2.
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _app(self) -> web.Application:
        handler = RestHandler(self.storage, self._settings, self._tracker)
        app = web.Application(
            middlewares=[self._log_middleware(), self._auth_middleware(),
                         *self._extra_middlewares],
            client_max_size=64 * 1024 * 1024,
        )
        app.router.add_route("*", "/{tail:.*}", handler.handle)
        return app

    async def start(self) -> None:
        """Bind and serve; sets `url` (e.g. https://127.0.0.1:PORT)."""
        ssl_ctx = self._ssl_context() if self.tls else None
        # handler_cancellation: a client that hangs up cancels its handler, so a watch
        # stream is released at once rather than at its next write.
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=_SHUTDOWN_TIMEOUT,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_ctx)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{host}:{self.port}"
        self._settings.server_address = f"{host}:{self.port}"

    async def stop(self) -> None:
        """Close watches and the listener; returns promptly (well under a second)."""
        await self.close_watches(wait=0.3)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_cert_dir is not None:
            shutil.rmtree(self._own_cert_dir, ignore_errors=True)
            self._own_cert_dir = None

    async def __aenter__(self) -> DemoApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- fault injection ---------------------------------------------------------------

    async def close_watches(self, wait: float = 2.0) -> None:
        """End every open watch stream normally (a clean end of the chunked body), and
        wait up to `wait` seconds for the streams to finish."""
        for w in list(self.storage.watchers()):
            w.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._tracker.idle()

    def compact(self) -> None:
        """Forget all history: watches and continue tokens from older RVs get 410."""
        self.storage.compact()

    # -- cluster helpers ---------------------------------------------------------------

    def add_nodes(self, n: int, prefix: str = "node-") -> list[str]:
        """Register `n` Ready nodes, named prefix1, prefix2, ... (the first free names)."""
        nodes = self.storage.collection(self.storage.resolve("nodes"))
        names: list[str] = []
        i = 0
        while len(names) < n:
            i += 1
            name = f"{prefix}{i}"
            if nodes.get(name) is not None:
                continue
            # A server-wide sequence number keeps node IPs unique across prefixes.
            self._node_seq += 1
            self.storage.create("nodes", fake_node(name, self._node_seq, self.storage.now()),
                                manager="kubelet")
            names.append(name)
        return names

    def kubeconfig(self, context: str = "kwatch-demo", user: str = "kwatch") -> JSON:
        """A standard kubeconfig dict for this server (CA inline, bearer token)."""
        cluster: JSON = {"server": self.url}
        if self._ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": user, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": user,
                                                        "namespace": "default"}}],
            "current-context": context,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike[str], context: str = "kwatch-demo") -> None:
        """Write kubeconfig(context) as YAML, readable by the owner only (it holds a token)."""
        text = yaml.safe_dump(self.kubeconfig(context), sort_keys=False)
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    # -- middlewares -------------------------------------------------------------------

    def _log_middleware(self) -> Middleware:
        @web.middleware
        async def log_request(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.request_log.append((request.method, request.path, dict(request.query)))
            return await handler(request)

        return log_request

    def _auth_middleware(self) -> Middleware:
        expected = f"Bearer {self.token}"

        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path.rstrip("/")
            if path in _ANONYMOUS_PATHS:
                return await handler(request)
            if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
                return error_response(ApiError("Unauthorized", "Unauthorized"))
            return await handler(request)

        return authenticate


def _cert_hosts(host: str) -> tuple[str, ...]:
    hosts = ["127.0.0.1", "localhost", "::1"]
    if host not in hosts and host not in ("0.0.0.0", "::"):
        hosts.append(host)
    return tuple(hosts)


__all__ = ["DemoApiServer", "Middleware"]
