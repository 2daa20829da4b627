"""Builders of realistic (already slimmed) API objects and KEvent sequences for core tests.

Objects look like what kwatch.core.slim returns for real API responses: managedFields
summarised to {manager, operation, time, fields, subresource}, everything else as the
API server writes it. `Cluster` stamps resourceVersions and observation times, so a
test reads like the story it tells (create, schedule, start, delete, ...).
"""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kwatch.core.events import JSON, EventType, KEvent
from kwatch.core.timefmt import format_rfc3339

T0 = 1_700_000_000.0
_uids = itertools.count(1)


def new_uid(prefix: str = "uid") -> str:
    return f"{prefix}-{next(_uids):06d}-0000-4000-8000-000000000000"


def ts(t: float) -> str:
    return format_rfc3339(t)


def mf(
    manager: str,
    t: float,
    fields: Sequence[str] = ("f:metadata", "f:spec"),
    *,
    operation: str = "Update",
    subresource: str | None = None,
) -> JSON:
    entry: JSON = {
        "manager": manager,
        "operation": operation,
        "time": ts(t),
        "fields": sorted(fields),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def owner_ref(kind: str, name: str, uid: str) -> JSON:
    api = "apps/v1" if kind in ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet") else "v1"
    return {
        "apiVersion": api,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def meta(
    name: str,
    *,
    ns: str | None = "default",
    uid: str | None = None,
    t: float = T0,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: JSON | None = None,
    generation: int | None = None,
    managers: list[JSON] | None = None,
) -> JSON:
    m: JSON = {
        "name": name,
        "uid": uid or new_uid(name),
        "resourceVersion": "0",
        "creationTimestamp": ts(t),
    }
    if ns is not None:
        m["namespace"] = ns
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    if owner:
        m["ownerReferences"] = [owner]
    if generation is not None:
        m["generation"] = generation
    if managers:
        m["managedFields"] = managers
    return m


# --------------------------------------------------------------------------- workloads


def pod_template(
    image: str = "nginx:1.25",
    *,
    labels: dict[str, str] | None = None,
    readiness_probe: bool = True,
    prestop: JSON | None = None,
    grace: int | None = None,
) -> JSON:
    container: JSON = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "env": [{"name": "MODE", "value": "<redacted>"}],
    }
    if readiness_probe:
        container["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": 8080},
            "periodSeconds": 5,
        }
    if prestop is not None:
        container["lifecycle"] = {"preStop": prestop}
    spec: JSON = {"containers": [container], "restartPolicy": "Always"}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"labels": dict(labels or {"app": "web"})}, "spec": spec}


def deployment(
    name: str = "web",
    *,
    ns: str = "default",
    uid: str | None = None,
    replicas: int = 3,
    image: str = "nginx:1.25",
    max_surge: int | str = "25%",
    max_unavailable: int | str = "25%",
    strategy: str = "RollingUpdate",
    generation: int = 1,
    revision: str | None = None,
    t: float = T0,
    managers: list[JSON] | None = None,
    status: JSON | None = None,
    template: JSON | None = None,
    progress_deadline: int = 600,
) -> JSON:
    strat: JSON = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(
            name,
            ns=ns,
            uid=uid,
            t=t,
            labels={"app": name},
            annotations={"deployment.kubernetes.io/revision": revision} if revision else None,
            generation=generation,
            managers=managers or [mf("kubectl-client-side-apply", t)],
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strat,
            "progressDeadlineSeconds": progress_deadline,
            "revisionHistoryLimit": 10,
            "template": template or pod_template(image, labels={"app": name}),
        },
        "status": status or {},
    }


