"""Streaming list (sendInitialEvents): list and watch on one stream, LIST fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kwatch.core.events import EventType
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.kubeconfig import Connection

if TYPE_CHECKING:
    from conftest import EngineFactory, Faults, Kit, Mirror


async def test_streaming_list_syncs_and_keeps_watching_on_the_same_stream(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, [f"web-{i}" for i in range(7)])
    engine = await make_engine(conn, streaming_list=True, list_batch_size=3)

    assert faults.lists() == []
    [(_, q)] = faults.watches()
    assert (q["sendInitialEvents"], q["resourceVersionMatch"]) == ("true", "NotOlderThan")
    assert q["allowWatchBookmarks"] == "true" and "resourceVersion" not in q
    # Cut into batches like a paged list; LISTED carries the bookmark's version.
    assert [len(b) for b in mirror.batches] == [3, 3, 2]
    listed = mirror.batches[-1][-1]
    assert listed.type is EventType.LISTED
    assert listed.resource_version == engine.health["Pod"].resource_version
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")

    # Changes arrive on the very same stream.
    kit.add_pods(server, ["late"])
    await kit.eventually(lambda: "default/late" in mirror.versions("Pod"))
    assert len(faults.watches()) == 1
    h = engine.health["Pod"]
    assert (h.state, h.relists, h.reconnects) == ("synced", 0, 0)

    # When it ends, a plain watch resumes from the last resourceVersion: no new list.
    last_rv = h.resource_version
    await server.close_watches()
    await kit.eventually(lambda: len(faults.watches()) == 2)
    q2 = faults.watches()[1][1]
    assert q2["resourceVersion"] == last_rv and "sendInitialEvents" not in q2
    assert (h.relists, h.reconnects) == (0, 1)


async def test_servers_without_streaming_lists_get_a_paged_list(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    invalid = kit.status(
        422,
        "Invalid",
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch",
    )
    rule = faults.add(invalid, times=1)
    original = rule.matches
    rule.matches = lambda req: "sendInitialEvents" in req.query and original(req)  # type: ignore[method-assign]
    kit.add_pods(server, ["a", "b"])
    engine = await make_engine(conn, streaming_list=True)

    assert len(rule.hits) == 1
    assert len(faults.lists()) == 1
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    assert engine.health["Pod"].state == "synced"
    # The fallback sticks: a later relist (410 after an outage) does not try again.
    outage = faults.add(kit.status(503, "ServiceUnavailable", "maintenance"), times=10**6)
    await server.close_watches()
    await kit.eventually(lambda: len(outage.hits) >= 1)
    kit.add_pods(server, ["c"])
    server.compact()
    faults.clear()
    await kit.eventually(lambda: engine.health["Pod"].relists == 1)
    assert len(faults.lists()) == 2
    assert not [q for _, q in faults.watches() if q.get("sendInitialEvents")][1:]


async def test_a_stream_that_ends_before_its_initial_events_end_is_retried(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, ["a", "b"])
    a = server.storage.get("pods", "a", namespace="default")
    cut_short = faults.add(kit.stream_lines(kit.watch_line("ADDED", a)), times=1)
    engine = await make_engine(conn, streaming_list=True)

    assert len(cut_short.hits) == 1
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    h = engine.health["Pod"]
    assert h.reason == "streaming list ended before its initial-events-end bookmark"
    # What the first attempt read is delivered once, by the retry: no duplicates.
    events = [(e.type, e.name) for b in mirror.batches for e in b]
    assert events == [
        (EventType.ADDED, "a"),
        (EventType.ADDED, "b"),
        (EventType.LISTED, ""),
    ]
