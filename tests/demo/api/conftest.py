"""Fixtures for the demo API server tests: a server on 127.0.0.1 (HTTPS unless a test
asks otherwise) and a raw HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from kube_http import Api, ServerFactory

from kwatch.demo.apiserver import DemoApiServer


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[DemoApiServer] = []

    async def make(**kwargs: Any) -> DemoApiServer:
        kwargs.setdefault("bookmark_interval", 0.1)
        srv = DemoApiServer(**kwargs)
        await srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        await srv.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> DemoApiServer:
    return await make_server()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(server: DemoApiServer, session: aiohttp.ClientSession) -> Api:
    return Api(server, session)
