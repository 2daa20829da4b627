"""Store: idempotent apply, markers, incremental indexes, Events linking, lanes."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kwatch.core.events import EventType, KEvent
from kwatch.core.rows import EventRow, PodRow
from kwatch.core.store import LaneMark, Store
from tests.core.builders import (
    T0,
    Cluster,
    PodSim,
    deployment,
    endpoint,
    endpointslice,
    k8s_event,
    owner_ref,
    replicaset,
    rs_pod,
)


def _synced_store(*kinds: str) -> tuple[Store, Cluster]:
    c = Cluster()
    store = Store()
    store.apply([c.listed(k) for k in kinds or ("Pod", "EndpointSlice", "Event", "ReplicaSet")])
    return store, c


def test_added_modified_deleted_changes() -> None:
    store, c = _synced_store()
    pod = PodSim("p")
    (ch,) = store.apply([c.added(pod.obj())])
    assert (ch.type, ch.kind, ch.key, ch.old, ch.initial) == (
        "ADDED",
        "Pod",
        "default/p",
        None,
        False,
    )
    assert isinstance(ch.new, PodRow)

    (ch2,) = store.apply([c.at(T0 + 1).modified(pod.schedule("n1", T0 + 1))])
    assert ch2.type == "MODIFIED" and ch2.old is ch.new
    assert isinstance(ch2.new, PodRow) and ch2.new.node_name == "n1"

    (ch3,) = store.apply([c.at(T0 + 2).deleted(pod.obj())])
    assert ch3.type == "DELETED" and ch3.new is None and ch3.t == T0 + 2
    assert store.get("Pod", "default/p") is None and store.counts()["Pod"] == 0


def test_apply_is_idempotent() -> None:
    store, c = _synced_store()
    pod = PodSim("p")
    ev = c.added(pod.obj())
    assert len(store.apply([ev])) == 1
    # Re-delivery with the same resourceVersion (relist, restarted reflector): nothing.
    assert store.apply([ev]) == []
    assert store.apply([KEvent(ev.t, "Pod", EventType.MODIFIED, ev.obj, ev.resource_version)]) == []
    # ADDED for an existing key with a new version is a MODIFIED.
    (ch,) = store.apply([c.added(pod.schedule("n1", T0))])
    assert ch.type == "MODIFIED"
    # MODIFIED for an unknown key is an insert.
    (ch,) = store.apply([c.modified(PodSim("q").obj())])
    assert ch.type == "ADDED"
    # DELETED for an unknown key: nothing.
    assert store.apply([c.deleted(PodSim("nope").obj())]) == []


def test_no_resource_version_compares_rows() -> None:
    store, _ = _synced_store()
    obj = PodSim("p").obj()
    ev = KEvent(T0, "Pod", EventType.ADDED, obj)
    assert len(store.apply([ev])) == 1
    assert store.apply([KEvent(T0, "Pod", EventType.MODIFIED, copy.deepcopy(obj))]) == []


def test_deleted_with_final_state_yields_modified_then_deleted() -> None:
    store, c = _synced_store()
    pod = PodSim("p", readiness_probe=False)
    pod.schedule("n1", T0)
    store.apply([c.added(pod.start(T0 + 1))])
    final = pod.terminate(T0 + 5, exit_code=0)
    mod, gone = store.apply([c.at(T0 + 6).deleted(final)])
    assert (mod.type, gone.type) == ("MODIFIED", "DELETED")
    assert isinstance(mod.new, PodRow) and mod.new.containers[0].state == "terminated"
    assert gone.old is mod.new


def test_tombstone_delete_yields_only_deleted() -> None:
    store, c = _synced_store()
    ev = c.added(PodSim("p").obj())
    store.apply([ev])
    meta = ev.obj["metadata"]
    tombstone = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion")},
    }
    (ch,) = store.apply([KEvent(T0 + 1, "Pod", EventType.DELETED, tombstone, ev.resource_version)])
    assert ch.type == "DELETED"


def test_recreated_name_yields_deleted_then_added() -> None:
    store, c = _synced_store()
    store.apply([c.added(PodSim("p", uid="old-uid").obj())])
    gone, born = store.apply([c.modified(PodSim("p", uid="new-uid").obj())])
    assert (gone.type, gone.row.uid) == ("DELETED", "old-uid")
    assert (born.type, born.row.uid) == ("ADDED", "new-uid")
    assert store.by_uid("old-uid") is None and store.by_uid("new-uid") is not None
    # A late tombstone of the old incarnation must not delete the new one.
    old = PodSim("p", uid="old-uid").obj()
    assert store.apply([c.deleted(old)]) == []
    assert store.get("Pod", "default/p") is not None


def test_markers_bookkeeping_and_initial_flag() -> None:
    c = Cluster()
    store = Store()
    (ch,) = store.apply([c.added(PodSim("a", ns="ns1").obj())])
    assert ch.initial and store.synced_kinds == set()
    store.apply([c.listed("Pod", "ns1")])
    assert store.synced_kinds == {"Pod"} and store.is_synced("Pod", "ns1")
    assert not store.is_synced("Pod", "ns2")
    # ns1 synced, ns2's first list is still initial (one reflector per namespace).
    (a,) = store.apply([c.added(PodSim("b", ns="ns1").obj())])
    (b,) = store.apply([c.added(PodSim("c", ns="ns2").obj())])
    assert not a.initial and b.initial
    store.apply([c.reset("Pod", "ns1"), c.listed("Pod", "ns1")])
    assert store.relists == {"Pod": 1} and store.lists == {"Pod": 2}
    assert store.synced_views == {("Pod", "ns1")}
    # A cluster-wide list covers every namespace.
    store.apply([c.listed("Node")])
    (n,) = store.apply([c.added({"kind": "Node", "metadata": {"name": "n1", "uid": "n"}})])
    assert not n.initial


def test_markers_never_sweep() -> None:
    """Relist deletions come from the source as DELETED events; a LISTED that does not
    mention a key must not remove it (unchanged objects are not re-sent)."""
    store, c = _synced_store()
    store.apply([c.added(PodSim("p").obj())])
    assert store.apply([c.reset("Pod"), c.listed("Pod")]) == []
    assert store.get("Pod", "default/p") is not None


def test_uid_owner_node_indexes() -> None:
    store, c = _synced_store("Pod", "ReplicaSet", "Deployment")
    d = deployment()
    rs = replicaset(d, "abc", replicas=2, revision="1")
    a, b = rs_pod(rs, "a"), rs_pod(rs, "b")
    store.apply([c.added(d), c.added(rs), c.added(a.obj()), c.added(b.obj())])
    rs_uid = rs["metadata"]["uid"]
    assert {r.name for r in store.children(rs_uid)} == {"web-abc-a", "web-abc-b"}
    assert [r.name for r in store.children(d["metadata"]["uid"])] == ["web-abc"]
    assert store.active_children(rs_uid) == 2
    assert store.by_uid(a.uid) is store.get("Pod", "default/web-abc-a")

    store.apply([c.modified(a.schedule("n1", T0)), c.modified(b.schedule("n2", T0))])
    assert [p.name for p in store.pods_on_node("n1")] == ["web-abc-a"]
    assert store.pod_count_on_node("n1") == 1 and store.pod_count_on_node("nowhere") == 0
    store.apply([c.modified(a.delete(T0 + 1))])
    assert store.active_children(rs_uid) == 1  # terminating pods are not active
    assert len(store.children(rs_uid)) == 2
    store.apply([c.deleted(a.obj())])
    assert [r.name for r in store.children(rs_uid)] == ["web-abc-b"]
    assert store.pods_on_node("n1") == [] and store.by_uid(a.uid) is None
    assert store.pod_count_on_node("n1") == 0

    # Re-parenting (orphaned then adopted) moves the child.
    other = owner_ref("ReplicaSet", "web-xyz", "other-rs")
    b.owner = other
    store.apply([c.modified(b.obj())])
    assert store.children(rs_uid) == [] and store.active_children("other-rs") == 1
    assert store.active_children(rs_uid) == 0


def test_endpoint_memberships_and_service_slices() -> None:
    store, c = _synced_store()
    a = PodSim("a", ip="10.0.0.1", node="n1")
    b = PodSim("b", ip="10.0.0.2", node="n1")
    store.apply([c.added(a.obj()), c.added(b.obj())])
    s1 = endpointslice("web", [endpoint(a), endpoint(b)], name="web-1")
    s2 = endpointslice("web", [endpoint(a, ready=False, terminating=True)], name="web-2")
    store.apply([c.added(s1), c.added(s2)])
    assert sorted(s.name for s in store.slices_of_service("default", "web")) == ["web-1", "web-2"]
    ms = sorted(store.endpoints_of_pod(a.uid), key=lambda m: m.slice_name)
    assert [(m.slice_name, m.service, m.ready, m.terminating) for m in ms] == [
        ("web-1", "web", True, False),
        ("web-2", "web", False, True),
    ]
    store.apply([c.modified(endpointslice("web", [endpoint(b)], name="web-1"))])
    assert [m.slice_name for m in store.endpoints_of_pod(a.uid)] == ["web-2"]
    store.apply([c.deleted(s2)])
    assert store.endpoints_of_pod(a.uid) == []
    assert [s.name for s in store.slices_of_service("default", "web")] == ["web-1"]


def test_endpoint_without_uid_is_resolved_by_name() -> None:
    store, c = _synced_store()
    a = PodSim("a", ip="10.0.0.1")
    store.apply([c.added(a.obj())])
    ep = endpoint(a)
    del ep["targetRef"]["uid"]
    store.apply([c.added(endpointslice("web", [ep]))])
    (m,) = store.endpoints_of_pod(a.uid)
    assert m.endpoint.pod_name == "a"


def test_events_link_before_and_after_the_object() -> None:
    store, c = _synced_store()
    pod = PodSim("p")
    early = k8s_event("p.1", regarding=pod.obj(), reason="Scheduled", controller="sched")
    store.apply([c.added(early)])  # the Event arrives before its pod
    assert store.events_for(pod.uid) == []
    store.apply([c.added(pod.obj())])
    assert [e.reason for e in store.events_for(pod.uid)] == ["Scheduled"]
    late = k8s_event("p.2", regarding=pod.obj(), reason="Pulled", controller="kubelet")
    store.apply([c.added(late)])
    assert [e.reason for e in store.events_for(pod.uid)] == ["Scheduled", "Pulled"]

    # No uid in `regarding`: linked by kind/namespace/name, before or after.
    q = PodSim("q")
    anon = k8s_event("q.1", regarding=q.obj(), reason="BackOff")
    anon["regarding"].pop("uid")
    store.apply([c.added(anon)])
    store.apply([c.added(q.obj())])
    assert [e.reason for e in store.events_for(q.uid)] == ["BackOff"]
    anon2 = k8s_event("q.2", regarding=q.obj(), reason="Unhealthy")
    anon2["regarding"].pop("uid")
    store.apply([c.added(anon2)])
    assert [e.reason for e in store.events_for(q.uid)] == ["BackOff", "Unhealthy"]


def test_events_per_object_are_bounded_and_updated_in_place() -> None:
    store = Store(events_per_object=3)
    c = Cluster()
    store.apply([c.listed("Pod"), c.listed("Event")])
    pod = PodSim("p")
    store.apply([c.added(pod.obj())])
    evs = [k8s_event(f"p.{i}", regarding=pod.obj(), reason=f"R{i}") for i in range(5)]
    store.apply([c.added(e) for e in evs])
    assert [e.reason for e in store.events_for(pod.uid)] == ["R2", "R3", "R4"]
    evs[2]["series"] = {"count": 7, "lastObservedTime": "2023-11-14T22:20:00.000000Z"}
    store.apply([c.modified(evs[2])])
    latest = store.events_for(pod.uid)
    assert [e.reason for e in latest] == ["R3", "R4", "R2"]
    assert isinstance(latest[-1], EventRow) and latest[-1].count == 7


def test_lane_survives_deletion_until_dismissed() -> None:
    store, c = _synced_store()
    pod = PodSim("p", ip="10.0.0.9")
    store.apply([c.at(T0).added(pod.obj())])
    store.apply([c.at(T0 + 1).modified(pod.schedule("n1", T0 + 1))])
    store.apply([c.at(T0 + 2).modified(pod.start(T0 + 2, ip="10.0.0.9"))])
    store.apply([c.at(T0 + 3).modified(pod.become_ready(T0 + 3))])
    store.apply([c.at(T0 + 3.5).added(endpointslice("web", [endpoint(pod)]))])
    store.apply([c.at(T0 + 10).modified(pod.delete(T0 + 10))])
    store.apply(
        [
            c.at(T0 + 10.25).modified(
                endpointslice("web", [endpoint(pod, ready=False, terminating=True)])
            )
        ]
    )
    store.apply([c.at(T0 + 11).modified(pod.terminate(T0 + 11))])
    store.apply([c.at(T0 + 11.5).modified(endpointslice("web", []))])
    store.apply([c.at(T0 + 12).deleted(pod.obj())])

    lane = store.lanes[pod.uid]
    assert lane.gone and lane.node == "n1"
    assert [(e.t - T0, e.mark.value, e.detail) for e in lane.entries] == [
        (0, "Pending", ""),
        (1, "Scheduled", "n1"),
        (2, "Running", "app"),
        (3, "Ready", ""),
        (3.5, "EndpointJoined", "web-abcde"),
        (3.5, "EndpointReady", "web-abcde"),
        (10, "DeletionRequested", "30"),
        (10.25, "EndpointTerminating", "web-abcde"),
        (11, "ContainerTerminated", "app"),
        (11, "NotReady", ""),
        (11.5, "EndpointLeft", "web-abcde"),
        (12, "Gone", ""),
    ]
    assert lane.between(LaneMark.DELETION_REQUESTED, LaneMark.ENDPOINT_TERMINATING) == 0.25
    assert [round(g, 2) for _, _, g in lane.gaps()][:3] == [1, 1, 1]
    assert store.lane(pod.uid) is lane
    store.dismiss_lane(pod.uid)
    assert pod.uid not in store.lanes and store.lane(pod.uid) is None


def test_lanes_are_bounded_and_seeded_for_pods_met_mid_life() -> None:
    c = Cluster()
    store = Store(max_lanes=2)
    running = PodSim("old", created=T0 - 100)
    running.schedule("n1", T0 - 99)
    store.apply([c.added(running.start(T0 - 98)), c.listed("Pod")])  # the initial list
    assert store.lanes == {}  # lists do not start lanes
    seeded = store.lane(running.uid)  # a view may still ask: seeded, not stored
    assert seeded is not None and running.uid not in store.lanes
    assert [(e.mark.value, e.observed) for e in seeded.entries][:2] == [
        ("Pending", False),
        ("Scheduled", False),
    ]
    store.apply([c.at(T0).modified(running.delete(T0))])
    lane = store.lanes[running.uid]
    marks = [(e.mark.value, e.observed) for e in lane.entries]
    assert marks[:3] == [("Pending", False), ("Scheduled", False), ("Running", False)]
    assert marks[-1] == ("DeletionRequested", True)

    for name in ("x", "y"):
        store.apply([c.added(PodSim(name).obj())])
    assert len(store.lanes) == 2 and running.uid not in store.lanes  # oldest evicted


# --------------------------------------------------------------------------- property


_NAMES = ("a", "b", "c")
_NODES = ("", "n1", "n2")


def _obj(kind: str, name: str, version: int, variant: int) -> dict[str, Any]:
    uid = f"{kind}-{name}-{variant % 2}"  # two incarnations per name
    if kind == "Pod":
        p = PodSim(name, uid=uid, node=_NODES[version % 3], ip=f"10.0.0.{version % 250}")
        if variant % 3 == 0:
            p.owner = owner_ref("ReplicaSet", "rs", f"rs-{variant % 2}")
        if version % 4 == 0:
            p.deletion, p.deletion_grace = T0 + 30, 30
        return p.obj()
    members = [
        PodSim(n, uid=f"Pod-{n}-{(variant + i) % 2}", ip=f"10.0.1.{i}")
        for i, n in enumerate(_NAMES[: version % 4])
    ]
    eps = [endpoint(m, ready=bool((version + i) % 2)) for i, m in enumerate(members)]
    return endpointslice(f"svc{variant % 2}", eps, name=name, uid=uid)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["Pod", "EndpointSlice"]),
        st.sampled_from(_NAMES),
        st.sampled_from([EventType.ADDED, EventType.MODIFIED, EventType.DELETED]),
        st.integers(0, 11),
        st.integers(0, 5),
    ),
    max_size=40,
)


def _events(ops: list[tuple[str, str, EventType, int, int]]) -> list[KEvent]:
    """Watch-like events. As on a real watch, a DELETED is about the incarnation that
    exists (its uid), never about one replaced earlier."""
    out = []
    current: dict[tuple[str, str], str] = {}
    for rv, (kind, name, typ, version, variant) in enumerate(ops, start=1):
        obj = _obj(kind, name, version, variant)
        obj["metadata"]["resourceVersion"] = str(rv)
        if typ is EventType.DELETED:
            obj["metadata"]["uid"] = current.pop((kind, name), obj["metadata"]["uid"])
        else:
            current[(kind, name)] = obj["metadata"]["uid"]
        out.append(KEvent(T0 + rv, kind, typ, obj, str(rv)))
    return out


def _snapshot(store: Store) -> dict[str, Any]:
    pods = dict(store.rows("Pod"))
    slices = dict(store.rows("EndpointSlice"))
    uids = [r.uid for r in (*pods.values(), *slices.values())]
    owners = {r.owner.uid for r in pods.values() if r.owner is not None} | {"rs-0", "rs-1"}
    return {
        "pods": pods,
        "slices": slices,
        "by_uid": {u: store.by_uid(u) for u in uids},
        "children": {o: sorted(r.uid for r in store.children(o)) for o in owners},
        "active": {o: store.active_children(o) for o in owners},
        "nodes": {n: sorted(p.key for p in store.pods_on_node(n)) for n in _NODES if n},
        "members": {
            u: sorted((m.slice_key, m.endpoint) for m in store.endpoints_of_pod(u))
            for n in _NAMES
            for u in (f"Pod-{n}-0", f"Pod-{n}-1")
        },
        "services": {
            s: sorted(x.key for x in store.slices_of_service("default", s))
            for s in ("svc0", "svc1")
        },
        "counts": {k: v for k, v in store.counts().items() if v},
    }


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_random_history_converges_to_final_state(
    ops: list[tuple[str, str, EventType, int, int]],
) -> None:
    events = _events(ops)
    store = Store()
    store.apply(
        [KEvent(T0, "Pod", EventType.LISTED), KEvent(T0, "EndpointSlice", EventType.LISTED)]
    )
    for ev in events:  # one event per batch, as a watch delivers them
        store.apply([ev])

    final: dict[tuple[str, str], KEvent] = {}
    for ev in events:
        final[(ev.kind, ev.name)] = ev
    fresh = Store()
    fresh.apply(
        [
            KEvent(ev.t, ev.kind, EventType.ADDED, ev.obj, ev.resource_version)
            for ev in final.values()
            if ev.type is not EventType.DELETED
        ]
    )
    assert _snapshot(store) == _snapshot(fresh)


@settings(max_examples=100, deadline=None)
@given(_ops, _ops)
def test_relist_converges_whatever_came_before(
    before: list[tuple[str, str, EventType, int, int]],
    target: list[tuple[str, str, EventType, int, int]],
) -> None:
    """A relist batch as the sources send it (tombstones for vanished keys, the listed
    objects, LISTED) leaves the store equal to a fresh store holding only the list."""
    store = Store()
    store.apply(_events(before))
    listed: dict[tuple[str, str], KEvent] = {}
    for ev in _events(target):
        ev = KEvent(ev.t, ev.kind, ev.type, ev.obj, f"x{ev.resource_version}")
        ev.obj["metadata"]["resourceVersion"] = ev.resource_version
        if ev.type is EventType.DELETED:
            listed.pop((ev.kind, ev.name), None)
        else:
            listed[(ev.kind, ev.name)] = ev
    batch = [KEvent(T0, "Pod", EventType.RESET), KEvent(T0, "EndpointSlice", EventType.RESET)]
    for kind in ("Pod", "EndpointSlice"):
        for row in list(store.rows(kind).values()):
            if (kind, row.name) not in listed:
                meta = {"name": row.name, "namespace": row.namespace, "uid": row.uid}
                batch.append(KEvent(T0, kind, EventType.DELETED, {"metadata": meta}))
    batch += [
        KEvent(e.t, e.kind, EventType.ADDED, e.obj, e.resource_version) for e in listed.values()
    ]
    batch += [KEvent(T0, "Pod", EventType.LISTED), KEvent(T0, "EndpointSlice", EventType.LISTED)]
    store.apply(batch)

    fresh = Store()
    fresh.apply(
        [KEvent(e.t, e.kind, EventType.ADDED, e.obj, e.resource_version) for e in listed.values()]
    )
    assert _snapshot(store) == _snapshot(fresh)
