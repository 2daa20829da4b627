"""Storage semantics, in process (the HTTP layer is a thin shell over these)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from kube_http import deployment, pod

from kwatch.demo.api.collection import TooOld
from kwatch.demo.api.errors import ApiError
from kwatch.demo.api.storage import Storage
from kwatch.demo.clock import parse_time

JSON = dict[str, Any]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Storage:
    s = Storage(history_size=50, clock=clock)
    for ns in ("default", "other"):
        s.create("namespaces", {"metadata": {"name": ns}})
    return s


def api_error(fn: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn(*args, **kwargs)
    return err.value


# -- create -----------------------------------------------------------------------------


def test_create_sets_system_metadata(store: Storage) -> None:
    before = store.rv
    p = store.create("pods", pod("web-1", app="web"))
    meta = p["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert meta["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert meta["resourceVersion"] == str(before + 1) == str(store.rv)
    assert meta["generation"] == 1
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert p["spec"]["terminationGracePeriodSeconds"] == 30
    assert p["spec"]["schedulerName"] == "default-scheduler"
    q = store.create("pods", pod("web-2"))
    assert int(q["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])


def test_generate_name_and_conflicts(store: Storage) -> None:
    p = store.create("pods", {"metadata": {"generateName": "web-7d4b9-"}, "spec":
                              {"containers": [{"name": "a", "image": "x"}]}})
    assert re.fullmatch(r"web-7d4b9-[bcdfghjklmnpqrstvwxz2456789]{5}", p["metadata"]["name"])
    err = api_error(store.create, "pods", pod(p["metadata"]["name"]))
    assert (err.code, err.reason) == (409, "AlreadyExists")


def test_create_in_a_missing_namespace_is_404(store: Storage) -> None:
    err = api_error(store.create, "pods", pod("x", "nope"))
    assert (err.code, err.reason) == (404, "NotFound")
    assert err.message == 'namespaces "nope" not found'


def test_create_validates_names_and_pods(store: Storage) -> None:
    err = api_error(store.create, "pods", pod("Bad_Name"))
    assert err.code == 422 and err.reason == "Invalid"
    err = api_error(store.create, "pods", {"metadata": {"name": "p"}, "spec": {}})
    assert "spec.containers: Required value" in err.message


def test_nodes_keep_their_status_on_create_pods_do_not(store: Storage) -> None:
    n = store.create("nodes", {"metadata": {"name": "n1"},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert n["status"]["conditions"][0]["status"] == "True"
    assert "generation" not in n["metadata"]
    p = pod("p")
    p["status"] = {"phase": "Running"}
    assert store.create("pods", p)["status"]["phase"] == "Pending"


# -- defaulting --------------------------------------------------------------------------


def test_workload_defaults(store: Storage) -> None:
    d = store.create("deployments", deployment("web"), group="apps")
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert d["status"] == {}
    sts = store.create("statefulsets", {**deployment("db"), "kind": "StatefulSet"})
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sts["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    assert sts["spec"]["replicas"] == 1
    ds = store.create("daemonsets", {**deployment("agent"), "kind": "DaemonSet"})
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert "replicas" not in ds["spec"]
    rs = store.create("replicasets", {**deployment("web-abc"), "kind": "ReplicaSet"})
    assert rs["spec"]["replicas"] == 1


def test_a_secret_without_a_type_is_opaque(store: Storage) -> None:
    plain = store.create("secrets", {"metadata": {"name": "a"}, "data": {"k": "dg=="}})
    assert plain["type"] == "Opaque"
    tls = store.create("secrets", {"metadata": {"name": "b"}, "type": "kubernetes.io/tls"})
    assert tls["type"] == "kubernetes.io/tls"


def test_pod_qos_class(store: Storage) -> None:
    def qos(resources: JSON) -> str:
        p = pod(f"q{len(store.collection(store.resolve('pods')))}")
        p["spec"]["containers"][0]["resources"] = resources
        return str(store.create("pods", p)["status"]["qosClass"])

    assert qos({}) == "BestEffort"
    assert qos({"limits": {"cpu": "1", "memory": "1Gi"}}) == "Guaranteed"  # requests := limits
    assert qos({"requests": {"cpu": "1"}}) == "Burstable"
    assert qos({"requests": {"cpu": "1", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "1Gi"}}) == "Burstable"


def test_service_cluster_ips_are_allocated_and_released(store: Storage) -> None:
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    a = store.create("services", svc)
    assert a["spec"]["type"] == "ClusterIP"
    assert a["spec"]["clusterIP"].startswith("10.9") and a["spec"]["clusterIPs"] == [
        a["spec"]["clusterIP"]]
    assert a["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    taken = {"metadata": {"name": "b"}, "spec": {"clusterIP": a["spec"]["clusterIP"]}}
    assert api_error(store.create, "services", taken).code == 422
    store.delete("services", "web")
    assert store.create("services", taken)["spec"]["clusterIP"] == a["spec"]["clusterIP"]
    headless = store.create("services", {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}})
    assert headless["spec"]["clusterIP"] == "None"


# -- update -------------------------------------------------------------------------------


def test_update_with_stale_resource_version_conflicts(store: Storage) -> None:
    p = store.create("pods", pod("web"))
    p["metadata"]["labels"] = {"v": "1"}
    fresh = store.update("pods", p)
    p["metadata"]["labels"] = {"v": "2"}
    err = api_error(store.update, "pods", p)  # still carries the old resourceVersion
    assert (err.code, err.reason) == (409, "Conflict")
    assert "the object has been modified" in err.message
    del p["metadata"]["resourceVersion"]  # no RV: an unconditional update
    assert store.update("pods", p)["metadata"]["labels"] == {"v": "2"}
    assert fresh["metadata"]["labels"] == {"v": "1"}


def test_generation_counts_spec_changes_only(store: Storage) -> None:
    d = store.create("deployments", deployment("web"))
    assert d["metadata"]["generation"] == 1
    d = store.patch("deployments", "web", {"metadata": {"labels": {"x": "y"}}})
    assert d["metadata"]["generation"] == 1
    d = store.patch("deployments", "web", {"status": {"replicas": 3}}, subresource="status")
    assert d["metadata"]["generation"] == 1 and d["status"]["replicas"] == 3
    d = store.patch("deployments", "web", {"spec": {"replicas": 3}})
    assert d["metadata"]["generation"] == 2
    d = store.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.28"}]}}}}, patch_type="strategic")
    assert d["metadata"]["generation"] == 3


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def daemonset(name: str, annotations: dict[str, str] | None = None) -> JSON:
    body = {**deployment(name), "kind": "DaemonSet"}  # no replicas: same shape otherwise
    if annotations is not None:
        body["metadata"]["annotations"] = annotations
    return body


def template_generation(obj: JSON) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)


def test_daemonset_template_generation_counts_template_changes(store: Storage) -> None:
    # kube-apiserver's DaemonSet strategy: 1 on create, +1 per change of spec.template,
    # whoever writes and whatever else changes. The daemonset controller copies it into
    # its pods' pod-template-generation label. (This sequence was checked against a
    # real kube-apiserver v1.36.1.)
    ds = store.create("daemonsets", daemonset("agent", {"team": "infra"}))
    assert template_generation(ds) == "1"
    assert ds["metadata"]["annotations"]["team"] == "infra"
    ds = store.patch("daemonsets", "agent", {"spec": {"minReadySeconds": 5}})
    assert (ds["metadata"]["generation"], template_generation(ds)) == (2, "1")
    ds = store.patch("daemonsets", "agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.28"}]}}}}, patch_type="strategic")
    assert (ds["metadata"]["generation"], template_generation(ds)) == (3, "2")
    ds = store.patch("daemonsets", "agent", {"status": {"numberReady": 1}},
                     subresource="status")
    assert template_generation(ds) == "2"
    # Clients can neither set nor remove it (dropping it is no write at all).
    ds = store.patch("daemonsets", "agent", {"metadata": {"annotations": {
        TEMPLATE_GENERATION: "7"}}})
    assert template_generation(ds) == "2"
    rv = store.rv
    ds["metadata"]["annotations"].pop(TEMPLATE_GENERATION)
    ds = store.update("daemonsets", ds)
    assert template_generation(ds) == "2" and store.rv == rv
    ds["metadata"]["annotations"][TEMPLATE_GENERATION] = "two"
    err = api_error(store.update, "daemonsets", ds)
    assert err.code == 400 and 'parsing "two": invalid syntax' in err.message
    # On create a client's value of at least 1 is kept (as by the real server).
    assert template_generation(store.create("daemonsets", daemonset(
        "restored", {TEMPLATE_GENERATION: "5"}))) == "5"
    assert template_generation(store.create("daemonsets", daemonset(
        "zero", {TEMPLATE_GENERATION: "0"}))) == "1"
    # Other workloads don't get it.
    assert "annotations" not in store.create("deployments", deployment("web"))["metadata"]


def test_status_subresource_and_main_resource_are_separate(store: Storage) -> None:
    d = store.create("deployments", deployment("web"))
    d["spec"]["replicas"] = 5
    d["status"] = {"replicas": 9}
    d = store.update("deployments", d)
    assert d["spec"]["replicas"] == 5 and d["status"] == {}  # main update ignores status
    d["spec"]["replicas"] = 7
    d["status"] = {"replicas": 5, "readyReplicas": 5}
    d = store.update("deployments", d, subresource="status")
    assert d["spec"]["replicas"] == 5  # the status update ignored the spec
    assert d["status"] == {"replicas": 5, "readyReplicas": 5}


def test_noop_writes_do_not_bump_the_resource_version(store: Storage) -> None:
    p = store.create("pods", pod("web", app="web"))
    rv = store.rv
    again = store.patch("pods", "web", {"metadata": {"labels": {"app": "web"}}})
    assert again["metadata"]["resourceVersion"] == p["metadata"]["resourceVersion"]
    assert store.rv == rv


def test_pod_spec_is_mostly_immutable(store: Storage) -> None:
    store.create("pods", pod("web"))
    ok = store.patch("pods", "web", {"spec": {"containers": [{"name": "app", "image": "n:2"}]}},
                     patch_type="strategic")
    assert ok["spec"]["containers"][0]["image"] == "n:2"
    err = api_error(store.patch, "pods", "web", {"spec": {"nodeName": "n1"}})
    assert err.code == 422 and "pod updates may not change fields" in err.message


def test_in_place_resize_subresource(store: Storage) -> None:
    store.create("pods", pod("web"))
    res = {"requests": {"cpu": "200m"}}
    p = store.patch("pods", "web", {"spec": {"containers": [{"name": "app", "resources": res}]}},
                    patch_type="strategic", subresource="resize")
    assert p["spec"]["containers"][0]["resources"] == res
    assert p["metadata"]["generation"] == 2


def test_resize_beyond_the_nodes_allocatable_is_refused_at_admission(store: Storage) -> None:
    """PodResizeValidator, as real v1.36 answers PATCH pods/NAME/resize (403, NodeCapacity)."""
    store.create("nodes", {"metadata": {"name": "n1"}, "status": {
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    store.create("pods", {**pod("web"), "spec": {**pod("web")["spec"], "nodeName": "n1"}})

    def resize(cpu: str, memory: str = "128Mi") -> JSON:
        res = {"requests": {"cpu": cpu, "memory": memory}}
        return store.patch("pods", "web", {"spec": {"containers": [
            {"name": "app", "resources": res}]}}, patch_type="strategic", subresource="resize")

    err = api_error(resize, "64")
    assert err.code == 403 and err.reason == "Forbidden"
    assert err.message == ('pods "web" is forbidden: node didn\'t have enough allocatable '
                           "resources: cpu, requested: 64000, allocatable: 4000")
    assert err.details == {"name": "web", "kind": "pods", "causes": [{"reason": "NodeCapacity"}]}
    err = api_error(resize, "64", "100Gi")
    assert err.message.endswith("cpu, requested: 64000, allocatable: 4000; memory, requested: "
                                "107374182400, allocatable: 8589934592")
    # All of the allocatable is fine: whether it is free is the kubelet's call (Deferred).
    assert resize("4")["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "4"


# -- managedFields ------------------------------------------------------------------------


def test_managed_fields_record_who_changed_what(store: Storage) -> None:
    store.create("pods", pod("web", app="web"), manager="kube-controller-manager")
    p = store.patch("pods", "web", {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}}, subresource="status", manager="kubelet")
    ctrl, kubelet = p["metadata"]["managedFields"]
    assert ctrl["manager"] == "kube-controller-manager" and ctrl["operation"] == "Update"
    assert "f:spec" in ctrl["fieldsV1"] and "f:status" not in ctrl["fieldsV1"]
    assert ctrl["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert kubelet["manager"] == "kubelet" and kubelet["subresource"] == "status"
    assert kubelet["fieldsV1"]["f:status"]["f:conditions"] == {
        'k:{"type":"Ready"}': {".": {}, "f:type": {}, "f:status": {}}}
    assert kubelet["time"] == "2023-11-14T22:13:20Z" and kubelet["fieldsType"] == "FieldsV1"
    # A later writer of a field takes it over from the previous owner.
    p = store.patch("pods", "web", {"metadata": {"labels": {"app": "db"}}}, manager="kubectl")
    owners = {e["manager"]: e["fieldsV1"] for e in p["metadata"]["managedFields"]}
    assert owners["kubectl"] == {"f:metadata": {"f:labels": {"f:app": {}}}}
    assert "f:metadata" not in owners["kube-controller-manager"]


# -- delete -------------------------------------------------------------------------------


def test_scheduled_pod_deletion_is_graceful(store: Storage, clock: FakeClock) -> None:
    p = pod("web")
    p["spec"]["terminationGracePeriodSeconds"] = 45
    store.create("pods", p)
    _bind(store, "web", "n1")
    out = store.delete("pods", "web")
    meta = out["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 45
    assert parse_time(meta["deletionTimestamp"]) == clock.t + 45
    assert meta["generation"] == 2
    assert store.get("pods", "web")["metadata"]["deletionTimestamp"]
    # a longer grace period does not extend it; a shorter one does shorten it
    assert store.delete("pods", "web", grace_period_seconds=60)["metadata"][
        "deletionGracePeriodSeconds"] == 45
    assert store.delete("pods", "web", grace_period_seconds=10)["metadata"][
        "deletionGracePeriodSeconds"] == 10
    store.delete("pods", "web", grace_period_seconds=0)  # what the kubelet does at the end
    assert api_error(store.get, "pods", "web").code == 404


def _bind(store: Storage, name: str, node: str) -> None:
    from kwatch.demo.api import subresources

    subresources.bind(store, store.resolve("pods"), "default", name,
                      {"metadata": {"name": name}, "target": {"kind": "Node", "name": node}})


def test_unscheduled_or_finished_pods_go_at_once(store: Storage) -> None:
    store.create("pods", pod("pending"))
    gone = store.delete("pods", "pending")
    assert "deletionTimestamp" not in gone["metadata"]
    assert api_error(store.get, "pods", "pending").code == 404
    store.create("pods", pod("done"))
    _bind(store, "done", "n1")
    store.patch("pods", "done", {"status": {"phase": "Succeeded"}}, subresource="status")
    store.delete("pods", "done")
    assert api_error(store.get, "pods", "done").code == 404


def test_finalizers_hold_an_object_until_removed(store: Storage) -> None:
    cm = {"metadata": {"name": "cfg", "finalizers": ["example.com/cleanup"]}, "data": {"a": "b"}}
    store.create("configmaps", cm)
    out = store.delete("configmaps", "cfg")
    assert out["metadata"]["deletionTimestamp"] and out["metadata"][
        "deletionGracePeriodSeconds"] == 0
    assert store.get("configmaps", "cfg")["data"] == {"a": "b"}
    err = api_error(store.patch, "configmaps", "cfg",
                    {"metadata": {"finalizers": ["example.com/cleanup", "new"]}})
    assert err.code == 422 and "no new finalizers" in err.message
    store.patch("configmaps", "cfg", {"metadata": {"finalizers": None}})
    assert api_error(store.get, "configmaps", "cfg").code == 404


def test_delete_preconditions(store: Storage) -> None:
    store.create("configmaps", {"metadata": {"name": "c"}})
    err = api_error(store.delete, "configmaps", "c", preconditions={"uid": "nope"})
    assert err.code == 409 and "Precondition failed" in err.message
    err = api_error(store.delete, "configmaps", "c", preconditions={"resourceVersion": "1"})
    assert err.code == 409


def _owned(kind: str, name: str, owner: JSON) -> JSON:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    obj = deployment(name) if kind != "Pod" else pod(name)
    obj["kind"] = kind
    obj["metadata"]["ownerReferences"] = [ref]
    return obj


def _tree(store: Storage) -> tuple[JSON, JSON]:
    d = store.create("deployments", deployment("web"))
    rs = store.create("replicasets", _owned("ReplicaSet", "web-abc", d))
    for i in range(2):
        store.create("pods", _owned("Pod", f"web-abc-{i}", rs))
    _bind(store, "web-abc-0", "n1")  # scheduled: its deletion is graceful
    return d, rs


def test_background_cascade(store: Storage) -> None:
    _tree(store)
    store.delete("deployments", "web")
    assert store.list("replicasets")["items"] == []
    pods = {p["metadata"]["name"]: p for p in store.list("pods")["items"]}
    assert list(pods) == ["web-abc-0"]  # the unscheduled one went at once
    assert pods["web-abc-0"]["metadata"]["deletionTimestamp"]


def test_orphan_cascade(store: Storage) -> None:
    _tree(store)
    store.delete("deployments", "web", propagation_policy="Orphan")
    [rs] = store.list("replicasets")["items"]
    assert "ownerReferences" not in rs["metadata"]
    assert len(store.list("pods")["items"]) == 2


def test_foreground_cascade_waits_for_dependents(store: Storage) -> None:
    _tree(store)
    out = store.delete("replicasets", "web-abc", propagation_policy="Foreground")
    assert "foregroundDeletion" in out["metadata"]["finalizers"]
    # web-abc-1 went at once; web-abc-0 is terminating, so the owner is still here
    assert [p["metadata"]["name"] for p in store.list("pods")["items"]] == ["web-abc-0"]
    assert store.get("replicasets", "web-abc")["metadata"]["deletionTimestamp"]
    store.delete("pods", "web-abc-0", grace_period_seconds=0)
    assert api_error(store.get, "replicasets", "web-abc").code == 404
    assert store.get("deployments", "web")  # the deployment was not part of it


def test_deleting_a_namespace_leaves_it_terminating_until_finalized(store: Storage) -> None:
    assert store.get("namespaces", "other")["spec"]["finalizers"] == ["kubernetes"]
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "other"}})
    out = store.delete("namespaces", "other")
    assert out["metadata"]["deletionTimestamp"] and out["status"]["phase"] == "Terminating"
    assert store.delete("namespaces", "other")["status"]["phase"] == "Terminating"
    # the content stays: deleting it is the namespace controller's job
    assert [c["metadata"]["name"] for c in store.list("configmaps", "other")["items"]] == ["c"]
    err = api_error(store.create, "configmaps", {"metadata": {"name": "d"}}, "other")
    assert err.code == 403 and err.reason == "Forbidden"
    assert err.message == ('configmaps "d" is forbidden: unable to create new content in '
                           "namespace other because it is being terminated")
    assert err.details["causes"][0]["reason"] == "NamespaceTerminating"
    # a plain update can't drop the finalizer; /finalize can, and that removes the namespace
    ns = store.get("namespaces", "other")
    ns["spec"]["finalizers"] = []
    assert store.update("namespaces", ns)["spec"]["finalizers"] == ["kubernetes"]
    ns = store.get("namespaces", "other")
    ns["spec"] = {}  # omitempty: client-go sends no finalizers at all
    store.update("namespaces", ns, subresource="finalize")
    assert api_error(store.get, "namespaces", "other").code == 404


# -- list ---------------------------------------------------------------------------------


def _page(store: Storage, limit: int, token: str = "") -> tuple[list[str], str | None, int]:
    page = store.list_page(store.resolve("pods"), "default", None, None, limit=limit,
                           continue_token=token)
    return [e.key for e in page.entries], page.continue_token, page.resource_version


def test_paging_serves_one_consistent_snapshot(store: Storage) -> None:
    for i in range(6):
        store.create("pods", pod(f"p{i}"))
    keys, token, rv = _page(store, 2)
    assert keys == ["default/p0", "default/p1"] and token
    # Changes after the first page must not show in the later pages.
    store.delete("pods", "p3")
    store.create("pods", pod("p2a"))
    store.patch("pods", "p4", {"metadata": {"labels": {"changed": "yes"}}})
    seen = keys
    pages = 1
    while token:
        keys, token, page_rv = _page(store, 2, token)
        assert page_rv == rv
        seen += keys
        pages += 1
    assert seen == [f"default/p{i}" for i in range(6)]
    assert pages == 3
    snapshot = store.list_page(store.resolve("pods"), "default", None, None,
                               resource_version=str(rv), resource_version_match="Exact")
    p4 = next(e for e in snapshot.entries if e.key == "default/p4")
    assert "changed" not in p4.labels


def test_compacted_continue_token_is_410_with_a_fresh_token(store: Storage) -> None:
    for i in range(3):
        store.create("pods", pod(f"p{i}"))
    _, token, _ = _page(store, 1)
    assert token
    store.create("pods", pod("late"))
    store.compact()
    err = api_error(_page, store, 1, token)
    assert (err.code, err.reason) == (410, "Expired")
    fresh = err.status()["metadata"]["continue"]
    keys, _, rv = _page(store, 10, fresh)
    assert keys == ["default/p1", "default/p2"] and rv == store.rv


def test_history_is_bounded(store: Storage) -> None:
    store.create("pods", pod("p"))
    old = store.rv
    for i in range(60):  # history_size is 50
        store.patch("pods", "p", {"metadata": {"labels": {"i": str(i)}}})
    coll = store.collection(store.resolve("pods"))
    assert len(coll.history) == 50
    with pytest.raises(TooOld):
        coll.changes_after(old)
    assert len(coll.changes_after(store.rv - 10)) == 10


def test_bulk_load_is_listable_and_compacts_older_versions(store: Storage) -> None:
    before = store.rv
    n = store.bulk_load("pods", "", [pod(f"b{i:03d}", node="n1") for i in range(200)])
    assert n == 200 and store.rv == before + 200
    listed = store.list("pods", field_selector="spec.nodeName=n1")
    assert len(listed["items"]) == 200
    assert listed["items"][0]["metadata"]["uid"]
    with pytest.raises(TooOld):
        store.collection(store.resolve("pods")).changes_after(before)
    err = api_error(store.bulk_load, "pods", "", [pod("b000")])
    assert err.reason == "AlreadyExists"


async def test_bulk_load_with_a_watcher_sends_added_events(store: Storage) -> None:
    w = store.watch(store.resolve("pods"), None, None, None,
                    resource_version=str(store.rv))
    p = pod("x", node="n1")
    p["status"] = {"phase": "Running"}
    assert store.bulk_load("pods", "", [p, pod("y")]) == 2
    lines = w.drain()
    assert [line.split(b'"type":"')[1][:5] for line in lines] == [b"ADDED", b"ADDED"]
    assert store.get("pods", "x")["status"] == {"phase": "Running"}  # kept, not reset


def test_a_resumed_watch_renders_its_replay_in_bounded_drains(store: Storage) -> None:
    rv = store.rv
    for i in range(40):
        store.create("pods", pod(f"r{i:02d}"))
    w = store.watch(store.resolve("pods"), None, None, None, resource_version=str(rv))
    assert not w.pending and len(w.backlog) == 40  # nothing rendered yet
    store.create("pods", pod("live"))  # queued live while the backlog waits
    batches = []
    while w.has_pending:
        batches.append(w.drain(max_bytes=2_000))
    got = [orjson.loads(line)["object"]["metadata"]["name"] for b in batches for line in b]
    assert got == [f"r{i:02d}" for i in range(40)] + ["live"]
    assert len(batches) > 5  # each drain stops once it has ~2 KB of the backlog
    assert all(sum(map(len, b)) < 2_000 + max(map(len, b)) for b in batches)


# -- events, two API versions over one store ---------------------------------------------


def test_events_are_shared_between_core_and_events_k8s_io(store: Storage) -> None:
    store.create("events", {
        "metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web"},
        "reason": "Killing", "message": "Stopping container app", "type": "Normal",
        "source": {"component": "kubelet"}}, "default")
    [ev] = store.list("events", "default", "events.k8s.io")["items"]
    assert ev["apiVersion"] == "events.k8s.io/v1"
    assert ev["regarding"] == {"kind": "Pod", "name": "web"}
    assert ev["note"] == "Stopping container app"
    assert ev["deprecatedSource"] == {"component": "kubelet"}
    store.create("events", {
        "metadata": {"name": "web.2"}, "regarding": {"kind": "Pod", "name": "web"},
        "reason": "Scheduled", "note": "assigned", "type": "Normal",
        "reportingController": "default-scheduler", "reportingInstance": "x",
        "action": "Binding", "eventTime": "2023-11-14T22:13:20.000000Z"},
        "default", "events.k8s.io")
    core = {e["metadata"]["name"]: e for e in store.list("events", "default")["items"]}
    assert core["web.2"]["message"] == "assigned"
    assert core["web.2"]["reportingComponent"] == "default-scheduler"
    assert core["web.2"]["apiVersion"] == "v1"
