"""The detail pane's text for one object: lifecycle-relevant spec, conditions with
transition times, owner chain, field managers, endpoint memberships and Events.

Pure formatting over rows and the store's queries (through `Store`); colours are theme
variables in Content markup, so light and dark themes both read well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from textual.markup import escape

from kwatch.core.hazards import Hazard
from kwatch.core.rows import (
    Condition,
    DaemonSetRow,
    DeploymentRow,
    EndpointSliceRow,
    EventRow,
    LeaseRow,
    NodeRow,
    PodRow,
    ReplicaSetRow,
    Row,
    ServiceRow,
    StatefulSetRow,
    resolve_rolling,
)
from kwatch.core.store import Store
from kwatch.ui.model.fmt import age, countdown, rel
from kwatch.ui.model.leases import lease_state, leases

MAX_EVENTS = 12
_TAGS = re.compile(r"\[(?:/|/?[$a-z][^\]]*)\]")  # markup tags: what a pair's width does not count


def _esc(text: object) -> str:
    return escape(str(text))


def _yes(flag: bool, good: bool = True) -> str:
    """✓/✗ coloured by whether the value is the desirable one."""
    if flag:
        return "[$text-success]✓[/]" if good else "[$text-warning]✓[/]"
    return "[$text-muted]✗[/]"


def _kv(key: str, value: str) -> str:
    return f"[$text-muted]{key}[/] {value}"


class DetailBuilder:
    """Builds the markup lines of one object's detail; `content()` assembles them."""

    def __init__(self, store: Store, start: float, now: float, width: int) -> None:
        self.store = store
        self.start = start
        self.now = now
        self.width = width
        self.lines: list[str] = []

    # -- helpers -----------------------------------------------------------------------
    def add(self, line: str = "") -> None:
        self.lines.append(line)

    def section(self, title: str) -> None:
        if self.lines:
            self.add()
        self.add(f"[b $text-accent]{title}[/]")

    def row(self, *pairs: str) -> None:
        """key/value pairs on as few lines as fit the pane (a pair never splits)."""
        line: list[str] = []
        used = 2
        for pair in pairs:
            if not pair:
                continue
            cells = len(_TAGS.sub("", pair))
            if line and used + 3 + cells > self.width:
                self.add("  " + "   ".join(line))
                line, used = [], 2
            used += cells + (3 if line else 0)
            line.append(pair)
        if line:
            self.add("  " + "   ".join(line))

    def markup(self) -> str:
        return "\n".join(self.lines)

    # -- common ------------------------------------------------------------------------
    def header(self, row: Row) -> None:
        where = f"{_esc(row.namespace)}/" if row.namespace else ""
        title = f"[b]{row.KIND or 'Object'}[/b] {where}[b]{_esc(row.name)}[/b]"
        if row.deleted is not None:
            title += "  [$text-error]deleting[/]"
        self.add(title)
        self.row(
            _kv("created", f"{rel(row.created, self.start)} ({age(row.created, self.now)} ago)"),
            _kv("gen", str(row.generation)) if row.generation else "",
            _kv("uid", f"[$text-muted]{_esc(row.uid[:13])}…[/]") if row.uid else "",
        )
        if row.labels:
            labels = ", ".join(f"{_esc(k)}={_esc(v)}" for k, v in row.labels)
            self.row(_kv("labels", labels))

    def hazards(self, hazards: Sequence[Hazard]) -> None:
        for h in hazards:
            window = f" (window {h.window_s:.2f}s)" if h.window_s is not None else ""
            self.add(f"[$text-error]⚠ {_esc(h.kind)}[/]: {_esc(h.message)}{window}")

    def conditions(self, conds: Iterable[Condition | None]) -> None:
        items = [c for c in conds if c is not None]
        if not items:
            return
        self.section("Conditions")
        pad = max(len(c.type) for c in items)
        for c in items:
            colour = "$text-success" if c.is_true else "$text-warning"
            reason = f"  [$text-muted]{_esc(c.reason)}[/]" if c.reason else ""
            self.add(
                f"  {_esc(c.type):<{pad}} [{colour}]{c.status:<5}[/] "
                f"{rel(c.t, self.start):>8}{reason}"
            )
            if c.message and c.status != "True":
                self.add(f"      [$text-muted]{_esc(c.message[:120])}[/]")

    def owner_chain(self, row: Row) -> None:
        chain = [f"{row.KIND} {_esc(row.name)}"]
        seen = {row.uid}
        owner = row.owner
        while owner is not None and owner.uid not in seen:
            seen.add(owner.uid)
            parent = self.store.by_uid(owner.uid)
            chain.append(f"{owner.kind} {_esc(owner.name)}" + ("" if parent else " (not seen)"))
            owner = parent.owner if parent is not None else None
        if len(chain) > 1:
            self.section("Owner chain")
            self.add("  " + "  [$text-muted]←[/]  ".join(chain))

    def managers(self, row: Row) -> None:
        if not row.managers:
            return
        self.section("Managers (managedFields)")
        pad = max(len(m.manager) for m in row.managers)
        for m in sorted(row.managers, key=lambda m: m.time or 0.0):
            sub = f"/{m.subresource}" if m.subresource else ""
            fields = ", ".join(f.removeprefix("f:") for f in m.fields)
            self.add(
                f"  {_esc(m.manager):<{pad}} {m.operation}{sub} "
                f"{rel(m.time, self.start)}  [$text-muted]{_esc(fields)}[/]"
            )

    def events(self, row: Row) -> None:
        events: list[EventRow] = self.store.events_for(row.uid)
        if not events:
            return
        self.section(f"Events ({len(events)})")
        for e in sorted(events, key=lambda e: e.event_time or 0.0)[-MAX_EVENTS:]:
            colour = "$text-warning" if e.type == "Warning" else "$text-muted"
            count = f" x{e.count}" if e.count > 1 else ""
            who = f"{_esc(e.reporting_controller)}: " if e.reporting_controller else ""
            self.add(
                f"  {rel(e.event_time, self.start):>9} [{colour}]{_esc(e.reason)}{count}[/] "
                f"{who}{_esc(e.note[:140])}"
            )

    # -- per kind ------------------------------------------------------------------------
    def pod(self, pod: PodRow) -> None:
        spec = pod.spec
        state = pod.phase or "?"
        if pod.terminating:
            state = f"[$text-error]Terminating[/] ({countdown(pod.deleted, self.now)})"
        self.row(
            _kv("phase", state),
            _kv("node", _esc(pod.node_name or "—")),
            _kv("ip", _esc(pod.pod_ip or "—")),
            _kv("qos", _esc(pod.qos or "—")),
        )
        self.section("Lifecycle spec")
        prestop = pod.prestop
        pre_text = (
            "[$text-warning]none[/]" if prestop.kind == "none" else _esc(prestop.summary())
        )
        self.row(
            _kv("terminationGracePeriodSeconds", str(spec.grace)),
            _kv("preStop", pre_text),
        )
        if pod.deletion_grace is not None:
            self.row(_kv("deletionGracePeriodSeconds", str(pod.deletion_grace)))
        gates = ", ".join(spec.readiness_gates) or "—"
        prio = "—" if spec.priority is None else str(spec.priority)
        if spec.priority_class:
            prio += f" ({_esc(spec.priority_class)})"
        self.row(_kv("readinessGates", _esc(gates)), _kv("priority", prio))
        self.row(
            _kv("serviceAccountName", _esc(spec.service_account or "—")),
            _kv("scheduler", _esc(spec.scheduler_name)),
            _kv("restartPolicy", _esc(spec.restart_policy)),
        )
        self.row(
            _kv("hostNetwork", _yes(spec.host_network, good=False)),
            _kv("hostPID", _yes(spec.host_pid, good=False)),
            _kv("hostIPC", _yes(spec.host_ipc, good=False)),
            _kv("resize", _esc(pod.resize or "—")),
        )
        self.section("Containers")
        statuses = {c.name: c for c in pod.containers}
        for c in spec.containers:
            probes = (
                f"readiness {_yes(c.readiness_probe)} liveness {_yes(c.liveness_probe)} "
                f"startup {_yes(c.startup_probe)}"
            )
            self.add(f"  [b]{_esc(c.name)}[/b] {_esc(c.image)}   {probes}")
            extra: list[str] = []
            if c.resources:
                extra.append(_kv("resources", _esc(c.resources)))
            if c.prestop.kind != "none":
                extra.append(_kv("preStop", _esc(c.prestop.summary())))
            st = statuses.get(c.name)
            if st is not None:
                status = st.state or "unknown"
                if st.reason:
                    status += f" ({_esc(st.reason)})"
                if st.exit_code is not None:
                    status += f" exit {st.exit_code}"
                extra.append(_kv("state", status))
                extra.append(_kv("ready", _yes(st.ready)))
                extra.append(_kv("restarts", str(st.restarts)))
            self.row(*extra)
        self.conditions(pod.conditions)
        memberships = self.store.endpoints_of_pod(pod.uid)
        if memberships:
            self.section("Endpoint slices")
            for m in memberships:
                ep = m.endpoint
                self.add(
                    f"  {_esc(m.service or m.slice_name)} [$text-muted]({_esc(m.slice_name)})[/]  "
                    f"ready {_yes(ep.is_ready)}  serving {_yes(ep.is_serving)}  "
                    f"terminating {_yes(ep.is_terminating, good=False)}"
                )

    def deployment(self, d: DeploymentRow) -> None:
        gen = f"{d.observed_generation}/{d.generation}"
        if d.observed_generation < d.generation:
            gen = f"[$text-warning]{gen} (not yet observed)[/]"
        self.row(
            _kv("replicas", str(d.replicas)),
            _kv("updated", str(d.updated_replicas)),
            _kv("ready", str(d.ready_replicas)),
            _kv("available", str(d.available_replicas)),
            _kv("observed/gen", gen),
        )
        strategy = d.strategy
        if d.strategy == "RollingUpdate":
            surge, unavailable = resolve_rolling(d.replicas, d.max_surge, d.max_unavailable)
            strategy += f"  maxSurge {surge}  maxUnavailable {unavailable}"
        self.row(_kv("strategy", strategy))
        self.row(
            _kv("minReadySeconds", str(d.min_ready_seconds)),
            _kv("progressDeadlineSeconds", str(d.progress_deadline_seconds or "—")),
            _kv("revision", d.revision or "—"),
            "[$text-warning]paused[/]" if d.paused else "",
        )
        self.row(_kv("images", _esc(", ".join(d.images) or "—")))
        self.conditions((d.progressing, d.available))

    def replicaset(self, r: ReplicaSetRow) -> None:
        self.row(
            _kv("pod-template-hash", _esc(r.template_hash or "—")),
            _kv("revision", r.revision or "—"),
        )
        self.row(
            _kv("replicas", str(r.replicas)),
            _kv("current", str(r.status_replicas)),
            _kv("ready", str(r.ready_replicas)),
            _kv("available", str(r.available_replicas)),
        )
        self.row(_kv("images", _esc(", ".join(r.images) or "—")))

    def statefulset(self, s: StatefulSetRow) -> None:
        self.row(
            _kv("replicas", str(s.replicas)),
            _kv("ready", str(s.ready_replicas)),
            _kv("updated", str(s.updated_replicas)),
            _kv("observed/gen", f"{s.observed_generation}/{s.generation}"),
        )
        self.row(
            _kv("podManagementPolicy", s.pod_management_policy),
            _kv("updateStrategy", s.update_strategy),
            _kv("partition", str(s.partition)),
        )
        self.row(
            _kv("currentRevision", _esc(s.current_revision or "—")),
            _kv("updateRevision", _esc(s.update_revision or "—")),
        )
        self.row(_kv("serviceName", _esc(s.service_name or "—")))

    def daemonset(self, d: DaemonSetRow) -> None:
        self.row(
            _kv("desired", str(d.desired)),
            _kv("current", str(d.current)),
            _kv("ready", str(d.ready)),
            _kv("updated", str(d.updated)),
            _kv("misscheduled", str(d.misscheduled)),
        )
        self.row(_kv("updateStrategy", d.update_strategy))
        if d.update_strategy == "OnDelete" and d.updated < d.desired:
            self.add(
                f"  [$text-warning]{d.desired - d.updated} pod(s) keep the old template until "
                "someone deletes them (OnDelete)[/]"
            )

    def service(self, s: ServiceRow) -> None:
        ports = ", ".join(f"{p.port}→{p.target}/{p.protocol}" for p in s.ports) or "—"
        selector = ", ".join(f"{k}={v}" for k, v in s.selector) or "—"
        self.row(_kv("type", s.type), _kv("clusterIP", _esc(s.cluster_ip or "—")))
        self.row(_kv("ports", _esc(ports)), _kv("selector", _esc(selector)))
        if s.publish_not_ready:
            self.row("[$text-warning]publishNotReadyAddresses: not-ready pods receive traffic[/]")
        slices = self.store.slices_of_service(s.namespace, s.name)
        if slices:
            self.section("Endpoint slices")
            for sl in slices:
                self.slice_endpoints(sl)

    def slice_endpoints(self, sl: EndpointSliceRow) -> None:
        self.add(f"  [b]{_esc(sl.name)}[/b] {sl.address_type}  {len(sl.endpoints)} endpoints")
        for ep in sl.endpoints:
            addr = ep.addresses[0] if ep.addresses else "?"
            self.row(
                f"{_esc(addr):<15}",
                f"ready {_yes(ep.is_ready)} serving {_yes(ep.is_serving)} "
                f"terminating {_yes(ep.is_terminating, good=False)}",
                f"[$text-muted]{_esc(ep.pod_name)}[/]",
            )

    def node(self, n: NodeRow) -> None:
        colour = "$text-success" if n.ready == "True" else "$text-error"
        self.row(
            _kv("Ready", f"[{colour}]{n.ready or '?'}[/] {_esc(n.ready_reason)}"),
            _kv("since", rel(n.ready_since, self.start)),
            _kv("heartbeat", age(n.heartbeat, self.now) + " ago" if n.heartbeat else "—"),
        )
        self.row(_kv("ip", _esc(n.internal_ip or "—")), _kv("kubelet", _esc(n.kubelet_version)))
        for t in n.taints:
            self.row(f"[$text-warning]taint[/] {_esc(t.key)}:{t.effect}")
        pods = self.store.pods_on_node(n.name)
        self.row(_kv("pods", str(len(pods))))

    def lease(self, lease: LeaseRow) -> None:
        st = lease_state(lease, self.now)
        if lease.holder:
            colour = "$text-error" if st.expired else "$text-success"
            self.row(_kv("holder", f"[{colour}]{_esc(lease.holder)}[/]"))
        else:
            self.row(_kv("holder", "[$text-warning]none[/]"))
        renewed = (
            f"{rel(lease.renew_time, self.start)} ({age(lease.renew_time, self.now)} ago)"
            if lease.renew_time is not None
            else "—"
        )
        self.row(
            _kv("acquired", rel(lease.acquire_time, self.start)),
            _kv("renewed", renewed),
            _kv("duration", f"{lease.duration_s}s" if lease.duration_s is not None else "—"),
            _kv("transitions", str(lease.transitions)),
        )
        if st.expired:
            self.add(
                "  [$text-error]expired: the holder stopped renewing; nothing this component "
                "runs reconciles until a standby takes the Lease over[/]"
            )
        else:
            self.add(
                "  [$text-muted]The holder runs the controllers and renews the Lease; standbys "
                "take it over once it goes unrenewed for its duration (a transition).[/]"
            )


