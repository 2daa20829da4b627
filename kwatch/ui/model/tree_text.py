"""How one ownership-tree line reads: glyph, name, and right-aligned status columns."""

from __future__ import annotations

from collections.abc import Collection

from kwatch.core.rows import (
    DaemonSetRow,
    DeploymentRow,
    EndpointSliceRow,
    LeaseRow,
    NodeRow,
    PodRow,
    ReplicaSetRow,
    Row,
    ServiceRow,
    StatefulSetRow,
)
from kwatch.ui.model.endpoints import endpoint_flags
from kwatch.ui.model.fmt import age, count, countdown, ellipsize, plural
from kwatch.ui.model.leases import lease_state
from kwatch.ui.model.spans import Role, Span, fit, width_of
from kwatch.ui.model.tree import CONTROL_PLANE, ENDPOINT, MORE, NAMESPACE, NODES, TreeLine

LEASE_STALE_S = 5.0  # unrenewed this long, the holder may be gone (renewals: every 2 s)

SHORT_KIND = {
    "Deployment": "deploy",
    "ReplicaSet": "rs",
    "StatefulSet": "sts",
    "DaemonSet": "ds",
    "Pod": "pod",
    "Service": "svc",
    "EndpointSlice": "slice",
    "Lease": "lease",
}


def pod_status(pod: PodRow) -> str:
    """kubectl's STATUS column: Terminating, a container's waiting/terminated reason,
    else the phase."""
    if pod.deleted is not None:
        return "Terminating"
    for c in pod.containers:
        if c.state == "waiting" and c.reason:
            return c.reason
    for c in pod.containers:
        if c.state == "terminated" and c.reason and pod.phase == "Running":
            return c.reason
    if pod.phase == "Pending" and pod.node_name:
        return "Scheduled"
    return pod.reason or pod.phase or "Unknown"


def pod_glyph(pod: PodRow) -> Span:
    if pod.deleted is not None:
        return ("✕", "bad")
    if pod.phase == "Succeeded":
        return ("✓", "muted")
    if pod.phase == "Failed":
        return ("✗", "bad")
    if pod.ready:
        return ("●", "ok")
    if pod.phase == "Running":
        return ("◐", "warn")
    return ("○", "muted")


def _ratio(have: int, want: int) -> Role:
    return "ok" if have >= want else "warn"


def _pod_columns(pod: PodRow, now: float, outdated: bool, room: int) -> list[Span]:
    """Status columns within `room` cells: node, then restarts, go first when short."""
    total = len(pod.spec.containers) or len(pod.containers)
    ready = sum(1 for c in pod.containers if c.ready)
    restarts = sum(c.restarts for c in pod.containers)
    status = pod_status(pod)
    status_role: Role = (
        "bad" if pod.deleted is not None or status in ("CrashLoopBackOff", "Failed", "Error")
        else "ok" if pod.ready
        else "warn" if pod.phase == "Running"
        else "muted"
    )  # fmt: skip
    when: Span = (
        (f"{countdown(pod.deleted, now):>11}", "bad")
        if pod.deleted is not None
        else (f"{age(pod.created, now):>7}", "muted")
    )
    node: Span = (f" {ellipsize(pod.node_name or '—', 12):<12}", "muted")
    # (span, drop order): 0 stays, higher numbers are dropped first.
    cols: list[tuple[Span, int]] = [
        (("outdated ", "warn"), 0) if outdated else (("", ""), 0),
        ((f" {ellipsize(status, 12):<12}", status_role), 0),
        ((f" {ready}/{total}", _ratio(ready, total)), 0),
        ((f" ↻{restarts:<2}", "bad" if restarts else "muted"), 2),
        (node, 3),
        (when, 1),
    ]
    for order in (3, 2, 1):
        if sum(len(s[0]) for s, _ in cols) <= room:
            break
        cols = [c for c in cols if c[1] != order]
    return [span for span, _ in cols if span[0]]


