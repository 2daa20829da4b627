"""Server-side printing: meta.k8s.io/v1 Table responses for `kubectl get`.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells it
is given, so the columns (including the `-o wide` ones, priority 1) are computed here,
like the real server's printers, for the kinds a demo user looks at. Other kinds get
the generic Name / Created At table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kwatch.demo.api.selectors import label_selector_string
from kwatch.demo.clock import parse_time

JSON = dict[str, Any]
Cell = Callable[[JSON, float], Any]
# (name, type, priority, cell)
Column = tuple[str, str, int, Cell]


def human_duration(seconds: float) -> str:
    """kubectl's age format: 45s, 5m3s, 3h2m, 4d5h, 2y3d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 and d % 365 else f"{y}y"


def _meta(o: JSON) -> JSON:
    meta: JSON = o.get("metadata") or {}
    return meta


def _spec(o: JSON) -> JSON:
    spec: JSON = o.get("spec") or {}
    return spec


def _status(o: JSON) -> JSON:
    status: JSON = o.get("status") or {}
    return status


def _name(o: JSON, now: float) -> Any:
    return _meta(o).get("name", "")


def _age(o: JSON, now: float) -> Any:
    created = parse_time(_meta(o).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(now - created)


def _none(v: Any) -> Any:
    return "<none>" if v in (None, "", []) else v


def _pod_status(o: JSON) -> str:
    status = _status(o)
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = f"Init:{term.get('reason') or 'Error'}"
            break
        if (state.get("waiting") or {}).get("reason") not in (None, "PodInitializing"):
            reason = f"Init:{state['waiting']['reason']}"
            break
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if _meta(o).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_ready(o: JSON, now: float) -> Any:
    statuses = _status(o).get("containerStatuses") or []
    total = len(_spec(o).get("containers") or [])
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _restarts(o: JSON, now: float) -> Any:
    return sum(int(c.get("restartCount") or 0) for c in _status(o).get("containerStatuses") or [])


def _node_status(o: JSON, now: float) -> Any:
    ready = next((c for c in _status(o).get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Unknown" if ready is None else {"True": "Ready", "False": "NotReady"}.get(
        str(ready.get("status")), "Unknown")
    return text + (",SchedulingDisabled" if _spec(o).get("unschedulable") else "")


def _node_roles(o: JSON, now: float) -> Any:
    roles = sorted(k.split("/", 1)[1] for k in _meta(o).get("labels") or {}
                   if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(o: JSON, now: float) -> Any:
        addrs = [a.get("address") for a in _status(o).get("addresses") or []
                 if a.get("type") == kind]
        return addrs[0] if addrs else "<none>"
    return cell


def _node_info(field: str) -> Cell:
    return lambda o, now: (_status(o).get("nodeInfo") or {}).get(field, "")


def _containers(o: JSON, now: float) -> Any:
    tmpl = _spec(_spec(o).get("template") or {})
    return ",".join(c.get("name", "") for c in tmpl.get("containers") or [])


def _images(o: JSON, now: float) -> Any:
    tmpl = _spec(_spec(o).get("template") or {})
    return ",".join(c.get("image", "") for c in tmpl.get("containers") or [])


def _selector(o: JSON, now: float) -> Any:
    return _none(label_selector_string(_spec(o).get("selector")))


def _status_int(field: str) -> Cell:
    return lambda o, now: int(_status(o).get(field) or 0)


def _ports(o: JSON, now: float) -> Any:
    parts = []
    for p in _spec(o).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        parts.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _svc_selector(o: JSON, now: float) -> Any:
    sel = _spec(o).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"


def _event_object(o: JSON, now: float) -> Any:
    ref = o.get("involvedObject") or o.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _event_last_seen(o: JSON, now: float) -> Any:
    ts = (o.get("lastTimestamp") or o.get("deprecatedLastTimestamp")
          or (o.get("series") or {}).get("lastObservedTime") or o.get("eventTime")
          or _meta(o).get("creationTimestamp"))
    when = parse_time(ts)
    return "<unknown>" if when is None else human_duration(now - when)


def _slice_endpoints(o: JSON, now: float) -> Any:
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addrs:
        return "<unset>"
    shown = ",".join(addrs[:3])
    return shown + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _slice_ports(o: JSON, now: float) -> Any:
    return ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"


_COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, lambda o, now: _pod_status(o)),
        ("Restarts", "string", 0, _restarts),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, lambda o, now: _status(o).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda o, now: _spec(o).get("nodeName") or "<none>"),
        ("Nominated Node", "string", 1,
         lambda o, now: _status(o).get("nominatedNodeName") or "<none>"),
        ("Readiness Gates", "string", 1,
         lambda o, now: _none(",".join(g.get("conditionType", "")
                                       for g in _spec(o).get("readinessGates") or []))),
    ],
    "nodes": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, _node_info("kubeletVersion")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, _node_info("osImage")),
        ("Kernel-Version", "string", 1, _node_info("kernelVersion")),
        ("Container-Runtime", "string", 1, _node_info("containerRuntimeVersion")),
    ],
    "deployments": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, lambda o, now:
         f"{int(_status(o).get('readyReplicas') or 0)}/{int(_spec(o).get('replicas') or 0)}"),
        ("Up-to-date", "integer", 0, _status_int("updatedReplicas")),
        ("Available", "integer", 0, _status_int("availableReplicas")),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, _selector),
    ],
    "replicasets": [
        ("Name", "string", 0, _name),
        ("Desired", "integer", 0, lambda o, now: int(_spec(o).get("replicas") or 0)),
        ("Current", "integer", 0, _status_int("replicas")),
        ("Ready", "integer", 0, _status_int("readyReplicas")),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, _selector),
    ],
    "statefulsets": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, lambda o, now:
         f"{int(_status(o).get('readyReplicas') or 0)}/{int(_spec(o).get('replicas') or 0)}"),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
    ],
    "daemonsets": [
        ("Name", "string", 0, _name),
        ("Desired", "integer", 0, _status_int("desiredNumberScheduled")),
        ("Current", "integer", 0, _status_int("currentNumberScheduled")),
        ("Ready", "integer", 0, _status_int("numberReady")),
        ("Up-to-date", "integer", 0, _status_int("updatedNumberScheduled")),
        ("Available", "integer", 0, _status_int("numberAvailable")),
        ("Node Selector", "string", 0, lambda o, now: _none(",".join(
            f"{k}={v}" for k, v in sorted((_spec(_spec(o).get("template") or {})
                                          .get("nodeSelector") or {}).items())))),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, _selector),
    ],
    "services": [
        ("Name", "string", 0, _name),
        ("Type", "string", 0, lambda o, now: _spec(o).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o, now: _spec(o).get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, lambda o, now: _none(",".join(
            i.get("ip") or i.get("hostname") or ""
            for i in (_status(o).get("loadBalancer") or {}).get("ingress") or []))),
        ("Port(s)", "string", 0, _ports),
        ("Age", "string", 0, _age),
        ("Selector", "string", 1, _svc_selector),
    ],
    "namespaces": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, lambda o, now: _status(o).get("phase", "")),
        ("Age", "string", 0, _age),
    ],
    "events": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, lambda o, now: o.get("type", "")),
        ("Reason", "string", 0, lambda o, now: o.get("reason", "")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, lambda o, now: o.get("message") or o.get("note") or ""),
    ],
    "endpointslices": [
        ("Name", "string", 0, _name),
        ("AddressType", "string", 0, lambda o, now: o.get("addressType", "")),
        ("Ports", "string", 0, _slice_ports),
        ("Endpoints", "string", 0, _slice_endpoints),
        ("Age", "string", 0, _age),
    ],
    "leases": [
        ("Name", "string", 0, _name),
        ("Holder", "string", 0, lambda o, now: _spec(o).get("holderIdentity") or ""),
        ("Age", "string", 0, _age),
    ],
    "configmaps": [
        ("Name", "string", 0, _name),
        ("Data", "integer", 0,
         lambda o, now: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("Age", "string", 0, _age),
    ],
    "secrets": [
        ("Name", "string", 0, _name),
        ("Type", "string", 0, lambda o, now: o.get("type", "Opaque")),
        ("Data", "integer", 0, lambda o, now: len(o.get("data") or {})),
        ("Age", "string", 0, _age),
    ],
}
_DEFAULT: list[Column] = [
    ("Name", "string", 0, _name),
    ("Created At", "date", 0, lambda o, now: _meta(o).get("creationTimestamp", "")),
]


def _column_defs(columns: list[Column]) -> list[JSON]:
    return [
        {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
         "priority": p}
        for n, t, p, _ in columns
    ]


def _row_object(obj: JSON, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": _meta(obj)}


def table(plural: str, objs: list[JSON], now: float, *, list_meta: JSON,
          include_object: str = "Metadata") -> JSON:
    columns = _COLUMNS.get(plural, _DEFAULT)
    rows = []
    for obj in objs:
        row: JSON = {"cells": [cell(obj, now) for _, _, _, cell in columns]}
        ref = _row_object(obj, include_object)
        if ref is not None:
            row["object"] = ref
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": _column_defs(columns),
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    """Whether the Accept header's *first* choice is a meta.k8s.io Table."""
    first = accept.split(",", 1)[0].replace(" ", "")
    return "as=Table" in first and "g=meta.k8s.io" in first