def control_plane_detail(store: Store, now: float) -> str:
    """Every leader-election Lease: who leads each control-plane component."""
    lines = ["[b]Control plane[/b] [$text-muted]leader election (kube-system Leases)[/]", ""]
    for lease in leases(store):
        st = lease_state(lease, now)
        holder = (
            f"[{'$text-error' if st.expired else '$text-success'}]{_esc(lease.holder)}[/]"
            if lease.holder
            else "[$text-warning]no holder[/]"
        )
        renewed = f"renewed {age(lease.renew_time, now)} ago" if lease.renew_time else ""
        lines.append(f"  [b]{_esc(lease.name)}[/b]")
        lines.append(f"    {holder}")
        lines.append(
            f"    [$text-muted]{lease.transitions} transition(s)   {renewed}"
            f"{'   expired' if st.expired else ''}[/]"
        )
    return "\n".join(lines)


_NAMESPACED = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Pod", "Service",
               "EndpointSlice")  # fmt: skip


def namespace_detail(namespace: str, store: Store, hazards: Iterable[Hazard]) -> str:
    """A namespace at a glance: objects per kind, pods by status, its hazards."""
    lines = [f"[b]Namespace[/b] [b]{_esc(namespace)}[/b]", ""]
    for kind in _NAMESPACED:
        n = sum(1 for r in store.rows(kind).values() if r.namespace == namespace)
        if n:
            lines.append(f"  [$text-muted]{kind:<14}[/] {n:,}")
    pods = [p for p in store.rows("Pod").values() if p.namespace == namespace]
    if pods:
        ready = sum(1 for p in pods if isinstance(p, PodRow) and p.ready)
        dying = sum(1 for p in pods if p.deleted is not None)
        lines.append(
            f"\n  pods: [$text-success]{ready:,} ready[/]   "
            f"[$text-warning]{len(pods) - ready - dying:,} not ready[/]   "
            f"[$text-error]{dying:,} terminating[/]"
        )
    found = [h for h in hazards if h.namespace == namespace]
    if found:
        lines.append(f"\n  [$text-error]⚠ {len(found)} hazard(s)[/]: see the Hazards pane")
    return "\n".join(lines)


def build_detail(
    row: Row | None,
    store: Store,
    start: float,
    now: float,
    hazards: Sequence[Hazard],
    width: int = 80,
) -> str:
    """Content markup (theme variables for colours) describing `row`."""
    if row is None:
        return (
            "[$text-muted]Select an object in the ownership tree to see its lifecycle spec, "
            "conditions, owners, managers and Events.[/]"
        )
    b = DetailBuilder(store, start, now, width)
    b.header(row)
    b.hazards(hazards)
    if isinstance(row, PodRow):
        b.pod(row)
    elif isinstance(row, DeploymentRow):
        b.deployment(row)
    elif isinstance(row, ReplicaSetRow):
        b.replicaset(row)
    elif isinstance(row, StatefulSetRow):
        b.statefulset(row)
    elif isinstance(row, DaemonSetRow):
        b.daemonset(row)
    elif isinstance(row, ServiceRow):
        b.service(row)
    elif isinstance(row, EndpointSliceRow):
        b.section("Endpoints")
        b.slice_endpoints(row)
    elif isinstance(row, NodeRow):
        b.node(row)
    elif isinstance(row, LeaseRow):
        b.lease(row)
    b.owner_chain(row)
    b.managers(row)
    b.events(row)
    return b.markup()
