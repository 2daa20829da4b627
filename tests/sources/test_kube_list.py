"""LIST: paging, the shape of a list batch, scope (namespaces, label selector)."""

from __future__ import annotations

import gc
from collections import Counter
from typing import TYPE_CHECKING

from kwatch.core.events import EventType
from kwatch.core.kinds import LEASE, NODE, POD, SERVICE
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.kube import WatchEngine, plan_targets
from kwatch.sources.kubeconfig import Connection

if TYPE_CHECKING:
    from conftest import ConnFactory, EngineFactory, Faults, Kit, Mirror, ServerFactory


async def test_paged_initial_list_is_one_batch_ending_with_listed(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, [f"web-{i}" for i in range(7)])
    engine = await make_engine(conn, page_size=2)

    lists = faults.lists()
    assert len(lists) == 4  # 2 + 2 + 2 + 1
    assert [q.get("limit") for _, q in lists] == ["2"] * 4
    assert "continue" not in lists[0][1]
    assert all(q.get("continue") for _, q in lists[1:])

    [batch] = mirror.batches
    assert [e.type for e in batch] == [EventType.ADDED] * 7 + [EventType.LISTED]
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    listed = batch[-1]
    assert listed.obj == {} and listed.resource_version == str(server.storage.rv)
    # List items come without kind/apiVersion on the wire; the engine restores them.
    assert {(e.obj["kind"], e.obj["apiVersion"]) for e in batch[:-1]} == {("Pod", "v1")}
    h = engine.health["Pod"]
    assert (h.state, h.events, h.relists) == ("synced", 7, 0)
    assert gc.isenabled()  # the list paused the cyclic GC and gave it back
    # The watch starts from the list's resourceVersion, with bookmarks.
    await kit.eventually(lambda: len(faults.watches()) == 1, what="watch request")
    _, q = faults.watches()[0]
    assert q["resourceVersion"] == listed.resource_version
    assert q["allowWatchBookmarks"] == "true"
    assert 60 <= int(q["timeoutSeconds"]) <= 120


async def test_big_lists_are_cut_into_batches_with_listed_last(
    kit: Kit, server: DemoApiServer, conn: Connection, make_engine: EngineFactory, mirror: Mirror
) -> None:
    kit.add_pods(server, [f"web-{i}" for i in range(7)])
    await make_engine(conn, page_size=2, list_batch_size=3)
    sizes = [len(b) for b in mirror.batches]
    assert sizes == [3, 3, 2]  # 7 ADDED + LISTED, at most 3 events per batch
    assert mirror.batches[-1][-1].type is EventType.LISTED
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")


async def test_expired_continue_token_restarts_the_list_without_duplicates(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, [f"web-{i}" for i in range(6)])
    expired = kit.status(410, "Expired", "The provided continue parameter is too old")
    fault = faults.add(expired, watch=False, times=1)
    original = fault.matches
    fault.matches = lambda req: "continue" in req.query and original(req)  # type: ignore[method-assign]

    engine = await make_engine(conn, page_size=2, list_batch_size=2)

    assert len(fault.hits) == 1
    starts = [q for _, q in faults.lists() if "continue" not in q]
    assert len(starts) == 2  # the list started over from a fresh snapshot
    added = Counter(
        e.obj["metadata"]["name"] for e in mirror.events("Pod") if e.type is EventType.ADDED
    )
    assert set(added.values()) == {1}  # the first page was flushed once, never repeated
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    assert engine.health["Pod"].state == "synced"


async def test_one_reflector_per_namespace_with_namespaced_markers(
    kit: Kit, server: DemoApiServer, conn: Connection, make_engine: EngineFactory, mirror: Mirror
) -> None:
    for ns in ("team-a", "team-b", "team-c"):
        server.storage.create("namespaces", {"metadata": {"name": ns}})
        kit.add_pods(server, [f"{ns}-pod"], namespace=ns)
    engine = await make_engine(conn, (POD, NODE, LEASE), namespaces=["team-a", "team-b"])

    assert set(engine.health) == {"Pod/team-a", "Pod/team-b", "Node", "Lease/kube-system"}
    assert set(mirror.versions("Pod")) == {"team-a/team-a-pod", "team-b/team-b-pod"}
    markers = {
        e.obj.get("metadata", {}).get("namespace")
        for e in mirror.events("Pod")
        if e.type is EventType.LISTED
    }
    assert markers == {"team-a", "team-b"}
    kit.add_pods(server, ["late"], namespace="team-b")
    kit.add_pods(server, ["ignored"], namespace="team-c")
    await kit.eventually(lambda: "team-b/late" in mirror.versions("Pod"))
    assert "team-c/ignored" not in mirror.versions("Pod")


