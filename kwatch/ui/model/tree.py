"""The ownership tree, flattened into the lines the tree pane shows.

Namespace ▸ Deployment ▸ ReplicaSet ▸ Pod; StatefulSet ▸ pods by ordinal; DaemonSet ▸
pods by node (outdated ones marked); Service ▸ EndpointSlice ▸ endpoints; ReplicaSets
and pods without a (seen) controller sit directly under their namespace. Above the
namespaces, a "control plane" group lists the leader-election Leases (kube-system):
who leads kube-controller-manager and kube-scheduler — the holder changes on failover.
Below them, a "nodes" group lists the Nodes: Ready or not, cordon, taints, pods on each.

Why flat lines: the pane draws with the line API and only asks for visible lines, so
the model is a plain list indexable by screen row. Big groups are cut to `limit`
children plus one "+N more" line; expansion state and limits are keyed by stable node
keys (uids), so they survive rebuilds as objects come and go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kwatch.core.rows import (
    DaemonSetRow,
    DeploymentRow,
    Endpoint,
    EndpointSliceRow,
    LeaseRow,
    NodeRow,
    PodRow,
    ReplicaSetRow,
    Row,
    ServiceRow,
    StatefulSetRow,
)
from kwatch.core.store import Store
from kwatch.ui.model.filters import ViewFilter

_T = TypeVar("_T")

DEFAULT_LIMIT = 50  # children shown per group before "+N more"
OPEN_SLICE_MAX = 20  # slices with more endpoints start folded
MORE_STEP = 200  # how many more one "show more" reveals

NAMESPACE = "Namespace"
CONTROL_PLANE = "ControlPlane"  # the group of leader-election Leases
CONTROL_PLANE_KEY = "cp:leaders"
NODES = "Nodes"  # the group of Nodes
NODES_KEY = "nodes:all"
NODES_OPEN_MAX = 10  # a bigger cluster's node list starts folded
ENDPOINT = "Endpoint"
MORE = "More"

_ORDINAL = re.compile(r"-(\d+)$")
# Kinds at the top of a namespace, in display order; True: only when not owned by a
# controller kwatch sees (an RS of a Deployment sits under the Deployment).
_TOP_KINDS: tuple[tuple[str, bool], ...] = (
    ("Deployment", False),
    ("StatefulSet", False),
    ("DaemonSet", False),
    ("ReplicaSet", True),
    ("Pod", True),
    ("Service", False),
)


@dataclass(frozen=True, slots=True)
class TreeLine:
    key: str  # stable identity: uid, "ns:<name>", "<slice uid>/ep:<ident>", "<key>/more"
    depth: int
    kind: str  # a row KIND, or NAMESPACE / ENDPOINT / MORE
    row: Row | None = None
    parent: int = -1  # index of the parent line, -1 at the top
    expandable: bool = False
    expanded: bool = False
    endpoint: Endpoint | None = None  # ENDPOINT lines
    hidden: int = 0  # MORE: children not shown; NAMESPACE, Node: pods; CONTROL_PLANE: leases
    # (and NODES: nodes)
    outdated: bool = False  # pods whose controller has a newer template
    group_key: str = ""  # MORE lines: the key of the group they extend

    @property
    def uid(self) -> str:
        return self.row.uid if self.row is not None else ""


@dataclass
class TreeState:
    """What the user changed: survives rebuilds."""

    toggled: set[str] = field(default_factory=set)  # keys flipped from their default
    limits: dict[str, int] = field(default_factory=dict)

    def expanded(self, key: str, default: bool = True) -> bool:
        return default != (key in self.toggled)

    def toggle(self, key: str) -> None:
        self.toggled.symmetric_difference_update({key})

    def set_expanded(self, key: str, expanded: bool, default: bool = True) -> None:
        if self.expanded(key, default) != expanded:
            self.toggle(key)

    def limit(self, key: str) -> int:
        return self.limits.get(key, DEFAULT_LIMIT)

    def show_more(self, key: str) -> None:
        self.limits[key] = self.limit(key) + MORE_STEP


def _name_key(row: Row) -> str:
    return row.name


def _created_key(row: Row) -> tuple[float, str]:
    return (row.created or 0.0, row.name)


def _revision_key(row: Row) -> tuple[int, float, str]:
    rev = row.revision if isinstance(row, ReplicaSetRow) else ""
    return (int(rev) if rev.isdigit() else 0, row.created or 0.0, row.name)


def _ordinal_key(row: Row) -> tuple[int, str]:
    m = _ORDINAL.search(row.name)
    return (int(m.group(1)) if m else 1 << 30, row.name)


def _node_key(row: Row) -> tuple[str, str]:
    return (row.node_name if isinstance(row, PodRow) else "", row.name)


@dataclass
class _Node:
    """A node before flattening: children are built first so filters can prune."""

    key: str
    kind: str
    row: Row | None = None
    children: list[_Node] = field(default_factory=list)
    endpoint: Endpoint | None = None
    outdated: bool = False
    default_expanded: bool = True
    total: int = 0  # NAMESPACE, Node: pods inside; CONTROL_PLANE: leases; NODES: nodes
    extra: int = 0  # children that exist but were not built (see TreeBuilder._cap)


class TreeBuilder:
    """Builds the lines for one store state, view filter and expansion state."""

    def __init__(self, store: Store, flt: ViewFilter, state: TreeState) -> None:
        self.store = store
        self.flt = flt
        self.state = state
        self.narrow = flt.narrows_objects

    # -- filtering ------------------------------------------------------------------
    def _keep(self, node: _Node, ancestor_matched: bool) -> bool:
        """Prune children in place; keep node if it, an ancestor or a descendant matches."""
        if not self.narrow:
            return True
        self_match = node.row is not None and self.flt.matches(node.row)
        if node.kind == ENDPOINT and node.endpoint is not None:
            self_match = self.flt.name_ok(node.endpoint.pod_name) and self.flt.selector.empty
        inherited = ancestor_matched or self_match
        node.children = [c for c in node.children if self._keep(c, inherited)]
        return inherited or bool(node.children)

    # -- building -------------------------------------------------------------------
    def _cap(self, node: _Node, items: list[_T]) -> list[_T]:
        """The items worth building children for; `node.extra` counts the others.

        Why: without a narrowing filter only the lines that can show matter — the first
        `limit` children of an expanded group, none of a collapsed one (its count is
        enough). A ReplicaSet of 5,000 pods then costs 50 nodes per rebuild, not 5,000.
        """
        if self.narrow:
            return items
        expanded = self.state.expanded(node.key, node.default_expanded)
        keep = min(len(items), self.state.limit(node.key)) if expanded else 0
        node.extra = len(items) - keep
        return items[:keep]

    def _pod_node(self, pod: Row, outdated: bool = False) -> _Node:
        return _Node(pod.uid, pod.KIND, pod, outdated=outdated)

    def _pods(self, owner: Row, sort: Callable[[PodRow], Any]) -> list[PodRow]:
        pods = [r for r in self.store.children(owner.uid) if isinstance(r, PodRow)]
        pods.sort(key=sort)
        return pods

    def _replicaset(self, rs: ReplicaSetRow) -> _Node:
        node = _Node(rs.uid, rs.KIND, rs)
        pods = self._pods(rs, _created_key)
        # Old revisions scaled to zero are history: folded unless the user opens them.
        node.default_expanded = bool(pods) or rs.replicas > 0
        node.children = [self._pod_node(p) for p in self._cap(node, pods)]
        return node

    def _deployment(self, d: DeploymentRow) -> _Node:
        node = _Node(d.uid, d.KIND, d)
        sets = [r for r in self.store.children(d.uid) if isinstance(r, ReplicaSetRow)]
        sets.sort(key=_revision_key)
        node.children = [self._replicaset(rs) for rs in sets]
        return node

    def _statefulset(self, s: StatefulSetRow) -> _Node:
        node = _Node(s.uid, s.KIND, s)
        for p in self._cap(node, self._pods(s, _ordinal_key)):
            outdated = bool(s.update_revision) and p.revision_hash not in ("", s.update_revision)
            node.children.append(self._pod_node(p, outdated))
        return node

    def _daemonset(self, ds: DaemonSetRow) -> _Node:
        node = _Node(ds.uid, ds.KIND, ds)
        pods = self._pods(ds, _node_key)
        current = daemonset_current_hash(ds, pods)
        for p in self._cap(node, pods):
            outdated = p.spec.images != ds.images if ds.images else False
            if current and p.revision_hash and p.revision_hash != current:
                outdated = True
            node.children.append(self._pod_node(p, outdated))
        return node

    def _service(self, svc: ServiceRow) -> _Node:
        node = _Node(svc.uid, svc.KIND, svc)
        slices = sorted(self.store.slices_of_service(svc.namespace, svc.name), key=_name_key)
        for sl in slices:
            # A slice of a small Service opens by default (its endpoints are the lesson);
            # a full one (up to 100 endpoints) stays a one-line summary until opened.
            small = len(sl.endpoints) <= OPEN_SLICE_MAX
            sl_node = _Node(sl.uid, sl.KIND, sl, default_expanded=small)
            endpoints = sorted(sl.endpoints, key=lambda e: (e.pod_name, e.ident))
            sl_node.children = [
                _Node(f"{sl.uid}/ep:{ep.ident}", ENDPOINT, sl, endpoint=ep)
                for ep in self._cap(sl_node, endpoints)
            ]
            node.children.append(sl_node)
        return node

    def _object(self, row: Row) -> _Node:
        if isinstance(row, DeploymentRow):
            return self._deployment(row)
        if isinstance(row, StatefulSetRow):
            return self._statefulset(row)
        if isinstance(row, DaemonSetRow):
            return self._daemonset(row)
        if isinstance(row, ReplicaSetRow):
            return self._replicaset(row)
        if isinstance(row, ServiceRow):
            return self._service(row)
        return self._pod_node(row)

    def _namespaces(self) -> dict[str, _Node]:
        """Top-level nodes per namespace, children in a stable order."""
        store = self.store

        def owned(row: Row) -> bool:
            return row.owner is not None and store.by_uid(row.owner.uid) is not None

        tops: dict[str, list[Row]] = {}
        for kind, skip_owned in _TOP_KINDS:
            rows = [
                r
                for r in store.rows(kind).values()
                if self.flt.namespace_ok(r.namespace) and not (skip_owned and owned(r))
            ]
            for row in sorted(rows, key=_name_key):
                tops.setdefault(row.namespace, []).append(row)
        spaces: dict[str, _Node] = {}
        for ns, rows in sorted(tops.items()):
            node = spaces[ns] = _Node(f"ns:{ns}", NAMESPACE)
            node.children = [self._object(row) for row in self._cap(node, rows)]
        for pod in store.rows("Pod").values():
            ns_pods = spaces.get(pod.namespace)
            if ns_pods is not None:
                ns_pods.total += 1
        return spaces

    def _control_plane(self) -> _Node | None:
        """The leader-election Leases, whatever the namespace filter: they are context
        (who runs the controllers) for any namespace, like nodes."""
        leases = sorted(
            (r for r in self.store.rows("Lease").values() if isinstance(r, LeaseRow)),
            key=_name_key,
        )
        if not leases:
            return None
        node = _Node(CONTROL_PLANE_KEY, CONTROL_PLANE, total=len(leases))
        node.children = [_Node(lease.uid, lease.KIND, lease) for lease in self._cap(node, leases)]
        return node

    def _nodes(self) -> _Node | None:
        """The Nodes, whatever the namespace filter: where pods run is context for all."""
        nodes = sorted(
            (r for r in self.store.rows("Node").values() if isinstance(r, NodeRow)),
            key=_name_key,
        )
        if not nodes:
            return None
        group = _Node(NODES_KEY, NODES, total=len(nodes),
                      default_expanded=len(nodes) <= NODES_OPEN_MAX)
        # `total` of a node line: the pods bound to it.
        count = self.store.pod_count_on_node
        group.children = [_Node(n.uid, n.KIND, n, total=count(n.name))
                          for n in self._cap(group, nodes)]
        return group

    def build(self) -> list[TreeLine]:
        # The control plane (two lines) first, the workloads, then the nodes: a list
        # that grows with the cluster must not push the workloads off a small screen.
        groups = [self._control_plane(), *self._namespaces().values(), self._nodes()]
        out: list[TreeLine] = []
        for group in groups:
            if group is not None and self._keep(group, False):
                self._flatten(group, 0, -1, out)
        return out

    def _flatten(self, node: _Node, depth: int, parent: int, out: list[TreeLine]) -> None:
        expandable = bool(node.children) or node.extra > 0
        expanded = expandable and self.state.expanded(node.key, node.default_expanded)
        index = len(out)
        out.append(
            TreeLine(
                key=node.key,
                depth=depth,
                kind=node.kind,
                row=node.row,
                parent=parent,
                expandable=expandable,
                expanded=expanded,
                endpoint=node.endpoint,
                outdated=node.outdated,
                hidden=node.total,
            )
        )
        if not expanded:
            return
        limit = self.state.limit(node.key)
        for child in node.children[:limit]:
            self._flatten(child, depth + 1, index, out)
        rest = len(node.children) + node.extra - limit
        if rest > 0:
            out.append(
                TreeLine(
                    key=f"{node.key}/more",
                    depth=depth + 1,
                    kind=MORE,
                    parent=index,
                    hidden=rest,
                    group_key=node.key,
                )
            )


def daemonset_current_hash(ds: DaemonSetRow, pods: Sequence[PodRow]) -> str:
    """The controller-revision-hash new pods of `ds` get.

    DaemonSet status has no update revision; the controller labels every pod it creates
    with the current one, so the newest pod running the current template tells it.
    """
    candidates = [
        p for p in pods if p.revision_hash and (not ds.images or p.spec.images == ds.images)
    ]
    if not candidates:
        return ""
    return max(candidates, key=_created_key).revision_hash


def build_tree(store: Store, flt: ViewFilter, state: TreeState) -> list[TreeLine]:
    return TreeBuilder(store, flt, state).build()


def descendants(store: Store, uid: str) -> set[str]:
    """uid, everything it owns (transitively) and, for a Service, its slices' pods."""
    out = {uid}
    stack = [uid]
    while stack:
        current = stack.pop()
        for child in store.children(current):
            if child.uid not in out:
                out.add(child.uid)
                stack.append(child.uid)
    row = store.by_uid(uid)
    if isinstance(row, ServiceRow):
        for sl in store.slices_of_service(row.namespace, row.name):
            out.add(sl.uid)
            out.update(e.pod_uid for e in sl.endpoints if e.pod_uid)
    elif isinstance(row, EndpointSliceRow):
        out.update(e.pod_uid for e in row.endpoints if e.pod_uid)
    return out