def deployment_status(
    *,
    generation: int,
    replicas: int,
    updated: int,
    ready: int,
    available: int,
    progressing: tuple[str, str],  # (status, reason)
    available_cond: tuple[str, str] = ("True", "MinimumReplicasAvailable"),
    t: float = T0,
) -> JSON:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, replicas - available),
        "conditions": [
            {
                "type": "Available",
                "status": available_cond[0],
                "reason": available_cond[1],
                "lastTransitionTime": ts(t),
                "lastUpdateTime": ts(t),
            },
            {
                "type": "Progressing",
                "status": progressing[0],
                "reason": progressing[1],
                "message": f'ReplicaSet "x" {progressing[1]}',
                "lastTransitionTime": ts(t),
                "lastUpdateTime": ts(t),
            },
        ],
    }


def replicaset(
    deploy: JSON,
    pod_hash: str,
    *,
    replicas: int,
    revision: str,
    uid: str | None = None,
    t: float = T0,
    ready: int = 0,
    image: str | None = None,
) -> JSON:
    dname = deploy["metadata"]["name"]
    ns = deploy["metadata"]["namespace"]
    template = copy.deepcopy(deploy["spec"]["template"])
    if image is not None:
        template["spec"]["containers"][0]["image"] = image
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(
            f"{dname}-{pod_hash}",
            ns=ns,
            uid=uid,
            t=t,
            labels={"app": dname, "pod-template-hash": pod_hash},
            annotations={
                "deployment.kubernetes.io/revision": revision,
                "deployment.kubernetes.io/desired-replicas": str(deploy["spec"]["replicas"]),
            },
            owner=owner_ref("Deployment", dname, deploy["metadata"]["uid"]),
            generation=1,
            managers=[mf("kube-controller-manager", t)],
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": dname, "pod-template-hash": pod_hash}},
            "template": template,
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": 1,
        },
    }


