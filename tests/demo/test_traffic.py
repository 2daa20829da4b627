"""The traffic simulator: which endpoints the ingress uses, when it learns of changes,
and how each request ends.

The ingress really watches EndpointSlices over HTTP (an embedded API server, no
controllers: the tests write the slices themselves); what a connection to an endpoint
gets comes from a scripted probe, so outcomes are exactly what the test says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from kwatch.core.events import JSON
from kwatch.core.kinds import ENDPOINTSLICE
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock
from kwatch.demo.traffic import Backend, Outcome, TrafficSimulator, ready_backends

SPEED = 20.0
NS = "default"


def endpoint(ip: str, *, ready: bool | None = True, terminating: bool | None = None,
             node: str = "node-1", uid: str = "") -> JSON:
    cond: JSON = {}
    if ready is not None:
        cond["ready"] = ready
    if terminating is not None:
        cond["terminating"] = terminating
    ep: JSON = {"addresses": [ip], "conditions": cond, "nodeName": node}
    if uid:
        ep["targetRef"] = {"kind": "Pod", "name": f"pod-{uid}", "namespace": NS, "uid": uid}
    return ep


def slice_body(name: str, service: str, endpoints: list[JSON]) -> JSON:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


# -- pure: which endpoints an ingress routes to --------------------------------------------


def test_ready_backends_drop_not_ready_and_terminating() -> None:
    slices = {
        "a": slice_body("a", "web", [
            endpoint("10.0.0.3", uid="u3"),
            endpoint("10.0.0.1", ready=False),
            endpoint("10.0.0.2", ready=False, terminating=True),  # serving, draining
            endpoint("10.0.0.4", ready=None),  # nil means ready (EndpointSlice API)
        ]),
        "b": slice_body("b", "web", [endpoint("10.0.0.3", uid="u3"), endpoint("10.0.0.5")]),
    }
    backends = ready_backends(slices)
    assert [b.ip for b in backends] == ["10.0.0.3", "10.0.0.4", "10.0.0.5"]
    assert backends[0] == Backend("10.0.0.3", "node-1", "u3", "pod-u3")


def test_ready_backends_of_no_slices_is_empty() -> None:
    assert ready_backends({}) == ()


# -- against a real watch ------------------------------------------------------------------


@dataclass
class Env:
    server: DemoApiServer
    client: KubeClient
    clock: Clock
    outcomes: dict[str, Outcome]  # ip → what a request to it gets

    def probe(self, backend: Backend) -> Outcome:
        return self.outcomes.get(backend.ip, "timeout")

    async def put_slice(self, body: JSON) -> None:
        path = ENDPOINTSLICE.collection_path(NS)
        existing = await self.client.get(f"{path}/{body['metadata']['name']}")
        if existing is None:
            await self.client.create(path, body)
        else:
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            await self.client.update(f"{path}/{body['metadata']['name']}", body)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock(SPEED)
    server = DemoApiServer(clock=clock.now)
    await server.start()
    client = client_from_kubeconfig(server.kubeconfig(), user_agent="traffic-test")
    try:
        yield Env(server, client, clock, {})
    finally:
        await client.session.close()
        await server.stop()


async def until(pred: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_round_robin_over_ready_endpoints_at_the_configured_rate(env: Env) -> None:
    env.outcomes.update({"10.0.0.1": "ok", "10.0.0.2": "ok"})
    await env.put_slice(slice_body("web-a", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2"),
                                                    endpoint("10.0.0.9", ready=False)]))
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=20, propagation_delay=2)
    await sim.start(NS, "web")
    try:
        t0 = env.clock.now()
        await env.clock.sleep(10)
    finally:
        await sim.stop()
    elapsed = env.clock.now() - t0
    c = sim.counters()
    assert c.refused == c.timeout == 0
    # 20 per simulated second, give or take one tick of the loop.
    assert 20 * elapsed - 25 <= c.ok <= 20 * elapsed + 25
    used = [r.backend.ip for r in sim.requests if r.backend is not None]
    assert set(used) == {"10.0.0.1", "10.0.0.2"}  # never the not-ready one
    assert abs(used.count("10.0.0.1") - used.count("10.0.0.2")) <= 1
    assert c.target == "svc default/web"
    # Each request is stamped with the simulated time it was sent at.
    times = [r.t for r in sim.requests]
    assert times == sorted(times) and t0 - 1 <= times[0] and times[-1] <= t0 + elapsed + 1


async def test_changes_reach_the_ingress_only_after_the_propagation_delay(env: Env) -> None:
    env.outcomes.update({"10.0.0.1": "ok", "10.0.0.2": "refused"})
    await env.put_slice(slice_body("web-a", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2")]))
    delay = 3.0
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=20, propagation_delay=delay)
    await sim.start(NS, "web")
    try:
        await env.clock.sleep(2)
        # 10.0.0.2 starts terminating: the ingress keeps using it for `delay` seconds.
        changed_at = env.clock.now()
        await env.put_slice(slice_body("web-a", "web", [
            endpoint("10.0.0.1"), endpoint("10.0.0.2", ready=False, terminating=True)]))
        await until(lambda: [b.ip for b in sim.backends] == ["10.0.0.1"])
        applied_at = env.clock.now()
        await env.clock.sleep(2)
    finally:
        await sim.stop()
    refused = sim.outcomes("refused")
    assert refused, "requests kept going to the old endpoint during the delay"
    # Requests to the old endpoint continued for the whole delay (the watch itself adds
    # some latency on top), and stopped as soon as the change was applied.
    assert applied_at - changed_at >= delay
    assert refused[-1].t >= changed_at + delay - 0.5
    assert not sim.outcomes("refused", since=applied_at + 0.5)


async def test_outcomes_come_from_the_probe(env: Env) -> None:
    env.outcomes.update({"10.0.0.1": "ok", "10.0.0.2": "refused", "10.0.0.3": "timeout"})
    await env.put_slice(slice_body("web-a", "web", [
        endpoint("10.0.0.1"), endpoint("10.0.0.2"), endpoint("10.0.0.3")]))
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=30, propagation_delay=1)
    await sim.start(NS, "web")
    try:
        await until(lambda: sum(1 for _ in sim) >= 60)
    finally:
        await sim.stop()
    c = sim.counters()
    assert min(c.ok, c.refused, c.timeout) > 0
    assert abs(c.ok - c.refused) <= 2 and abs(c.ok - c.timeout) <= 2
    for r in sim:
        assert r.backend is not None and env.outcomes[r.backend.ip] == r.outcome


async def test_no_ready_endpoint_is_a_503(env: Env) -> None:
    await env.put_slice(slice_body("web-a", "web", [endpoint("10.0.0.1", ready=False)]))
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=20)
    await sim.start(NS, "web")
    try:
        await until(lambda: sim.counters().refused >= 10)
    finally:
        await sim.stop()
    assert sim.counters().ok == 0
    assert all(r.backend is None for r in sim)


async def test_only_the_target_services_slices_count(env: Env) -> None:
    env.outcomes.update({"10.0.0.1": "ok", "10.0.0.7": "refused"})
    await env.put_slice(slice_body("web-a", "web", [endpoint("10.0.0.1")]))
    await env.put_slice(slice_body("api-a", "api", [endpoint("10.0.0.7")]))
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=20)
    await sim.start(NS, "web")
    try:
        await until(lambda: sim.counters().ok >= 20)
    finally:
        await sim.stop()
    assert sim.counters().refused == 0


async def test_retargeting_and_stopping(env: Env) -> None:
    env.outcomes.update({"10.0.0.1": "ok", "10.0.0.7": "refused"})
    await env.put_slice(slice_body("web-a", "web", [endpoint("10.0.0.1")]))
    await env.put_slice(slice_body("api-a", "api", [endpoint("10.0.0.7")]))
    sim = TrafficSimulator(env.client, env.clock, env.probe, rate=20)
    await sim.start(NS, "web")
    await until(lambda: sim.counters().ok >= 5)
    await sim.start(NS, "api")
    assert sim.running and sim.counters().target == "svc default/api"
    await until(lambda: sim.counters().refused >= 5)
    await sim.stop()
    assert not sim.running
    frozen = sim.counters()
    await asyncio.sleep(0.1)
    assert sim.counters() == frozen  # stopped means no more requests


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TrafficSimulator(None, Clock(1), lambda b: "ok", rate=0)  # type: ignore[arg-type]