def test_label_selector_applies_to_workloads_not_to_context_kinds(
    kit: Kit,
) -> None:
    targets = {t.kind.kind: t for t in plan_targets((POD, SERVICE, NODE, LEASE), None, "app=web")}
    assert targets["Pod"].label_selector == "app=web"
    assert targets["Service"].label_selector == "app=web"
    assert targets["Node"].label_selector is None
    assert targets["Lease"].label_selector is None
    assert targets["Lease"].path == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


async def test_label_selector_objects_enter_and_leave(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, ["web-1", "web-2"], app="web")
    kit.add_pods(server, ["db-1"], app="db")
    await make_engine(conn, label_selector="app=web")
    assert set(mirror.versions("Pod")) == {"default/web-1", "default/web-2"}
    assert faults.lists()[0][1]["labelSelector"] == "app=web"

    # db-1 enters the selection, web-2 leaves it: ADDED and DELETED on the watch.
    server.storage.patch(
        "pods", "db-1", {"metadata": {"labels": {"app": "web"}}}, namespace="default"
    )
    server.storage.patch(
        "pods", "web-2", {"metadata": {"labels": {"app": "db"}}}, namespace="default"
    )
    await kit.eventually(lambda: set(mirror.versions("Pod")) == {"default/web-1", "default/db-1"})
    assert mirror.versions("Pod") == kit.server_versions(server, "pods", label_selector="app=web")
    watch_types = [(e.type, e.obj["metadata"]["name"]) for e in mirror.events("Pod")[3:]]
    assert watch_types == [(EventType.ADDED, "db-1"), (EventType.DELETED, "web-2")]


async def test_list_failures_back_off_and_wait_synced_times_out(
    kit: Kit,
    make_server: ServerFactory,
    make_conn: ConnFactory,
    make_engine: EngineFactory,
    faults: Faults,
    mirror: Mirror,
) -> None:
    server = await make_server()
    conn = await make_conn(server)
    faults.add(kit.status(500, "InternalError", "etcd is sad"), watch=False, times=1000)
    engine: WatchEngine = await make_engine(conn, sync=False)
    assert not await engine.wait_synced(0.3)
    h = engine.health["Pod"]
    # Between attempts (an attempt in flight shows "syncing").
    await kit.eventually(lambda: h.state == "backing-off")
    assert "HTTP 500: etcd is sad" in h.reason
    assert h.next_retry_at is not None
    # Retried, with (fast) backoff in between.
    await kit.eventually(lambda: len(faults.lists()) >= 3)
    faults.clear()
    assert await engine.wait_synced(5.0)
    assert engine.health["Pod"].state == "synced"
    assert mirror.batches[-1][-1].type is EventType.LISTED


async def test_a_list_that_fails_half_way_loses_and_repeats_nothing(
    kit: Kit,
    server: DemoApiServer,
    conn: Connection,
    make_engine: EngineFactory,
    mirror: Mirror,
    faults: Faults,
) -> None:
    kit.add_pods(server, [f"web-{i}" for i in range(5)])
    broken = faults.add(kit.status(500, "InternalError", "oops"), watch=False, times=1)
    original = broken.matches
    broken.matches = lambda req: "continue" in req.query and original(req)  # type: ignore[method-assign]

    engine = await make_engine(conn, page_size=2)

    assert len(broken.hits) == 1
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")
    added = Counter(e.name for e in mirror.events("Pod") if e.type is EventType.ADDED)
    assert sorted(added) == [f"web-{i}" for i in range(5)]
    assert set(added.values()) == {1}
    assert engine.health["Pod"].relists == 0