def _summary(row: Row | None) -> list[Span]:
    """The right-hand columns of a controller / service line."""
    if isinstance(row, DeploymentRow):
        gen: Span = (
            (f" · gen {row.generation} (observed {row.observed_generation})", "warn")
            if row.observed_generation < row.generation
            else (f" · gen {row.generation}", "muted")
        )
        return [
            (f" want {row.replicas}", ""),
            (f" · upd {row.updated_replicas}", _ratio(row.updated_replicas, row.replicas)),
            (f" · ready {row.ready_replicas}", _ratio(row.ready_replicas, row.replicas)),
            (f" · avail {row.available_replicas}", _ratio(row.available_replicas, row.replicas)),
            gen,
        ]
    if isinstance(row, ReplicaSetRow):
        return [
            (f" rev {row.revision or '?'}", "accent"),
            (f" · want {row.replicas}", ""),
            (f" · ready {row.ready_replicas}", _ratio(row.ready_replicas, row.replicas)),
        ]
    if isinstance(row, StatefulSetRow):
        return [
            (f" want {row.replicas}", ""),
            (f" · ready {row.ready_replicas}", _ratio(row.ready_replicas, row.replicas)),
            (f" · upd {row.updated_replicas}", _ratio(row.updated_replicas, row.replicas)),
            (f" · {row.update_strategy}", "muted"),
        ]
    if isinstance(row, DaemonSetRow):
        return [
            (f" want {row.desired}", ""),
            (f" · ready {row.ready}", _ratio(row.ready, row.desired)),
            (f" · upd {row.updated}", _ratio(row.updated, row.desired)),
            (f" · {row.update_strategy}", "warn" if row.update_strategy == "OnDelete" else "muted"),
        ]
    if isinstance(row, ServiceRow):
        ports = ",".join(f"{p.port}→{p.target}" for p in row.ports)
        return [(f" {row.type} {row.cluster_ip or ''} {ports}", "muted")]
    if isinstance(row, EndpointSliceRow):
        ready = sum(1 for e in row.endpoints if e.is_ready)
        return [(f" {ready}/{len(row.endpoints)} ready", _ratio(ready, len(row.endpoints)))]
    return []


def _lease_columns(lease: LeaseRow, now: float, room: int) -> list[Span]:
    """Holder, hand-overs, renewal: what fits in `room`, most telling first.

    A Lease renewed within a few seconds is the normal state (its age is the least
    important column); one going unrenewed is the failover in progress, and outranks
    the transition count until a standby takes over.
    """
    st = lease_state(lease, now)
    holder: Span = (
        (f" ▸ {ellipsize(st.holder, 24)}", "bad" if st.expired else "ok")
        if st.holder
        else (" no holder", "warn")
    )
    ago = age(lease.renew_time, now)
    stale = st.renewed_ago is not None and st.renewed_ago > LEASE_STALE_S
    renewal: tuple[Span, int] = (
        ((f" · expired {ago}", "bad"), 1)
        if st.expired
        else ((f" · unrenewed {ago}", "warn"), 1)
        if stale
        else ((f" · renewed {ago} ago", "muted"), 3)
        if st.renewed_ago is not None
        else (("", ""), 3)
    )
    hand_overs: Span = (
        f" · {plural(lease.transitions, 'transition')}",
        "accent" if lease.transitions else "muted",
    )
    cols: list[tuple[Span, int]] = [(holder, 0), renewal, (hand_overs, 2)]
    for order in (3, 2, 1):
        if sum(len(span[0]) for span, _ in cols) <= room:
            break
        cols = [c for c in cols if c[1] != order]
    return [span for span, _ in cols if span[0]]


_NODE_TAINT_PREFIX = "node.kubernetes.io/"