@dataclass
class PodSim:
    """A pod whose state the test advances step by step; `obj()` renders it."""

    name: str
    ns: str = "default"
    uid: str = ""
    owner: JSON | None = None
    labels: dict[str, str] = field(default_factory=lambda: {"app": "web"})
    image: str = "nginx:1.25"
    readiness_probe: bool = True
    prestop: JSON | None = None
    grace: int = 30
    created: float = T0
    creator: str = "kube-controller-manager"
    # mutable state
    node: str = ""
    ip: str = ""
    phase: str = "Pending"
    scheduled_at: float | None = None
    running_at: float | None = None
    ready_at: float | None = None
    ready: bool = False
    restarts: int = 0
    terminated: tuple[int, str, float] | None = None  # exit code, reason, finished at
    deletion: float | None = None  # deletionTimestamp
    deletion_grace: int | None = None
    disruption: str = ""
    managers: list[JSON] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.uid:
            self.uid = new_uid(self.name)
        if not self.managers:
            self.managers = [mf(self.creator, self.created, ("f:metadata", "f:spec"))]

    # -- transitions (each returns the rendered object) ---------------------------------
    def schedule(self, node: str, t: float) -> JSON:
        self.node, self.scheduled_at = node, t
        return self.obj()

    def start(self, t: float, ip: str = "10.0.0.1") -> JSON:
        self.phase, self.running_at, self.ip = "Running", t, ip
        self._kubelet(t)
        if not self.readiness_probe:
            self.ready, self.ready_at = True, t
        return self.obj()

    def become_ready(self, t: float) -> JSON:
        self.ready, self.ready_at = True, t
        self._kubelet(t)
        return self.obj()

    def become_not_ready(self, t: float) -> JSON:
        self.ready, self.ready_at = False, t
        self._kubelet(t)
        return self.obj()

    def delete(self, t: float, grace: int | None = None) -> JSON:
        g = self.grace if grace is None else grace
        self.deletion, self.deletion_grace = t + g, g
        return self.obj()

    def terminate(self, t: float, exit_code: int = 0, reason: str = "Completed") -> JSON:
        self.terminated = (exit_code, reason, t)
        self.ready, self.ready_at = False, t
        self._kubelet(t)
        return self.obj()

    def mark_not_ready(self, t: float, manager: str = "kube-controller-manager") -> JSON:
        """Ready=False written by someone else than the kubelet (MarkPodsNotReady)."""
        self.ready, self.ready_at = False, t
        self.write_status(manager, t)
        return self.obj()

    def mark_failed(self, t: float, manager: str = "kube-controller-manager") -> JSON:
        """Phase Failed written by a controller (podgc before its force delete)."""
        self.phase = "Failed"
        self.write_status(manager, t)
        return self.obj()

    def write_status(self, manager: str, t: float) -> None:
        """`manager` wrote the status subresource at `t`: its entry is updated in place
        (as the API server keeps one entry per manager/operation/subresource)."""
        entry = mf(manager, t, ("f:status",), subresource="status")
        for i, m in enumerate(self.managers):
            if m["manager"] == manager and m.get("subresource") == "status":
                self.managers[i] = entry
                return
        self.managers.append(entry)

    def _kubelet(self, t: float) -> None:
        self.write_status("kubelet", t)

    # -- rendering ----------------------------------------------------------------------
    def obj(self) -> JSON:
        container: JSON = {
            "name": "app",
            "image": self.image,
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        }
        if self.readiness_probe:
            container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
        if self.prestop is not None:
            container["lifecycle"] = {"preStop": self.prestop}
        spec: JSON = {
            "containers": [container],
            "terminationGracePeriodSeconds": self.grace,
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "restartPolicy": "Always",
            "priority": 0,
        }
        if self.node:
            spec["nodeName"] = self.node
        m = meta(
            self.name,
            ns=self.ns,
            uid=self.uid,
            t=self.created,
            labels=self.labels,
            owner=self.owner,
            managers=copy.deepcopy(self.managers),
        )
        if self.deletion is not None:
            m["deletionTimestamp"] = ts(self.deletion)
            m["deletionGracePeriodSeconds"] = self.deletion_grace
        conds: list[JSON] = []
        if self.scheduled_at is not None:
            conds.append(_cond("PodScheduled", "True", self.scheduled_at))
        if self.running_at is not None:
            conds.append(_cond("Initialized", "True", self.running_at))
            ready = "True" if self.ready else "False"
            at = self.ready_at if self.ready_at is not None else self.running_at
            conds.append(_cond("ContainersReady", ready, at))
            conds.append(_cond("Ready", ready, at))
        if self.disruption:
            conds.append(_cond("DisruptionTarget", "True", self.created, self.disruption))
        status: JSON = {"phase": self.phase, "qosClass": "Burstable", "conditions": conds}
        if self.node and self.running_at is not None:
            status["hostIP"] = "192.168.0.10"
            status["podIP"] = self.ip
            status["startTime"] = ts(self.running_at)
            state: JSON
            if self.terminated is not None:
                code, reason, fin = self.terminated
                state = {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "startedAt": ts(self.running_at),
                        "finishedAt": ts(fin),
                    }
                }
            else:
                state = {"running": {"startedAt": ts(self.running_at)}}
            status["containerStatuses"] = [
                {
                    "name": "app",
                    "image": self.image,
                    "ready": self.ready,
                    "started": self.terminated is None,
                    "restartCount": self.restarts,
                    "state": state,
                }
            ]
        elif self.node:
            status["containerStatuses"] = [
                {
                    "name": "app",
                    "image": self.image,
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
            ]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": spec, "status": status}


def _cond(type_: str, status: str, t: float, reason: str = "") -> JSON:
    c: JSON = {"type": type_, "status": status, "lastTransitionTime": ts(t)}
    if reason:
        c["reason"] = reason
    return c


def rs_pod(rs: JSON, suffix: str, **kw: Any) -> PodSim:
    name = f"{rs['metadata']['name']}-{suffix}"
    labels = dict(rs["metadata"]["labels"])
    tmpl = rs["spec"]["template"]["spec"]["containers"][0]
    kw.setdefault("readiness_probe", "readinessProbe" in tmpl)
    kw.setdefault("image", tmpl["image"])
    if "lifecycle" in tmpl:
        kw.setdefault("prestop", tmpl["lifecycle"]["preStop"])
    return PodSim(
        name=name,
        ns=rs["metadata"]["namespace"],
        owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
        labels=labels,
        **kw,
    )


# --------------------------------------------------------------------------- networking


def service(name: str = "web", *, ns: str = "default", t: float = T0) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns=ns, t=t, managers=[mf("kubectl-client-side-apply", t)]),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def endpoint(
    pod: PodSim,
    *,
    ready: bool | None = True,
    serving: bool | None = True,
    terminating: bool | None = False,
    ip: str | None = None,
) -> JSON:
    conds: JSON = {}
    if ready is not None:
        conds["ready"] = ready
    if serving is not None:
        conds["serving"] = serving
    if terminating is not None:
        conds["terminating"] = terminating
    return {
        "addresses": [ip or pod.ip or "10.0.0.1"],
        "conditions": conds,
        "nodeName": pod.node,
        "targetRef": {"kind": "Pod", "namespace": pod.ns, "name": pod.name, "uid": pod.uid},
    }


