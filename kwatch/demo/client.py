"""A small raw-JSON Kubernetes API client for the demo's control plane components.

The demo's controllers, scheduler and kubelets are API clients, exactly like
kube-controller-manager: they only talk to the API server, over HTTP. This client gives
them typed verbs on raw JSON (orjson) and an informer (list + watch cache). It works
against the embedded API server and against a real kube-apiserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal

import aiohttp
import orjson

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import ResourceKind

log = logging.getLogger(__name__)

PatchType = Literal["merge", "strategic", "json"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class ApiError(Exception):
    """A non-2xx answer, carrying the Kubernetes Status reason and code."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class KubeClient:
    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        headers: Mapping[str, str] | None = None,
        user_agent: str = "kwatch-demo",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        # The API server attributes writes to the User-Agent's first token (managedFields).
        self.headers = {"Accept": "application/json", **(headers or {}), "User-Agent": user_agent}

    def with_user_agent(self, user_agent: str) -> KubeClient:
        return KubeClient(self.base_url, self.session, headers=self.headers, user_agent=user_agent)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        async with self.session.request(
            method, self.base_url + path, params=params, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise _error_from(resp.status, raw)
            result: JSON = orjson.loads(raw) if raw else {}
            return result

    async def get(self, path: str) -> JSON | None:
        try:
            return await self._call("GET", path)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> tuple[list[JSON], str]:
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        body = await self._call("GET", path, params=params)
        return list(body.get("items") or []), str(body.get("metadata", {}).get("resourceVersion"))

    async def create(self, path: str, obj: JSON) -> JSON:
        return await self._call("POST", path, body=obj)

    async def update(self, path: str, obj: JSON) -> JSON:
        return await self._call("PUT", path, body=obj)

    async def patch(self, path: str, patch: Any, patch_type: PatchType = "merge") -> JSON:
        return await self._call(
            "PATCH", path, body=patch, content_type=_PATCH_CONTENT_TYPES[patch_type]
        )

    async def delete(
        self, path: str, *, grace_period: int | None = None, uid: str | None = None
    ) -> JSON | None:
        opts: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            opts["gracePeriodSeconds"] = grace_period
        if uid is not None:
            opts["preconditions"] = {"uid": uid}
        try:
            return await self._call("DELETE", path, body=opts)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def watch(
        self,
        path: str,
        resource_version: str,
        *,
        timeout_seconds: int = 300,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, JSON]]:
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        async with self.session.get(
            self.base_url + path,
            params=params,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as resp:
            if resp.status >= 300:
                raise _error_from(resp.status, await resp.read())
            async for line in resp.content:
                if line.strip():
                    ev = orjson.loads(line)
                    yield str(ev.get("type")), ev.get("object") or {}


def _error_from(status: int, raw: bytes) -> ApiError:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ApiError(status, "Unknown", raw[:200].decode(errors="replace"))
    return ApiError(status, str(body.get("reason", "")), str(body.get("message", "")))


Handler = Callable[[str, JSON | None, JSON | None], Awaitable[None] | None]


class Informer:
    """List + watch cache of one resource, calling `handler(type, old, new)` on changes.

    Relists on 410 Gone; re-watches from the last resourceVersion otherwise. Good enough
    for the demo's components; kwatch's own watch engine is the hardened one.
    """

    def __init__(
        self,
        client: KubeClient,
        kind: ResourceKind,
        handler: Handler | None = None,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.path = kind.collection_path(namespace)
        self.handler = handler
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache: dict[str, JSON] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.kind.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _emit(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if self.handler is None:
            return
        result = self.handler(type_, old, new)
        if result is not None:
            await result

    async def _relist(self) -> str:
        items, rv = await self.client.list(
            self.path, label_selector=self.label_selector, field_selector=self.field_selector
        )
        fresh = {object_key(o): o for o in items}
        for key in list(self.cache):
            if key not in fresh:
                await self._emit("DELETED", self.cache.pop(key), None)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            self.cache[key] = obj
            if old is None:
                await self._emit("ADDED", None, obj)
            elif old.get("metadata", {}).get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                await self._emit("MODIFIED", old, obj)
        self.synced.set()
        return rv

    async def _run(self) -> None:
        rv = ""
        delay = 0.2
        while True:
            try:
                if not rv:
                    rv = await self._relist()
                stream = self.client.watch(
                    self.path,
                    rv,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                )
                async for type_, obj in stream:
                    if type_ == "ERROR":
                        if obj.get("code") == 410:
                            rv = ""
                        break
                    rv = str(obj.get("metadata", {}).get("resourceVersion") or rv)
                    if type_ == "BOOKMARK":
                        continue
                    if not self._matches(obj):
                        continue
                    key = object_key(obj)
                    if type_ == "DELETED":
                        await self._emit("DELETED", self.cache.pop(key, None), None)
                    else:
                        old = self.cache.get(key)
                        self.cache[key] = obj
                        await self._emit("ADDED" if old is None else "MODIFIED", old, obj)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.code == 410:
                    rv = ""
                log.debug("informer %s: %s", self.kind.plural, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except (aiohttp.ClientError, orjson.JSONDecodeError, TimeoutError) as e:
                log.debug("informer %s: %s", self.kind.plural, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _matches(self, obj: JSON) -> bool:
        # The server already filters by selector; this only guards fixed namespaces.
        ns = self.kind.fixed_namespace
        return ns is None or obj.get("metadata", {}).get("namespace") == ns


def _pem(cfg_dir: str, entry: Mapping[str, Any], key: str) -> bytes | None:
    """A kubeconfig credential given as `key` (a file path) or `key-data` (base64)."""
    import base64
    import os

    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        with open(os.path.join(cfg_dir, str(entry[key])), "rb") as f:
            return f.read()
    return None


def _load_client_cert(ctx: Any, cert: bytes, key: bytes) -> None:
    """ssl only loads a cert chain from files: write them to a private temp dir that is
    removed at once, so no key material is left behind on disk."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kwatch-cred-") as d:
        cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert_path, key_path)


def client_from_kubeconfig(
    kubeconfig: str | Mapping[str, Any], *, user_agent: str, context: str | None = None
) -> KubeClient:
    """Build a KubeClient (own aiohttp session) from a kubeconfig path or dict.

    Supports what the demo and the test control plane hand out: CA (file or data), bearer
    token, client certificate + key. Call `await client.session.close()` when done.
    """
    import os
    import ssl

    if isinstance(kubeconfig, str):
        import yaml  # kubernetes_asyncio depends on PyYAML

        with open(kubeconfig) as f:
            cfg: Mapping[str, Any] = yaml.safe_load(f)
        cfg_dir = os.path.dirname(os.path.abspath(kubeconfig))
    else:
        cfg, cfg_dir = kubeconfig, ""
    ctx_name = context or cfg["current-context"]
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user: Mapping[str, Any] = next(
        (u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {}
    )
    server = str(cluster["server"])
    ssl_ctx: ssl.SSLContext | bool = False
    if server.startswith("https"):
        ca = _pem(cfg_dir, cluster, "certificate-authority")
        if cluster.get("insecure-skip-tls-verify"):
            ssl_ctx = False
        else:
            ssl_ctx = ssl.create_default_context(cadata=ca.decode() if ca else None)
        cert = _pem(cfg_dir, user, "client-certificate")
        key = _pem(cfg_dir, user, "client-key")
        if cert and key and isinstance(ssl_ctx, ssl.SSLContext):
            _load_client_cert(ssl_ctx, cert, key)
    headers: dict[str, str] = {}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=64)
    session = aiohttp.ClientSession(connector=connector)
    return KubeClient(server, session, headers=headers, user_agent=user_agent)
