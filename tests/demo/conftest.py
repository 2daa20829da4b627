"""Fixtures the demo component tests share (tests/demo/api has its own `api`: a raw
HTTP client for protocol tests, which overrides this one there)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock


@pytest.fixture
async def api() -> AsyncIterator[tuple[DemoApiServer, KubeClient, Clock]]:
    """The embedded API server over HTTPS at clock speed 20, and a client of it."""
    clock = Clock(speed=20)
    server = DemoApiServer(tls=True, clock=clock.now)
    await server.start()
    client = client_from_kubeconfig(server.kubeconfig(), user_agent="kwatch-test/1.0")
    try:
        yield server, client, clock
    finally:
        await client.session.close()
        await server.stop()
