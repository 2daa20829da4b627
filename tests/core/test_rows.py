"""Row projections: what each kind keeps, nil semantics, sharing, robustness."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from kwatch.core.rows import (
    ContainerStatus,
    DaemonSetRow,
    DeploymentRow,
    Endpoint,
    EndpointSliceRow,
    EventRow,
    LeaseRow,
    NodeRow,
    PodRow,
    PreStop,
    ReplicaSetRow,
    Row,
    ServiceRow,
    StatefulSetRow,
    diff_endpoints,
    prestop_of,
    resolve_rolling,
    row_from,
)
from kwatch.core.timefmt import parse_rfc3339
from tests.core.builders import (
    T0,
    PodSim,
    deployment,
    deployment_status,
    endpoint,
    endpointslice,
    k8s_event,
    lease,
    mf,
    node,
    replicaset,
    rs_pod,
    service,
    ts,
)


def _pod_row(obj: dict[str, object]) -> PodRow:
    row = row_from("Pod", obj)
    assert isinstance(row, PodRow)
    return row


def test_pod_row_keeps_lifecycle_fields() -> None:
    rs = replicaset(deployment(), "5d8f7", replicas=1, revision="1")
    sim = rs_pod(rs, "x2k9q", grace=45)
    sim.schedule("node-1", T0 + 1)
    obj = sim.start(T0 + 2, ip="10.1.2.3")
    row = _pod_row(obj)

    assert row.name == "web-5d8f7-x2k9q" and row.namespace == "default"
    assert row.key == "default/web-5d8f7-x2k9q"
    assert row.phase == "Running" and row.node_name == "node-1"
    assert row.pod_ip == "10.1.2.3" and row.host_ip == "192.168.0.10"
    assert row.template_hash == "5d8f7"
    assert row.owner is not None and row.owner.kind == "ReplicaSet"
    assert row.owner.name == "web-5d8f7" and row.owner.controller
    assert row.created == T0
    assert row.deleted is None and not row.terminating
    assert row.qos == "Burstable"
    assert row.spec.grace == 45 and row.termination_grace_period == 45
    assert row.spec.service_account == "default" and row.spec.priority == 0
    assert row.has_readiness_probe
    assert row.prestop == PreStop("none")
    sched = row.condition("PodScheduled")
    assert sched is not None and sched.is_true and sched.t == T0 + 1
    assert not row.ready  # a probe: not ready until it passes
    (c,) = row.containers
    assert c == ContainerStatus(
        name="app",
        ready=False,
        started=True,
        restarts=0,
        state="running",
        reason="",
        exit_code=None,
        started_at=T0 + 2,
        finished_at=None,
        last_exit_code=None,
        last_reason="",
    )
    assert [m.manager for m in row.managers] == ["kube-controller-manager", "kubelet"]
    assert row.managers[1].subresource == "status"
    assert row.managers[1].fields == ("f:status",)
    assert row.last_manager is not None and row.last_manager.manager == "kubelet"


def test_pod_row_terminated_waiting_and_deletion() -> None:
    sim = PodSim("p", readiness_probe=False)
    sim.schedule("n", T0)
    sim.start(T0 + 1)
    sim.delete(T0 + 5, grace=10)
    row = _pod_row(sim.terminate(T0 + 6, exit_code=137, reason="Error"))
    assert row.deleted == T0 + 15 and row.deletion_grace == 10 and row.terminating
    (c,) = row.containers
    assert (c.state, c.exit_code, c.reason, c.finished_at) == ("terminated", 137, "Error", T0 + 6)

    obj = sim.obj()
    obj["status"]["containerStatuses"][0].update(
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
        restartCount=4,
    )
    (c,) = _pod_row(obj).containers
    assert (c.state, c.reason, c.restarts) == ("waiting", "CrashLoopBackOff", 4)
    assert (c.last_exit_code, c.last_reason) == (1, "Error")


@pytest.mark.parametrize(
    ("pre", "expected"),
    [
        (None, PreStop("none")),
        ({"exec": {"command": ["sleep", "30"]}}, PreStop("exec-sleep", 30.0)),
        ({"exec": {"command": ["/bin/sleep", "5"]}}, PreStop("exec-sleep", 5.0)),
        (
            {"exec": {"command": ["/bin/sh", "-c", "sleep 15 && nginx -s quit"]}},
            PreStop("exec-sleep", 15.0),
        ),
        ({"exec": {"command": ["nginx", "-s", "quit"]}}, PreStop("exec-other")),
        ({"exec": {"command": ["sleep", "infinity"]}}, PreStop("exec-other")),
        ({"sleep": {"seconds": 20}}, PreStop("sleep-action", 20.0)),
        ({"httpGet": {"path": "/drain", "port": 8080}}, PreStop("httpGet")),
    ],
)
def test_prestop_summary(pre: dict[str, object] | None, expected: PreStop) -> None:
    assert prestop_of({"preStop": pre} if pre is not None else None) == expected


def test_pod_prestop_is_the_weakest_serving_container() -> None:
    def with_sidecar(ports: bool) -> dict[str, Any]:
        obj = PodSim("p", prestop={"sleep": {"seconds": 30}}).obj()
        sidecar: dict[str, Any] = {
            "name": "proxy",
            "image": "envoy",
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "2"]}}},
        }
        if ports:
            sidecar["ports"] = [{"containerPort": 15001}]
        obj["spec"]["containers"].append(sidecar)
        return obj

    assert _pod_row(with_sidecar(ports=True)).prestop == PreStop("exec-sleep", 2.0)
    # A sidecar without ports does not serve: only the app container counts.
    assert _pod_row(with_sidecar(ports=False)).prestop == PreStop("sleep-action", 30.0)


def test_pod_spec_fields_and_resize() -> None:
    obj = PodSim("p").obj()
    obj["spec"].update(
        readinessGates=[{"conditionType": "example.com/lb-ready"}],
        hostNetwork=True,
        priorityClassName="high",
        priority=1000,
        terminationGracePeriodSeconds=60,
    )
    obj["status"]["conditions"].append(
        {"type": "PodResizePending", "status": "True", "reason": "Deferred"}
    )
    row = _pod_row(obj)
    assert row.spec.readiness_gates == ("example.com/lb-ready",)
    assert row.spec.host_network and not row.spec.host_pid
    assert (row.spec.priority_class, row.spec.priority, row.spec.grace) == ("high", 1000, 60)
    assert row.spec.containers[0].resources == "cpu 100m/- mem 64Mi/-"
    assert row.resize == "Pending:Deferred"


def test_pods_of_one_template_share_their_parts() -> None:
    rs = replicaset(deployment(), "abc", replicas=2, revision="1")
    a = _pod_row(rs_pod(rs, "a").obj())
    b = _pod_row(rs_pod(rs, "b").obj())
    assert a.spec is b.spec
    assert a.labels is b.labels
    assert a.owner is b.owner
    # An in-place resize of one pod is a different spec, whatever its template.
    obj = rs_pod(rs, "c").obj()
    obj["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "200m"}}
    c = _pod_row(obj)
    assert c.spec is not a.spec
    assert c.spec.containers[0].resources == "cpu 200m/-"


def test_rows_are_frozen() -> None:
    row = _pod_row(PodSim("p").obj())
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.phase = "Failed"  # type: ignore[misc]


def test_deployment_row() -> None:
    obj = deployment(replicas=4, max_surge=1, max_unavailable="50%", revision="3", generation=5)
    obj["status"] = deployment_status(
        generation=5,
        replicas=4,
        updated=2,
        ready=3,
        available=3,
        progressing=("True", "ReplicaSetUpdated"),
    )
    row = row_from("Deployment", obj)
    assert isinstance(row, DeploymentRow)
    assert (row.replicas, row.strategy, row.max_surge, row.max_unavailable) == (
        4,
        "RollingUpdate",
        1,
        "50%",
    )
    assert row.revision == "3" and row.generation == 5 and row.observed_generation == 5
    assert (row.updated_replicas, row.ready_replicas, row.available_replicas) == (2, 3, 3)
    assert row.progressing is not None and row.progressing.reason == "ReplicaSetUpdated"
    assert row.available is not None and row.available.is_true
    assert row.images == ("nginx:1.25",) and row.template_fp != 0
    assert row.progress_deadline_seconds == 600


def test_replicaset_statefulset_daemonset_rows() -> None:
    d = deployment()
    rs = row_from("ReplicaSet", replicaset(d, "abc", replicas=3, revision="2", ready=1))
    assert isinstance(rs, ReplicaSetRow)
    assert (rs.replicas, rs.ready_replicas, rs.template_hash, rs.revision) == (3, 1, "abc", "2")
    assert rs.owner is not None and rs.owner.uid == d["metadata"]["uid"]

    sts = row_from(
        "StatefulSet",
        {
            "metadata": {"name": "db", "namespace": "default", "uid": "s1"},
            "spec": {
                "replicas": 3,
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "serviceName": "db",
                "template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}},
            },
            "status": {"readyReplicas": 2, "currentRevision": "db-1", "updateRevision": "db-2"},
        },
    )
    assert isinstance(sts, StatefulSetRow)
    assert (sts.pod_management_policy, sts.partition, sts.ready_replicas) == ("Parallel", 1, 2)
    assert (sts.current_revision, sts.update_revision, sts.images) == ("db-1", "db-2", ("pg:16",))

    ds = row_from(
        "DaemonSet",
        {
            "metadata": {"name": "ingress", "namespace": "kube-system", "uid": "d1"},
            "spec": {"updateStrategy": {"type": "OnDelete"}},
            "status": {"desiredNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 1},
        },
    )
    assert isinstance(ds, DaemonSetRow)
    assert (ds.update_strategy, ds.desired, ds.ready, ds.updated) == ("OnDelete", 3, 2, 1)


def test_service_and_slice_rows() -> None:
    svc = row_from("Service", service())
    assert isinstance(svc, ServiceRow)
    assert svc.selector == (("app", "web"),)
    assert [(p.port, p.target, p.protocol) for p in svc.ports] == [(80, "8080", "TCP")]

    pod = PodSim("web-1", node="n1", ip="10.0.0.7")
    sl = row_from("EndpointSlice", endpointslice("web", [endpoint(pod)]))
    assert isinstance(sl, EndpointSliceRow)
    assert sl.service_name == "web" and sl.managed_by == "endpointslice-controller.k8s.io"
    (ep,) = sl.endpoints
    assert ep.addresses == ("10.0.0.7",) and ep.node == "n1"
    assert (ep.pod_uid, ep.pod_name, ep.pod_namespace) == (pod.uid, "web-1", "default")
    assert ep.conditions() == {"ready": True, "serving": True, "terminating": False}


@pytest.mark.parametrize(
    ("raw", "effective"),
    [
        # (ready, serving, terminating) as written → what a consumer must read
        ((None, None, None), (True, True, False)),  # all unknown: ready, not terminating
        ((False, None, None), (False, False, False)),  # serving defers to ready
        ((False, True, True), (False, True, True)),  # terminating but still serving
        ((True, None, None), (True, True, False)),
    ],
)
def test_endpoint_condition_nil_semantics(
    raw: tuple[bool | None, bool | None, bool | None], effective: tuple[bool, bool, bool]
) -> None:
    ep = Endpoint(("10.0.0.1",), *raw)
    assert (ep.is_ready, ep.is_serving, ep.is_terminating) == effective
    assert ep.routable == (effective[0] or (effective[1] and not effective[2]))


def test_endpoint_without_target_ref_is_keyed_by_address() -> None:
    obj = endpointslice("ext", [{"addresses": ["1.2.3.4"], "conditions": {}}], managed_by="")
    sl = row_from("EndpointSlice", obj)
    assert isinstance(sl, EndpointSliceRow)
    (ep,) = sl.endpoints
    assert ep.pod_uid == "" and ep.ident == "1.2.3.4" and ep.is_ready


def test_diff_endpoints() -> None:
    a, b, c = PodSim("a", ip="10.0.0.1"), PodSim("b", ip="10.0.0.2"), PodSim("c", ip="10.0.0.3")
    old = row_from("EndpointSlice", endpointslice("web", [endpoint(a), endpoint(b)]))
    new = row_from(
        "EndpointSlice",
        endpointslice("web", [endpoint(b, ready=False, terminating=True), endpoint(c)]),
    )
    assert isinstance(old, EndpointSliceRow) and isinstance(new, EndpointSliceRow)
    added, changed, removed = diff_endpoints(old, new)
    assert [e.pod_name for e in added] == ["c"]
    assert [(x.pod_name, y.is_terminating) for x, y in changed] == [("b", True)]
    assert [e.pod_name for e in removed] == ["a"]


def test_node_event_lease_rows() -> None:
    n = row_from(
        "Node",
        node(
            "n1",
            ready="Unknown",
            reason="NodeStatusUnknown",
            heartbeat=T0 - 60,
            taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}],
        ),
    )
    assert isinstance(n, NodeRow)
    assert (n.ready, n.ready_reason, n.heartbeat) == ("Unknown", "NodeStatusUnknown", T0 - 60)
    assert [(x.key, x.effect) for x in n.taints] == [
        ("node.kubernetes.io/unreachable", "NoExecute")
    ]
    assert n.namespace == "" and n.key == "n1" and n.internal_ip == "192.168.0.10"

    pod = PodSim("p").obj()
    ev = row_from(
        "Event",
        k8s_event("p.1", regarding=pod, reason="Scheduled", controller="default-scheduler", t=T0),
    )
    assert isinstance(ev, EventRow)
    assert ev.regarding.kind == "Pod" and ev.regarding.uid == pod["metadata"]["uid"]
    assert (ev.reason, ev.reporting_controller, ev.event_time) == (
        "Scheduled",
        "default-scheduler",
        T0,
    )

    core = {  # the same object in core/v1 shape
        "metadata": {"name": "p.2", "namespace": "default", "uid": "e2"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u"},
        "reason": "Killing",
        "message": "Stopping container app",
        "source": {"component": "kubelet", "host": "n1"},
        "lastTimestamp": ts(T0 + 3),
        "count": 2,
        "type": "Normal",
    }
    ev2 = row_from("Event", core)
    assert isinstance(ev2, EventRow)
    assert (ev2.note, ev2.reporting_controller, ev2.count, ev2.event_time) == (
        "Stopping container app",
        "kubelet",
        2,
        T0 + 3,
    )

    le = row_from("Lease", lease("kube-controller-manager", "cp-1_abc", transitions=3))
    assert isinstance(le, LeaseRow)
    assert (le.holder, le.transitions, le.duration_s, le.renew_time) == ("cp-1_abc", 3, 15, T0)


def test_malformed_object_degrades_to_a_plain_row() -> None:
    bad = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "status": {"conditions": 5}}
    row = row_from("Pod", bad)
    assert type(row) is Row and row.key == "ns/p" and row.uid == "u1"
    # Not even metadata: still a row, never an exception.
    assert row_from("Pod", {"metadata": 7}).name == ""


def test_unknown_kind_gets_common_fields() -> None:
    row = row_from(
        "ConfigMap",
        {"metadata": {"name": "c", "namespace": "n", "uid": "u", "finalizers": ["a", "b"]}},
    )
    assert type(row) is Row and row.finalizers == 2


def test_newest_manager_by_field() -> None:
    obj = deployment(
        managers=[
            mf("kubectl-client-side-apply", T0, ("f:metadata", "f:spec")),
            mf("kube-controller-manager", T0 + 5, ("f:status",), subresource="status"),
            mf("kubectl", T0 + 9, ("f:spec",), subresource="scale"),
        ]
    )
    row = row_from("Deployment", obj)
    spec_writer = row.newest_manager("f:spec")
    assert spec_writer is not None and spec_writer.manager == "kubectl"
    status_writer = row.newest_manager("f:status")
    assert status_writer is not None and status_writer.manager == "kube-controller-manager"
    main = row.newest_manager(subresource="")
    assert main is not None and main.manager == "kubectl-client-side-apply"


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable rounds down
        (4, None, None, (1, 1)),  # API defaults 25%/25%
        (3, 0, 0, (0, 1)),  # (0, 0) is bumped so a rollout can progress
        (3, "0%", "0%", (0, 1)),
        (5, 2, "40%", (2, 2)),
    ],
)
def test_resolve_rolling(
    replicas: int, surge: int | str | None, unavailable: int | str | None, expected: tuple[int, int]
) -> None:
    assert resolve_rolling(replicas, surge, unavailable) == expected


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20Z") == T0
    assert parse_rfc3339("2023-11-14T22:13:20.250000Z") == T0 + 0.25
    assert parse_rfc3339("2023-11-15T00:13:20+02:00") == T0
    assert parse_rfc3339("garbage") is None and parse_rfc3339(None) is None


def test_building_with_the_previous_row_gives_the_same_row() -> None:
    """`prev` only lets parts be reused: every variation must match a fresh build."""
    rs = replicaset(deployment(), "abc", replicas=1, revision="1")
    sim = rs_pod(rs, "x")
    sim.schedule("n1", T0)
    base = sim.start(T0 + 1)
    prev = _pod_row(base)

    def variant(change: str) -> dict[str, Any]:
        obj = copy.deepcopy(base)
        meta, spec = obj["metadata"], obj["spec"]
        if change == "labels":
            meta["labels"]["track"] = "canary"
        elif change == "owner":
            meta["ownerReferences"][0]["uid"] = "another-rs"
        elif change == "orphaned":
            del meta["ownerReferences"]
        elif change == "managers":
            meta["managedFields"].append(mf("kubectl-label", T0 + 5, ("f:metadata",)))
        elif change == "image":
            spec["containers"][0]["image"] = "nginx:1.26"
        elif change == "resize":
            spec["containers"][0]["resources"] = {"requests": {"cpu": "1"}}
        elif change == "status":
            obj["status"]["phase"] = "Failed"
        return obj

    for change in ("none", "labels", "owner", "orphaned", "managers", "image", "resize", "status"):
        obj = variant(change)
        assert row_from("Pod", obj, prev) == row_from("Pod", obj), change