def endpointslice(
    svc: str,
    endpoints: Iterable[JSON],
    *,
    name: str | None = None,
    ns: str = "default",
    uid: str | None = None,
    t: float = T0,
    managed_by: str = "endpointslice-controller.k8s.io",
) -> JSON:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta(
            name or f"{svc}-abcde",
            ns=ns,
            uid=uid or f"slice-uid-{svc}-{name or 'abcde'}",
            t=t,
            labels={
                "kubernetes.io/service-name": svc,
                "endpointslice.kubernetes.io/managed-by": managed_by,
            },
            managers=[mf("kube-controller-manager", t, ("f:addressType", "f:endpoints"))],
        ),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": list(endpoints),
    }


# --------------------------------------------------------------------------- cluster-ish


def node(
    name: str,
    *,
    ready: str = "True",
    reason: str = "KubeletReady",
    t: float = T0,
    heartbeat: float | None = None,
    taints: list[JSON] | None = None,
    unschedulable: bool = False,
    uid: str | None = None,
) -> JSON:
    spec: JSON = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(name, ns=None, uid=uid or f"node-uid-{name}", t=T0, labels={}),
        "spec": spec,
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": reason,
                    "lastTransitionTime": ts(t),
                    "lastHeartbeatTime": ts(heartbeat if heartbeat is not None else t),
                }
            ],
            "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0"},
        },
    }


def k8s_event(
    name: str,
    *,
    regarding: JSON,
    reason: str,
    note: str = "",
    controller: str = "",
    type_: str = "Normal",
    t: float = T0,
    ns: str | None = None,
) -> JSON:
    rm = regarding["metadata"]
    ref = {
        "kind": regarding.get("kind", ""),
        "namespace": rm.get("namespace", ""),
        "name": rm["name"],
        "uid": rm.get("uid", ""),
    }
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta(name, ns=ns or rm.get("namespace") or "default", t=t),
        "eventTime": ts(t).replace("Z", ".000000Z"),
        "regarding": ref,
        "reason": reason,
        "note": note,
        "type": type_,
        "action": reason,
        "reportingController": controller,
        "reportingInstance": f"{controller}-host",
    }


def lease(name: str, holder: str, *, transitions: int = 0, t: float = T0) -> JSON:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta(name, ns="kube-system", uid=f"lease-uid-{name}", t=T0),
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": ts(t).replace("Z", ".000000Z"),
            "renewTime": ts(t).replace("Z", ".000000Z"),
            "leaseTransitions": transitions,
        },
    }