def _node_columns(node: NodeRow, pods: int) -> list[Span]:
    """Ready or why not, then cordon and taints (what keeps pods off or evicts them),
    then how many pods are bound to it."""
    if node.ready == "True":
        cols: list[Span] = [(" Ready", "ok")]
    else:
        why = ", ".join(x for x in (node.ready or "?", node.ready_reason) if x)
        cols = [(f" NotReady ({why})", "bad")]
    if node.unschedulable:
        cols.append((" · cordoned", "warn"))
    for t in node.taints:
        if t.key == _NODE_TAINT_PREFIX + "unschedulable":
            continue  # the cordon, already said
        cols.append((f" · {t.key.removeprefix(_NODE_TAINT_PREFIX)}:{t.effect}", "warn"))
    cols.append((f" · {plural(pods, 'pod')}", "muted"))
    return cols


def tree_line_spans(
    line: TreeLine,
    width: int,
    now: float,
    hazard_uids: Collection[str],
    row: Row | None = None,
) -> list[Span]:
    """`row`: a newer version of the line's object (status changes need no rebuild)."""
    indent = "  " * line.depth
    if line.expandable:
        glyph: Span = ("▾ " if line.expanded else "▸ ", "muted")
    else:
        glyph = ("  ", "")
    head: list[Span] = [(indent, ""), glyph]
    row = row or line.row
    hazard = bool(row is not None and row.uid in hazard_uids)

    if line.kind == NAMESPACE:
        ns = line.key.removeprefix("ns:") or "(cluster)"
        pods = f"  {plural(line.hidden, 'pod')}" if line.hidden else ""
        return fit([*head, (ns, "bold"), (pods, "muted")], [], width)
    if line.kind == CONTROL_PLANE:
        leases = f"  {plural(line.hidden, 'leader lease')}"
        return fit([*head, ("control plane", "bold"), (leases, "muted")], [], width)
    if line.kind == NODES:
        return fit([*head, ("nodes", "bold"), (f"  {plural(line.hidden, 'node')}", "muted")],
                   [], width)
    if isinstance(row, NodeRow):
        left = [*head, (row.name, "hazard" if hazard else "bold")]
        if hazard:
            left.append((" ⚠", "hazard"))
        return fit(left, _node_columns(row, line.hidden), width)
    if isinstance(row, LeaseRow):
        # (no "lease" kind: the group line says what these are, and the name is long)
        left = [*head, (row.name, "bold")]
        return fit(left, _lease_columns(row, now, width - width_of(left) - 1), width)
    if line.kind == MORE:
        return fit([*head, (f"… +{count(line.hidden)} more", "accent"), ("  (enter)", "muted")],
                   [], width)  # fmt: skip
    if line.kind == ENDPOINT and line.endpoint is not None:
        ep = line.endpoint
        routable_dying = ep.is_terminating and ep.is_serving
        addr = ep.addresses[0] if ep.addresses else "?"
        left = [*head, ("◆ ", "warn" if routable_dying else "accent"), (f"{addr:<15}", "")]
        if ep.pod_name:
            left.append((f" → {ep.pod_name}", "hazard" if ep.pod_uid in hazard_uids else "muted"))
        return fit(left, [(" ", ""), *endpoint_flags(ep, compact=width < 90)], width)
    if isinstance(row, PodRow):
        g, role = pod_glyph(row)
        name_role: Role = "hazard" if hazard else ("muted" if row.deleted is not None else "")
        left = [*head, (g + " ", role), (row.name, name_role)]
        if hazard:
            left.append((" ⚠", "hazard"))
        room = width - width_of(left)
        return fit(left, _pod_columns(row, now, line.outdated, room), width)
    if row is not None:
        kind = SHORT_KIND.get(row.KIND, row.KIND.lower())
        left = [*head, (f"{kind} ", "kind"), (row.name, "hazard" if hazard else "bold")]
        if hazard:
            left.append((" ⚠", "hazard"))
        if row.deleted is not None:
            left.append((" deleting", "bad"))
        return fit(left, _summary(row), width)
    return fit([*head, (line.key, "")], [], width)
