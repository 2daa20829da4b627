"""Recovery: 410 → relist, throttling, backoff, RBAC, in-stream errors, crashes."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import pytest

from kwatch.core.events import EventType
from kwatch.core.kinds import LEASE, POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.backoff import Backoff
from kwatch.sources.kubeconfig import Connection

if TYPE_CHECKING:
    from conftest import ConnFactory, EngineFactory, Faults, Kit, Mirror, ServerFactory


@pytest.mark.parametrize("streaming", [False, True], ids=["list", "streaming-list"])
@pytest.mark.parametrize("as_http", [True, False], ids=["http-410", "in-stream-410"])
async def test_gone_relists_and_the_mirror_equals_a_fresh_list(
    kit: Kit,
    make_server: ServerFactory,
    make_conn: ConnFactory,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
    as_http: bool,
    streaming: bool,
) -> None:
    server = await make_server(expired_as_http_410=as_http)
    conn = await make_conn(server)
    kit.add_pods(server, ["keep", "gone-1", "gone-2", "changed"])
    engine = await make_engine(conn, streaming_list=streaming)

    # Cut the engine off (its watches get 503) while the cluster moves on, then
    # forget the history so its resourceVersion is too old.
    outage = faults.add(kit.status(503, "ServiceUnavailable", "maintenance"), times=10**6)
    await server.close_watches()
    await kit.eventually(lambda: len(outage.hits) >= 1)
    kit.delete_pod(server, "gone-1")
    kit.delete_pod(server, "gone-2")
    server.storage.patch(
        "pods", "changed", {"metadata": {"labels": {"v": "2"}}}, namespace="default"
    )
    kit.add_pods(server, ["new"])
    server.compact()
    faults.clear()

    await kit.eventually(lambda: engine.health["Pod"].relists == 1, what="a relist")
    await kit.eventually(lambda: mirror.versions("Pod") == kit.server_versions(server, "pods"))
    relist = next(b for b in mirror.batches if b[0].type is EventType.RESET)
    assert relist[-1].type is EventType.LISTED
    body = {(e.type, e.obj["metadata"]["name"]) for e in relist[1:-1]}
    assert body == {
        (EventType.DELETED, "gone-1"),
        (EventType.DELETED, "gone-2"),
        (EventType.MODIFIED, "changed"),
        (EventType.ADDED, "new"),
    }  # "keep" is unchanged, so it is not re-sent; nothing is duplicated
    tombstone = next(e for e in relist if e.type is EventType.DELETED)
    assert set(tombstone.obj["metadata"]) == {"name", "namespace", "uid", "resourceVersion"}
    streams = [q for _, q in faults.watches() if q.get("sendInitialEvents") == "true"]
    if streaming:
        assert (len(faults.lists()), len(streams)) == (0, 2)
    else:
        assert (len(faults.lists()), len(streams)) == (2, 0)
        # The relist is followed by a watch from its resourceVersion.
        await kit.eventually(
            lambda: faults.watches()[-1][1]["resourceVersion"] == relist[-1].resource_version
        )


async def test_retry_after_of_a_429_is_honoured(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    faults: Faults,
) -> None:
    throttled = faults.add(
        kit.status(429, "TooManyRequests", "slow down", {"Retry-After": "1"}), times=1
    )
    # A tiny backoff: only Retry-After can explain a one-second pause.
    engine = await make_engine(conn, backoff=Backoff(initial=0.01, maximum=0.01))
    await kit.eventually(lambda: len(throttled.hits) == 1)
    await kit.eventually(lambda: engine.health["Pod"].state == "backing-off")
    h = engine.health["Pod"]
    assert h.reason == "HTTP 429: slow down"
    await kit.eventually(lambda: len(faults.watches()) == 2, within=5.0)
    gap = faults.watches()[1][0] - throttled.hits[0]
    assert 1.0 <= gap < 3.0  # Retry-After, not the 10 ms backoff
    await kit.eventually(lambda: engine.health["Pod"].state == "synced")


async def test_an_empty_watch_that_ends_at_once_is_backed_off(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    faults: Faults,
) -> None:
    faults.add(kit.stream_lines(), times=3)  # 200, no events, immediate end
    engine = await make_engine(conn, backoff=Backoff(initial=0.15, factor=2.0, jitter=0.0))
    await kit.eventually(lambda: len(faults.watches()) == 4, within=5.0)
    times = [t for t, _ in faults.watches()]
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3 and gaps[2] >= 0.6  # doubling
    assert engine.health["Pod"].relists == 0
    assert engine.health["Pod"].reason == "watch ended at once with no events"


async def test_in_stream_error_other_than_410_rewatches_without_relist(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    faults: Faults,
    mirror: Mirror,
) -> None:
    error = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 500,
        "reason": "InternalError",
        "message": "etcd hiccup",
    }
    faults.add(kit.stream_lines(kit.watch_line("ERROR", error)), times=1)
    engine = await make_engine(conn)
    await kit.eventually(lambda: len(faults.watches()) == 2)
    h = engine.health["Pod"]
    assert h.reason == "watch ERROR 500: etcd hiccup"
    assert (h.relists, len(faults.lists())) == (0, 1)
    kit.add_pods(server, ["later"])
    await kit.eventually(lambda: "default/later" in mirror.versions("Pod"))


async def test_forbidden_kind_is_unavailable_and_the_others_keep_working(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    server.forbidden = {"leases"}
    # wait_synced does not hang on a kind that is forbidden.
    engine = await make_engine(conn, (POD, LEASE), unavailable_retry=0.3)
    lease = engine.health["Lease/kube-system"]
    assert lease.state == "unavailable"
    assert lease.reason.startswith("Forbidden (403): ")
    assert 'cannot list resource "leases"' in lease.reason
    assert lease.next_retry_at is not None
    assert engine.health["Pod"].state == "synced"
    kit.add_pods(server, ["still-flowing"])
    await kit.eventually(lambda: "default/still-flowing" in mirror.versions("Pod"))

    # RBAC fixed: the slow retry picks the kind up.
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    tries_before = len(faults.lists(path))
    server.forbidden = set()
    await kit.eventually(lambda: lease.state == "synced", within=3.0)
    assert len(faults.lists(path)) - tries_before == 1  # retried slowly, not hammered
    assert any(e.kind == "Lease" and e.type is EventType.LISTED for e in mirror.events())


async def test_a_crashing_reflector_is_restarted_and_counted(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
) -> None:
    kit.add_pods(server, ["before"])
    engine = await make_engine(conn)
    mirror.fail_when = lambda batch: any(e.type is EventType.ADDED for e in batch)
    kit.add_pods(server, ["boom"])  # its batch makes the sink raise once
    await kit.eventually(lambda: "default/boom" in mirror.versions("Pod"), within=5.0)
    h = engine.health["Pod"]
    assert h.restarts == 1
    assert h.relists == 1
    assert "RuntimeError: sink exploded" in h.reason
    assert h.state == "synced"
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    # The relist after a crash re-sends everything: the sink may have lost any of it.
    relist = next(b for b in mirror.batches if b[0].type is EventType.RESET)
    assert {e.obj["metadata"]["name"] for e in relist if not e.is_marker} == {"before", "boom"}


async def test_rejected_credentials_make_every_kind_unavailable(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
) -> None:
    conn.api_client.configuration.api_key["BearerToken"] = "Bearer wrong"
    engine = await make_engine(conn, (POD, LEASE))
    for h in engine.health.values():
        assert h.state == "unavailable"
        assert h.reason.startswith("Unauthorized (401)")
