"""A raw HTTP client for the demo API server tests: status codes and bodies as sent.

Deliberately thin (aiohttp + orjson) so the tests see exactly what a client on the wire
sees: status line, headers, Status bodies, watch lines.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from kwatch.demo.apiserver import DemoApiServer

JSON = dict[str, Any]
ServerFactory = Callable[..., Awaitable[DemoApiServer]]

POD_SPEC: JSON = {"containers": [{"name": "app", "image": "nginx:1.27"}]}


def pod(name: str, namespace: str = "default", *, node: str | None = None,
        **labels: str) -> JSON:
    spec: JSON = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": spec}


def deployment(name: str, replicas: int | None = None, **labels: str) -> JSON:
    labels = labels or {"app": name}
    spec: JSON = {"selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": POD_SPEC}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": spec}


class Api:
    def __init__(self, server: DemoApiServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=server.ca_file) if server.ca_file else False
        )

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.server.token}", **(extra or {})}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, JSON]:
        hdrs = self._headers(headers)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            hdrs["Content-Type"] = content_type
        async with self.session.request(method, self.server.url + path, data=data,
                                        params=params, headers=hdrs, ssl=self.ssl) as r:
            raw = await r.read()
            return r.status, (orjson.loads(raw) if raw else {})

    async def get(self, path: str, **params: str) -> tuple[int, JSON]:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any, **params: str) -> tuple[int, JSON]:
        return await self.call("POST", path, body, params=params)

    async def put(self, path: str, body: Any, **params: str) -> tuple[int, JSON]:
        return await self.call("PUT", path, body, params=params)

    async def patch(self, path: str, body: Any, kind: str = "merge") -> tuple[int, JSON]:
        ctype = {"merge": "application/merge-patch+json",
                 "json": "application/json-patch+json",
                 "strategic": "application/strategic-merge-patch+json"}.get(kind, kind)
        return await self.call("PATCH", path, body, content_type=ctype)

    async def delete(self, path: str, body: Any = None, **params: str) -> tuple[int, JSON]:
        return await self.call("DELETE", path, body, params=params)

    @asynccontextmanager
    async def watch(self, path: str, **params: str) -> AsyncIterator[Stream]:
        """Open a watch (watch=1 added unless the path is a legacy /watch/ path)."""
        if "/watch/" not in path:
            params.setdefault("watch", "1")
        async with self.session.get(self.server.url + path, params=params,
                                    headers=self._headers(None), ssl=self.ssl) as r:
            yield Stream(r)


class Stream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status = response.status
        self.headers = response.headers

    async def next(self, within: float = 2.0) -> JSON | None:
        """The next event, or None when the stream ended cleanly."""
        async with asyncio.timeout(within):
            line = await self.response.content.readline()
        if not line:
            return None
        event: JSON = orjson.loads(line)
        return event

    async def take(self, n: int, within: float = 2.0) -> list[JSON]:
        out = []
        for _ in range(n):
            ev = await self.next(within)
            assert ev is not None, f"stream ended after {len(out)} of {n} events: {out}"
            out.append(ev)
        return out

    async def rest(self, within: float = 3.0) -> list[JSON]:
        """Every remaining event until the server ends the stream."""
        out = []
        while (ev := await self.next(within)) is not None:
            out.append(ev)
        return out


def names(events: list[JSON]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]
