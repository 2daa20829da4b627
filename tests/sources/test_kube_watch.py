"""WATCH: events, bookmarks, normal ends, silent and garbled streams, huge lines."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kwatch.core.events import EventType
from kwatch.core.kinds import NODE, POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.kubeconfig import Connection

if TYPE_CHECKING:
    from conftest import ConnFactory, EngineFactory, Faults, Kit, Mirror, ServerFactory


async def test_added_modified_deleted_reach_the_sink_slimmed(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
) -> None:
    engine = await make_engine(conn)
    secret_pod = kit.pod("web-1", app="web")
    secret_pod["spec"]["containers"][0]["env"] = [{"name": "PASSWORD", "value": "hunter2"}]
    server.storage.create("pods", secret_pod, namespace="default")
    server.storage.patch(
        "pods", "web-1", {"metadata": {"labels": {"tier": "front"}}}, namespace="default"
    )
    kit.delete_pod(server, "web-1")
    await kit.eventually(lambda: len(mirror.events("Pod")) == 4)  # LISTED + 3

    added, modified, deleted = mirror.events("Pod")[1:]
    assert [added.type, modified.type, deleted.type] == [
        EventType.ADDED,
        EventType.MODIFIED,
        EventType.DELETED,
    ]
    assert modified.obj["metadata"]["labels"] == {"app": "web", "tier": "front"}
    # Objects are slimmed: env values redacted, managedFields summarised.
    assert added.obj["spec"]["containers"][0]["env"][0]["value"] == "<redacted>"
    assert "fieldsV1" not in str(added.obj["metadata"].get("managedFields", ""))
    assert (
        int(added.resource_version) < int(modified.resource_version) < int(deleted.resource_version)
    )
    assert mirror.versions("Pod") == {}
    h = engine.health["Pod"]
    assert h.resource_version == deleted.resource_version
    assert (h.events, h.relists, h.reconnects, h.malformed) == (3, 0, 0, 0)
    assert h.last_event_at is not None


async def test_bookmarks_advance_the_resource_version_without_events(
    kit: Kit,
    make_server: ServerFactory,
    make_conn: ConnFactory,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    server = await make_server(bookmark_interval=0.1)
    conn = await make_conn(server)
    engine = await make_engine(conn, (POD,))
    listed_rv = int(engine.health["Pod"].resource_version)
    server.add_nodes(2)  # moves the global resourceVersion; pods see only bookmarks
    target = server.storage.rv
    await kit.eventually(
        lambda: int(engine.health["Pod"].resource_version) == target,
        what="a bookmark carrying the new resourceVersion",
    )
    assert target > listed_rv
    assert len(mirror.batches) == 1  # bookmarks are not sent to the sink

    # The next watch resumes from the bookmark, not from the list.
    await server.close_watches()
    await kit.eventually(lambda: len(faults.watches()) == 2)
    assert faults.watches()[1][1]["resourceVersion"] == str(target)
    assert len(faults.lists()) == 1


async def test_a_watch_the_server_ends_is_reopened_without_relist(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, ["web-1"])
    engine = await make_engine(conn)
    server.storage.patch("pods", "web-1", {"metadata": {"labels": {"v": "2"}}}, namespace="default")
    await kit.eventually(lambda: len(mirror.events("Pod")) == 3)
    last_rv = engine.health["Pod"].resource_version

    await server.close_watches()
    await kit.eventually(lambda: len(faults.watches()) == 2)
    h = engine.health["Pod"]
    assert (h.relists, h.reconnects) == (0, 1)
    assert faults.watches()[1][1]["resourceVersion"] == last_rv
    assert len(faults.lists()) == 1
    # And the new watch delivers.
    kit.add_pods(server, ["web-2"])
    await kit.eventually(lambda: mirror.versions("Pod") == kit.server_versions(server, "pods"))
    assert h.state == "synced"


async def test_a_silent_stream_hits_the_inactivity_timeout_and_reconnects(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    silent = faults.add(kit.silent_stream(), times=1)
    engine = await make_engine(conn, inactivity_timeout=0.4)
    await kit.eventually(lambda: len(faults.watches()) == 2, within=5.0)
    # The second watch came after the inactivity timeout, not before.
    assert faults.watches()[1][0] - silent.hits[0] >= 0.4
    h = engine.health["Pod"]
    assert (h.reconnects, h.relists) == (1, 0)
    assert "silent" in h.reason
    kit.add_pods(server, ["after-silence"])
    await kit.eventually(lambda: "default/after-silence" in mirror.versions("Pod"))


async def test_a_malformed_line_is_counted_and_the_watch_resumes(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "999999"}}
    garbled = faults.add(
        kit.stream_lines(
            kit.watch_line("BOOKMARK", bookmark), b'{"type": "ADDED", "obj\n', hang=True
        ),
        times=1,
    )
    engine = await make_engine(conn)
    await kit.eventually(lambda: len(faults.watches()) == 2)
    h = engine.health["Pod"]
    assert h.malformed == 1
    assert (h.relists, h.reconnects, h.restarts) == (0, 1, 0)
    assert "malformed watch line" in h.reason
    # The bookmark before the bad line was taken into account.
    assert faults.watches()[1][1]["resourceVersion"] == "999999"
    assert len(garbled.hits) == 1


async def test_lines_of_several_mebibytes(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
) -> None:
    engine = await make_engine(conn)
    big = kit.pod("big")
    big["metadata"]["annotations"] = {"example.com/blob": "x" * (6 * 1024 * 1024)}
    server.storage.create("pods", big, namespace="default")
    kit.add_pods(server, ["small-after"])
    await kit.eventually(lambda: len(mirror.versions("Pod")) == 2, within=10.0)
    blob = mirror.objects[("Pod", "default/big")]["metadata"]["annotations"]["example.com/blob"]
    assert len(blob) == 6 * 1024 * 1024
    assert engine.health["Pod"].malformed == 0


async def test_events_for_several_kinds_flow_independently(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
) -> None:
    engine = await make_engine(conn, (POD, NODE))
    server.add_nodes(2)
    kit.add_pods(server, ["p"])
    await kit.eventually(
        lambda: len(mirror.versions("Node")) == 2 and len(mirror.versions("Pod")) == 1
    )
    assert mirror.versions("Node") == kit.server_versions(server, "nodes")
    assert {h.state for h in engine.health.values()} == {"synced"}
    await asyncio.sleep(0)  # nothing pending: stop() in teardown must be clean