class Cluster:
    """Stamps resourceVersions and observation times onto events, in story order."""

    def __init__(self, t: float = T0) -> None:
        self.t = t
        self._rv = itertools.count(100)

    def at(self, t: float) -> Cluster:
        self.t = t
        return self

    def _ev(self, type_: EventType, obj: JSON) -> KEvent:
        obj = copy.deepcopy(obj)
        rv = str(next(self._rv))
        obj["metadata"]["resourceVersion"] = rv
        return KEvent(self.t, obj["kind"], type_, obj, rv)

    def added(self, obj: JSON) -> KEvent:
        return self._ev(EventType.ADDED, obj)

    def modified(self, obj: JSON) -> KEvent:
        return self._ev(EventType.MODIFIED, obj)

    def deleted(self, obj: JSON) -> KEvent:
        return self._ev(EventType.DELETED, obj)

    def listed(self, kind: str, ns: str | None = None) -> KEvent:
        return KEvent(self.t, kind, EventType.LISTED, {"metadata": {"namespace": ns}} if ns else {})

    def reset(self, kind: str, ns: str | None = None) -> KEvent:
        return KEvent(self.t, kind, EventType.RESET, {"metadata": {"namespace": ns}} if ns else {})


# --------------------------------------------------------------------------- fixtures

FIXTURES = Path(__file__).parent / "fixtures"


def load_events(name: str) -> list[list[KEvent]]:
    """KEvent batches from a JSONL fixture: one event per line, grouped by "batch"."""
    batches: dict[int, list[KEvent]] = {}
    for line in (FIXTURES / name).read_bytes().splitlines():
        if not line.strip():
            continue
        rec = orjson.loads(line)
        ev = KEvent(rec["t"], rec["kind"], EventType(rec["type"]), rec["obj"], rec["rv"])
        batches.setdefault(rec["batch"], []).append(ev)
    return [batches[i] for i in sorted(batches)]


def dump_events(batches: Sequence[Sequence[KEvent]]) -> bytes:
    lines = [
        orjson.dumps(
            {
                "batch": i,
                "t": ev.t,
                "kind": ev.kind,
                "type": ev.type.value,
                "rv": ev.resource_version,
                "obj": ev.obj,
            },
            option=orjson.OPT_SORT_KEYS,
        )
        for i, batch in enumerate(batches)
        for ev in batch
    ]
    return b"\n".join(lines) + b"\n"


def graceful_shutdown_batches() -> list[list[KEvent]]:
    """Lab 2 without a preStop: the pod is deleted while ready in its slice; the app
    exits 0.1 s later; the endpointslice controller marks it terminating after 0.3 s."""
    c = Cluster(T0)
    rs_owner = owner_ref("ReplicaSet", "web-7c9d", "rs-uid-web-7c9d")
    pod = PodSim(
        "web-7c9d-x1",
        uid="pod-uid-web-7c9d-x1",
        owner=rs_owner,
        labels={"app": "web", "pod-template-hash": "7c9d"},
        created=T0,
    )
    svc = service()
    svc["metadata"]["uid"] = "svc-uid-web"

    def slice_(*eps: JSON) -> JSON:
        return endpointslice("web", eps, name="web-x8k2p", uid="slice-uid-web-x8k2p")

    return [
        [c.listed(k) for k in ("Pod", "EndpointSlice", "Service", "Event")],
        [c.at(T0).added(svc)],
        [c.at(T0 + 0.1).added(pod.obj())],
        [c.at(T0 + 0.2).modified(pod.schedule("node-1", T0 + 0.2))],
        [c.at(T0 + 1.5).modified(pod.start(T0 + 1.5, ip="10.244.1.7"))],
        [c.at(T0 + 3.0).modified(pod.become_ready(T0 + 3.0))],
        [c.at(T0 + 3.2).added(slice_(endpoint(pod)))],
        [c.at(T0 + 10.0).modified(pod.delete(T0 + 10.0))],
        [c.at(T0 + 10.1).modified(pod.terminate(T0 + 10.1, exit_code=0))],
        [c.at(T0 + 10.3).modified(slice_(endpoint(pod, ready=False, terminating=True)))],
        [c.at(T0 + 10.5).modified(slice_())],
        [c.at(T0 + 10.6).deleted(pod.obj())],
    ]


if __name__ == "__main__":
    # Regenerate the JSONL fixtures: python -m tests.core.builders
    (FIXTURES / "graceful_shutdown_no_prestop.jsonl").write_bytes(
        dump_events(graceful_shutdown_batches())
    )
    print("fixtures written", file=sys.stderr)
