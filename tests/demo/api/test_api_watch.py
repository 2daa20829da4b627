"""The watch protocol over HTTP: events, resourceVersion semantics, 410, bookmarks,
timeouts, selector enter/leave, clean closes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from kube_http import Api, ServerFactory, names, pod

from kwatch.demo.apiserver import DemoApiServer

PODS = "/api/v1/namespaces/default/pods"


def rv_of(event: dict[str, object]) -> int:
    obj = event["object"]
    assert isinstance(obj, dict)
    return int(obj["metadata"]["resourceVersion"])


async def test_watch_streams_added_modified_deleted(api: Api) -> None:
    _, listed = await api.get(PODS)
    rv = listed["metadata"]["resourceVersion"]
    async with api.watch(PODS, resourceVersion=rv) as w:
        assert w.status == 200
        assert w.headers["Content-Type"].startswith("application/json")
        assert w.headers["Transfer-Encoding"] == "chunked"
        await api.post(PODS, pod("web", app="web"))
        await api.patch(f"{PODS}/web", {"metadata": {"labels": {"v": "2"}}})
        await api.delete(f"{PODS}/web")
        events = await w.take(3)
    assert names(events) == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    assert events[1]["object"]["metadata"]["labels"] == {"app": "web", "v": "2"}
    rvs = [rv_of(e) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert rvs[-1] == api.server.storage.rv  # DELETED carries the deletion's RV


async def test_watch_without_resource_version_starts_with_the_current_state(api: Api) -> None:
    await api.post(PODS, pod("a"))
    await api.post(PODS, pod("b"))
    for params in ({}, {"resourceVersion": "0"}):
        async with api.watch(PODS, **params) as w:
            first = await w.take(2)
            await api.post(PODS, pod(f"c{len(params)}"))
            [after] = await w.take(1)
        assert names(first) == [("ADDED", "a"), ("ADDED", "b")]
        assert after["type"] == "ADDED"
        await api.delete(f"{PODS}/c{len(params)}")


async def test_watch_replays_history_after_a_resource_version(api: Api) -> None:
    await api.post(PODS, pod("a"))
    rv = api.server.storage.rv
    await api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})
    await api.post(PODS, pod("b"))
    async with api.watch(PODS, resourceVersion=str(rv)) as w:
        events = await w.take(2)
    assert names(events) == [("MODIFIED", "a"), ("ADDED", "b")]


async def test_a_long_replay_streams_in_order_and_is_not_lag(server: DemoApiServer,
                                                             api: Api) -> None:
    # More history than the live queue may hold, and more bytes than one drain takes:
    # a resumed watch still gets all of it, oldest first, then what happens live.
    server.storage.watch_queue_size = 10
    rv = server.storage.rv
    for i in range(120):  # ~2.4 MB of lines: several drains, many writes
        body = pod(f"p{i:03d}")
        body["metadata"]["annotations"] = {"note": "x" * 20_000}
        server.storage.create("pods", body)
    async with api.watch(PODS, resourceVersion=str(rv)) as w:
        replayed = await w.take(120, within=10.0)
        await api.post(PODS, pod("live"))
        [live] = await w.take(1)
    assert names(replayed) == [("ADDED", f"p{i:03d}") for i in range(120)]
    assert names([live]) == [("ADDED", "live")]
    assert rv_of(live) > rv_of(replayed[-1])


async def test_watch_from_a_compacted_version_is_an_in_stream_410(api: Api) -> None:
    await api.post(PODS, pod("a"))
    old = api.server.storage.rv
    await api.post(PODS, pod("b"))
    api.server.compact()
    async with api.watch(PODS, resourceVersion=str(old)) as w:
        assert w.status == 200
        [err] = await w.rest()
    assert err["type"] == "ERROR"
    status = err["object"]
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert (status["code"], status["reason"], status["status"]) == (410, "Expired", "Failure")
    assert status["message"] == f"too old resource version: {old} ({api.server.storage.rv})"
    # Watching from the current version still works after compaction.
    async with api.watch(PODS, resourceVersion=str(api.server.storage.rv)) as w:
        await api.post(PODS, pod("c"))
        assert names(await w.take(1)) == [("ADDED", "c")]


async def test_watch_410_as_http_status(make_server: ServerFactory,
                                        session: aiohttp.ClientSession) -> None:
    api = Api(await make_server(expired_as_http_410=True), session)
    await api.post(PODS, pod("a"))
    old = api.server.storage.rv
    await api.post(PODS, pod("b"))
    api.server.compact()
    status, body = await api.get(PODS, watch="true", resourceVersion=str(old))
    assert status == 410
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Expired", 410)


async def test_a_resource_version_from_the_future(api: Api) -> None:
    storage = api.server.storage
    future = storage.rv + 2  # e.g. remembered from before a server restart
    # LIST: 504 "Too large resource version".
    status, body = await api.get(PODS, resourceVersion=str(future))
    assert status == 504
    assert (body["reason"], body["details"]["retryAfterSeconds"]) == ("Timeout", 1)
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    # watch-list: the same error, as an ERROR event in the stream.
    async with api.watch(PODS, resourceVersion=str(future), sendInitialEvents="true",
                         resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true") as w:
        [err] = await w.rest()
    assert err["type"] == "ERROR" and err["object"]["code"] == 504
    # A plain watch is accepted and stays silent until the server passes that version.
    async with api.watch(PODS, resourceVersion=str(future), allowWatchBookmarks="true") as w:
        storage.create("pods", pod("a"))  # rv = future - 1
        storage.create("pods", pod("b"))  # rv = future: not after it either
        storage.create("pods", pod("c"))
        assert names(await w.take(1)) == [("ADDED", "c")]


async def test_bounded_history_makes_old_versions_expire(make_server: ServerFactory,
                                                        session: aiohttp.ClientSession) -> None:
    api = Api(await make_server(history_size=5), session)
    await api.post(PODS, pod("a"))
    old = api.server.storage.rv
    for i in range(6):
        await api.patch(f"{PODS}/a", {"metadata": {"labels": {"i": str(i)}}})
    async with api.watch(PODS, resourceVersion=str(old)) as w:
        [err] = await w.rest()
    assert err["type"] == "ERROR" and err["object"]["code"] == 410
    async with api.watch(PODS, resourceVersion=str(api.server.storage.rv - 5)) as w:
        assert [e["type"] for e in await w.take(5)] == ["MODIFIED"] * 5


async def test_bookmarks(api: Api) -> None:
    await api.post(PODS, pod("a"))
    rv = api.server.storage.rv
    async with api.watch(PODS, resourceVersion=str(rv), allowWatchBookmarks="true") as w:
        await asyncio.sleep(0.25)  # bookmarks are due, but nothing moved: none is sent
        await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}})
        bookmark = await w.next(within=1.0)
        await api.post(PODS, pod("b"))
        added = await w.next(within=1.0)
    # Bookmarks follow the global resourceVersion, here moved by another kind's write.
    assert bookmark == {"type": "BOOKMARK", "object": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv + 1)}}}
    assert added is not None and names([added]) == [("ADDED", "b")]


async def test_a_bookmark_comes_just_before_the_timeout(make_server: ServerFactory,
                                                        session: aiohttp.ClientSession) -> None:
    api = Api(await make_server(bookmark_interval=60.0), session)
    rv = api.server.storage.rv
    t = time.monotonic()
    async with api.watch(PODS, resourceVersion=str(rv), allowWatchBookmarks="true",
                         timeoutSeconds="3") as w:
        await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}})
        bookmark = await w.next(within=2.0)
        assert bookmark is not None and bookmark["type"] == "BOOKMARK"
        assert 0.8 < time.monotonic() - t < 1.6  # at deadline - 2 s, not after 60 s


async def test_timeout_seconds_ends_the_stream_cleanly(api: Api) -> None:
    t = time.monotonic()
    async with api.watch(PODS, resourceVersion=str(api.server.storage.rv),
                         timeoutSeconds="1") as w:
        # Nothing at all: no events, and no bookmarks (not allowed) at a 0.1 s interval.
        assert await w.rest() == []
        assert w.response.content.at_eof()
    assert 0.9 < time.monotonic() - t < 1.8
    assert api.server.watch_count == 0


async def test_selector_enter_and_leave(api: Api) -> None:
    await api.post(PODS, pod("a", app="web"))
    await api.post(PODS, pod("b", app="db"))
    rv = str(api.server.storage.rv)
    async with api.watch(PODS, resourceVersion=rv, labelSelector="app=web") as w:
        await api.patch(f"{PODS}/b", {"metadata": {"labels": {"app": "web"}}})  # enters
        await api.patch(f"{PODS}/a", {"metadata": {"labels": {"app": "db"}}})  # leaves
        await api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})  # not seen
        await api.patch(f"{PODS}/b", {"metadata": {"labels": {"x": "1"}}})  # still in
        events = await w.take(3)
    assert names(events) == [("ADDED", "b"), ("DELETED", "a"), ("MODIFIED", "b")]
    left = events[1]["object"]
    # The DELETED object is the last state that matched, at the change's resourceVersion.
    assert left["metadata"]["labels"] == {"app": "web"}
    assert rv_of(events[1]) == rv_of(events[0]) + 1


async def test_field_selector_watch_sees_a_pod_arrive_on_its_node(api: Api) -> None:
    await api.post(PODS, pod("web"))
    async with api.watch("/api/v1/pods", fieldSelector="spec.nodeName=n1") as w:
        await api.post(f"{PODS}/web/binding", {"metadata": {"name": "web"},
                                               "target": {"kind": "Node", "name": "n1"}})
        [ev] = await w.take(1)
    assert ev["type"] == "ADDED" and ev["object"]["spec"]["nodeName"] == "n1"


async def test_namespaced_watch_ignores_other_namespaces(api: Api) -> None:
    api.server.storage.create("namespaces", {"metadata": {"name": "other"}})
    async with api.watch(PODS, resourceVersion=str(api.server.storage.rv)) as w:
        await api.post("/api/v1/namespaces/other/pods", pod("x", "other"))
        await api.post(PODS, pod("y"))
        assert names(await w.take(1)) == [("ADDED", "y")]


async def test_legacy_watch_path_and_named_watches(api: Api) -> None:
    async with api.watch("/api/v1/watch/namespaces/default/pods",
                         resourceVersion=str(api.server.storage.rv)) as w:
        await api.post(PODS, pod("a"))
        assert names(await w.take(1)) == [("ADDED", "a")]
    await api.post(PODS, pod("b"))
    async with api.watch("/api/v1/watch/namespaces/default/pods/b") as legacy, \
            api.watch(f"{PODS}/b") as named:
        assert names(await legacy.take(1)) == names(await named.take(1)) == [("ADDED", "b")]
        await api.patch(f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})
        await api.patch(f"{PODS}/b", {"metadata": {"labels": {"x": "1"}}})
        assert names(await legacy.take(1)) == names(await named.take(1)) == [("MODIFIED", "b")]


async def test_close_watches_ends_streams_cleanly(api: Api) -> None:
    async with api.watch(PODS, resourceVersion=str(api.server.storage.rv)) as w1, \
            api.watch("/api/v1/nodes") as w2:
        await asyncio.sleep(0.05)
        assert api.server.watch_count == 2
        await api.server.close_watches()
        assert await w1.rest() == [] and await w2.rest() == []
    assert api.server.watch_count == 0


async def test_client_disconnect_releases_the_watch(api: Api) -> None:
    async with api.watch(PODS) as w:
        await asyncio.sleep(0.05)
        assert api.server.watch_count == 1
        w.response.close()
    for _ in range(50):  # the server notices within a few milliseconds
        if not api.server.watch_count:
            break
        await asyncio.sleep(0.01)
    assert api.server.watch_count == 0


async def test_send_initial_events_ends_with_an_annotated_bookmark(api: Api) -> None:
    await api.post(PODS, pod("a"))
    await api.post(PODS, pod("b"))
    async with api.watch(PODS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                         allowWatchBookmarks="true", resourceVersion="") as w:
        a, b, end = await w.take(3)
        await api.post(PODS, pod("c"))
        nxt = await w.next()
        while nxt is not None and nxt["type"] == "BOOKMARK":
            nxt = await w.next()
    assert names([a, b]) == [("ADDED", "a"), ("ADDED", "b")]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert nxt is not None and names([nxt]) == [("ADDED", "c")]
    status, body = await api.get(PODS, watch="1", sendInitialEvents="true",
                                 allowWatchBookmarks="true")
    assert status == 422 and body["reason"] == "Invalid"  # needs resourceVersionMatch
    # Without bookmarks the request is valid, but no end-of-initial-events bookmark comes.
    async with api.watch(PODS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan") as w:
        assert names(await w.take(3)) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
        with pytest.raises(TimeoutError):
            await w.next(within=0.3)


async def test_a_watcher_that_falls_behind_is_closed(server: DemoApiServer, api: Api) -> None:
    server.storage.watch_queue_size = 10
    async with api.watch(PODS, resourceVersion=str(server.storage.rv)) as w:
        await asyncio.sleep(0.05)
        for i in range(20):  # synchronously: the stream gets no chance to drain
            server.storage.create("pods", pod(f"p{i}"))
        # The stream ends; the client re-watches from the last RV it saw.
        assert await w.rest() == []
    assert server.watch_count == 0


async def test_events_k8s_io_watch_sees_core_events(api: Api) -> None:
    path = "/apis/events.k8s.io/v1/namespaces/default/events"
    async with api.watch(path, resourceVersion=str(api.server.storage.rv)) as w:
        await api.post("/api/v1/namespaces/default/events", {
            "metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "web"},
            "reason": "Started", "message": "Started container app", "type": "Normal"})
        [ev] = await w.take(1)
    assert ev["object"]["apiVersion"] == "events.k8s.io/v1"
    assert ev["object"]["note"] == "Started container app"
    assert ev["object"]["regarding"]["name"] == "web"
