"""EndpointSlice contents, computed without I/O: pods → endpoints → slice writes.

The pure half of the endpointslice controller (`endpointslice.py` does the I/O):

- `pod_to_endpoint`: ready = publishNotReadyAddresses or (Ready and not terminating),
  serving = Ready, terminating = deletionTimestamp set (EndpointSlice conditions since
  Kubernetes 1.22); `should_pod_be_in_endpoints` keeps terminating pods and drops pods
  without an IP or in a terminal phase;
- `endpoint_ports`: each Service port resolved against the pod (a named targetPort may
  resolve differently per pod, so endpoints are grouped by their resolved port set);
- `plan_slices`: reconcileByPortMapping — keep and refresh the endpoints still wanted in
  the slices they are in, drop the others, put new endpoints first into slices being
  written anyway, then into the untouched slice that fits them all most closely, then
  into new slices of at most `limit`; a Service without endpoints keeps one empty
  placeholder slice; a delete plus a create becomes an update that keeps the name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kwatch.core.events import JSON
from kwatch.core.kinds import ENDPOINTSLICE, SERVICE
from kwatch.demo.controllers._objects import controller_ref, is_pod_ready, meta

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"
# kube-controller-manager --max-endpoints-per-slice default.
MAX_ENDPOINTS_PER_SLICE = 100
# Labels of the Service that are not copied onto its slices (the controller owns them).
_RESERVED_LABELS = frozenset({SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL})


# -- pods → endpoints (pure) ------------------------------------------------------------


def should_pod_be_in_endpoints(pod: Mapping[str, Any]) -> bool:
    """Not terminal and has an IP. Terminating pods stay (endpointslice includes them)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    return bool(status.get("podIP") or status.get("podIPs"))


def _ipv4(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    ips = [str(p.get("ip", "")) for p in status.get("podIPs") or []] or [
        str(status.get("podIP") or "")
    ]
    return next((ip for ip in ips if ip and ":" not in ip), None)


def _find_port(pod: Mapping[str, Any], svc_port: Mapping[str, Any]) -> int | None:
    """podutil.FindPort: an int targetPort as is; a named one looked up on the pod."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    # Sidecars (init containers that keep running) can serve named ports too.
    containers = [*(spec.get("containers") or []), *(
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    )]
    for c in containers:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def endpoint_ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> list[JSON]:
    """The slice ports for `pod`: each service port resolved against the pod."""
    spec = service.get("spec") or {}
    ports: list[JSON] = []
    for sp in spec.get("ports") or []:
        number = _find_port(pod, sp)
        if number is None:
            continue  # this pod doesn't expose the named port: that port is left out
        port: JSON = {"name": sp.get("name", ""), "port": number,
                      "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def pod_to_endpoint(
    service: Mapping[str, Any], pod: Mapping[str, Any], node: Mapping[str, Any] | None
) -> JSON | None:
    ip = _ipv4(pod)
    if ip is None:
        return None
    pod_meta = meta(pod)
    spec = pod.get("spec") or {}
    svc_meta = meta(service)
    serving = is_pod_ready(pod)
    terminating = bool(pod_meta.get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: JSON = {
        "addresses": [ip],
        # For compatibility a terminating endpoint is never "ready" (unless the Service
        # publishes not-ready addresses): old consumers only read `ready`.
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": pod_meta.get("namespace", ""),
            "name": pod_meta.get("name", ""),
            "uid": pod_meta.get("uid", ""),
        },
    }
    hostname = spec.get("hostname")
    if (
        hostname
        and spec.get("subdomain") == svc_meta.get("name")
        and pod_meta.get("namespace") == svc_meta.get("namespace")
    ):
        ep["hostname"] = hostname  # StatefulSet pods behind their headless Service
    if spec.get("nodeName"):
        ep["nodeName"] = spec["nodeName"]
    zone = (meta(node).get("labels") or {}).get(ZONE_LABEL) if node else None
    if zone:
        ep["zone"] = zone
    return ep


def endpoint_id(ep: Mapping[str, Any]) -> str:
    """Identity of an endpoint within a slice set (the real endpointHash's inputs)."""
    ref = ep.get("targetRef") or {}
    return "\x00".join([
        ",".join(sorted(str(a) for a in ep.get("addresses") or [])),
        str(ep.get("hostname") or ""),
        str(ref.get("namespace") or ""),
        str(ref.get("name") or ""),
    ])


def _endpoint_view(ep: Mapping[str, Any]) -> tuple[Any, ...]:
    ref = ep.get("targetRef") or {}
    cond = ep.get("conditions") or {}
    return (
        sorted(ep.get("addresses") or []),
        cond.get("ready"), cond.get("serving"), cond.get("terminating"),
        ep.get("hostname"), ep.get("nodeName"), ep.get("zone"),
        ref.get("kind"), ref.get("namespace"), ref.get("name"), ref.get("uid"),
    )


def endpoints_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal in every field the controller sets (server-added fields don't count, or
    each write would trigger another)."""
    return _endpoint_view(a) == _endpoint_view(b)


def ports_key(ports: Iterable[Mapping[str, Any]]) -> bytes:
    """Slices are per distinct port set; order of ports doesn't matter."""
    canon = sorted(orjson.dumps(p, option=orjson.OPT_SORT_KEYS) for p in ports)
    return b"|".join(canon)


def slice_labels(service: Mapping[str, Any]) -> dict[str, str]:
    svc_meta = meta(service)
    labels = {
        k: v for k, v in (svc_meta.get("labels") or {}).items() if k not in _RESERVED_LABELS
    }
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = str(svc_meta.get("name", ""))
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    return labels


def new_slice(service: Mapping[str, Any], ports: list[JSON]) -> JSON:
    svc_meta = meta(service)
    return {
        "apiVersion": ENDPOINTSLICE.api_version,
        "kind": ENDPOINTSLICE.kind,
        "metadata": {
            "generateName": f"{str(svc_meta['name'])[:200]}-",
            "namespace": svc_meta["namespace"],
            "labels": slice_labels(service),
            "ownerReferences": [controller_ref(service, SERVICE.api_version, SERVICE.kind)],
        },
        "addressType": "IPv4",
        "endpoints": [],
        "ports": ports,
    }


# -- existing + desired → writes (pure) ---------------------------------------------------


@dataclass
class DesiredPorts:
    """Endpoints sharing one resolved port set, by endpoint_id."""

    ports: list[JSON]
    endpoints: dict[str, JSON] = field(default_factory=dict)


@dataclass
class SlicePlan:
    creates: list[JSON] = field(default_factory=list)
    updates: list[JSON] = field(default_factory=list)
    deletes: list[JSON] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.deletes)


def _pop_sorted(pending: dict[str, JSON], n: int) -> list[JSON]:
    """Take up to n endpoints in a stable order (by pod name) so slices read nicely."""
    keys = sorted(pending, key=lambda k: ((pending[k].get("targetRef") or {}).get("name", ""), k))
    return [pending.pop(k) for k in keys[:n]]


def _slice_to_fill(candidates: list[JSON], needed: int, limit: int) -> JSON | None:
    """The unchanged slice with the least room that still fits `needed` (closest fit)."""
    best: JSON | None = None
    for s in candidates:
        room = limit - len(s.get("endpoints") or [])
        if room >= needed and (best is None or room < limit - len(best.get("endpoints") or [])):
            best = s
    return best


def _plan_port_set(
    service: Mapping[str, Any],
    existing: list[JSON],
    desired: DesiredPorts,
    limit: int,
    plan: SlicePlan,
) -> None:
    pending = dict(desired.endpoints)
    labels = slice_labels(service)
    unchanged: list[JSON] = []
    updating: list[JSON] = []
    # 1. Existing slices keep the endpoints still desired (refreshed), lose the others.
    for s in existing:
        kept: list[JSON] = []
        changed = False
        for ep in s.get("endpoints") or []:
            want = pending.pop(endpoint_id(ep), None)
            if want is None:
                changed = True
                continue
            if not endpoints_equal(want, ep):
                changed = True
            kept.append(want)
        labels_changed = (meta(s).get("labels") or {}) != labels
        if changed and not kept:
            plan.deletes.append(s)
        elif changed or labels_changed:
            new = copy.deepcopy(s)
            new["endpoints"] = kept
            new["metadata"]["labels"] = dict(labels)
            updating.append(new)
        else:
            unchanged.append(s)
    # 2. New endpoints first go into slices we are writing anyway (fullest first).
    for s in sorted(updating, key=lambda x: -len(x["endpoints"])):
        room = limit - len(s["endpoints"])
        if pending and room > 0:
            s["endpoints"].extend(_pop_sorted(pending, room))
    plan.updates.extend(updating)
    # 3. Then into an untouched slice that fits them all, else into new slices.
    while pending:
        target: JSON | None = None
        if len(pending) < limit and unchanged:
            found = _slice_to_fill(unchanged, len(pending), limit)
            if found is not None:
                unchanged.remove(found)
                target = copy.deepcopy(found)
                plan.updates.append(target)
        if target is None:
            target = new_slice(service, desired.ports)
            plan.creates.append(target)
        room = limit - len(target["endpoints"])
        target["endpoints"].extend(_pop_sorted(pending, room))


def _is_placeholder(s: Mapping[str, Any]) -> bool:
    return not s.get("endpoints") and not s.get("ports")


def plan_slices(
    service: Mapping[str, Any],
    existing: list[JSON],
    desired: dict[bytes, DesiredPorts],
    limit: int = MAX_ENDPOINTS_PER_SLICE,
) -> SlicePlan:
    """The writes that turn `existing` slices into the `desired` endpoints."""
    plan = SlicePlan()
    by_ports: dict[bytes, list[JSON]] = {}
    for s in existing:
        if s.get("addressType") != "IPv4":
            plan.deletes.append(s)  # the demo serves IPv4 only
            continue
        by_ports.setdefault(ports_key(s.get("ports") or []), []).append(s)
    for key, want in desired.items():
        _plan_port_set(service, by_ports.pop(key, []), want, limit, plan)
    for stale in by_ports.values():
        plan.deletes.extend(stale)  # port sets no pod resolves to anymore
    ipv4 = [s for s in existing if s.get("addressType") == "IPv4"]
    if len(plan.deletes) >= len(ipv4) and not plan.creates and not plan.updates:
        # Every slice would go: keep (or create) one empty placeholder slice instead.
        placeholder = new_slice(service, [])
        keep = next((s for s in plan.deletes if _is_placeholder(s)), None)
        if keep is not None and (meta(keep).get("labels") or {}) == slice_labels(service):
            plan.deletes.remove(keep)
        else:
            plan.creates.append(placeholder)
    # A delete plus a create of the same address type is one update (keeps the name).
    while plan.creates and plan.deletes:
        victim = plan.deletes.pop()
        created = plan.creates.pop()
        reused = copy.deepcopy(victim)
        reused["endpoints"] = created["endpoints"]
        reused["ports"] = created["ports"]
        reused["metadata"]["labels"] = created["metadata"]["labels"]
        plan.updates.append(reused)
    return plan
