"""Slim, immutable projections ("rows") of the watched objects.

Why rows and not bodies: the store must hold 50,000 pods in a few hundred MB and the
step deriver compares old and new versions field by field. A row keeps only what the
views and the step/hazard rules read. Rows are frozen slotted dataclasses; their parts
(conditions, container states, endpoints, ...) are NamedTuples: immutable too, and
several times cheaper to build and hash than frozen dataclasses — building rows is the
hot path of a 50k-pod list (~10 µs a pod). Repeated strings are interned (namespaces,
node names, reasons, label keys) and repeated parts shared: the pod-spec summary of all
pods of one template is one object, and conditions / managedFields entries written in
the same second are cached by their raw values (a hit skips parsing and interning).

`row_from(kind, obj)` is the only constructor the store uses and it never raises. The
builders assume schema-valid objects (the API server validates them), which keeps them
free of per-field type checks; an object that breaks that assumption (a hand-edited
recording) degrades to a plain `Row` built defensively, rather than stopping a watch.

EndpointSlice condition semantics (discovery.k8s.io/v1 `EndpointConditions`): each of
`ready`, `serving`, `terminating` may be absent. Rows keep the raw `bool | None` and
`Endpoint` exposes the consumer reading the API documents:
  * ready:       nil means "unknown", to be treated as ready        → `is_ready`
  * serving:     nil defers to the ready condition                  → `is_serving`
                 (newer API docs say "treat nil as true"; the two only differ for
                 ready=false/serving=nil, where "not serving" is the safer reading)
  * terminating: nil means not terminating                          → `is_terminating`
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import sys
import zlib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, NamedTuple, TypeVar

import orjson

from kwatch.core.events import JSON
from kwatch.core.timefmt import parse_rfc3339

log = logging.getLogger(__name__)

_intern = sys.intern
_ts = parse_rfc3339
# NamedTuple constructors are Python-level functions (~0.3 µs each); tuple.__new__
# builds the same instance at a third of the cost. Used in the builders that run once
# per pod (fields passed in declaration order, which the tests pin down).
_new = tuple.__new__
_H = TypeVar("_H", bound=Hashable)

# --------------------------------------------------------------------------- sharing

_SHARE_MAX = 32_768
_shared: dict[Any, Any] = {}


def share(value: _H) -> _H:
    """Return the canonical instance equal to `value` (interning for any hashable).

    Pods of one ReplicaSet have equal label tuples and spec summaries; keeping one copy
    is most of the memory saving. Bounded: cleared wholesale when full (old rows keep
    their objects, new rows simply stop sharing with them).
    """
    # Keyed with the type: a NamedTuple equals a plain tuple of the same values.
    key = (value.__class__, value)
    hit = _shared.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    if len(_shared) >= _SHARE_MAX:
        _shared.clear()
    _shared[key] = value
    return value


def _i(value: str | None) -> str:
    """Interned string, "" for a missing value (raises TypeError on a non-string)."""
    return _intern(value) if value else ""


def _pairs(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not mapping:
        return ()
    raw = tuple(mapping.items())
    # The raw tuple equals (and hashes like) its interned twin: a hit skips interning.
    hit: tuple[tuple[str, str], ...] | None = _shared.get((tuple, raw))
    if hit is not None:
        return hit
    return share(tuple([(_intern(k), _intern(v)) for k, v in raw]))


def _fingerprint(value: object) -> int:
    """Stable (cross-process) fingerprint of a JSON value: detects template changes."""
    if not value:
        return 0
    return zlib.crc32(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _int_or_str(value: object) -> int | str | None:
    """IntOrString fields (maxSurge "25%" or 1)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _intern(value)
    return None


# --------------------------------------------------------------------------- parts


class ManagerEntry(NamedTuple):
    """One summarised managedFields entry (see kwatch.core.slim)."""

    manager: str
    operation: str  # "Update" | "Apply"
    time: float | None
    fields: tuple[str, ...]  # top-level fields touched: ("f:metadata", "f:spec", ...)
    subresource: str = ""  # "status", "scale", "binding", ...


class OwnerRef(NamedTuple):
    uid: str
    kind: str
    name: str
    controller: bool


class Condition(NamedTuple):
    type: str
    status: str  # "True" | "False" | "Unknown"
    t: float | None  # lastTransitionTime
    reason: str = ""
    message: str = ""

    @property
    def is_true(self) -> bool:
        return self.status == "True"


class PreStop(NamedTuple):
    """What a container's lifecycle.preStop does, reduced to what the hazard rules need.

    kind: "none" | "exec-sleep" (exec whose command sleeps N s) | "sleep-action" (the
    native `sleep` handler) | "exec-other" | "httpGet" | "tcpSocket".
    """

    kind: str
    seconds: float | None = None

    @property
    def sleeps(self) -> float:
        """Seconds the hook keeps the container alive before SIGTERM (0 if unknown)."""
        return self.seconds or 0.0

    def summary(self) -> str:
        if self.seconds is not None:
            return f"{self.kind} {self.seconds:g}s"
        return self.kind


PRESTOP_NONE = PreStop("none")


class ContainerSpec(NamedTuple):
    name: str
    image: str
    readiness_probe: bool
    liveness_probe: bool
    startup_probe: bool
    prestop: PreStop
    ports: tuple[int, ...]
    resources: str  # "cpu 100m/200m mem 64Mi/-" (request/limit), "" when unset


class ContainerStatus(NamedTuple):
    name: str
    ready: bool
    started: bool | None
    restarts: int
    state: str  # "running" | "waiting" | "terminated" | ""
    reason: str = ""  # waiting/terminated reason
    exit_code: int | None = None
    started_at: float | None = None  # running.startedAt or terminated.startedAt
    finished_at: float | None = None  # terminated.finishedAt
    last_exit_code: int | None = None  # lastState.terminated (why it restarted)
    last_reason: str = ""


class Taint(NamedTuple):
    key: str
    effect: str
    value: str = ""
    added: float | None = None


class ServicePort(NamedTuple):
    name: str
    port: int
    target: str  # targetPort as text (number or named port)
    protocol: str


class Endpoint(NamedTuple):
    """One endpoint of an EndpointSlice (see the module docstring for nil semantics)."""

    addresses: tuple[str, ...]
    ready: bool | None
    serving: bool | None
    terminating: bool | None
    node: str = ""
    pod_uid: str = ""  # targetRef.uid when targetRef.kind == "Pod"
    pod_name: str = ""
    pod_namespace: str = ""

    @property
    def is_ready(self) -> bool:
        return self.ready is not False

    @property
    def is_serving(self) -> bool:
        return self.serving if self.serving is not None else self.is_ready

    @property
    def is_terminating(self) -> bool:
        return self.terminating is True

    @property
    def routable(self) -> bool:
        """Would a proxy send new connections here? Ready, or serving and not
        terminating (terminating+serving endpoints are only a last-resort fallback)."""
        return self.is_ready or (self.is_serving and not self.is_terminating)

    @property
    def ident(self) -> str:
        """Identity within a slice: the pod uid, else the first address."""
        return self.pod_uid or (self.addresses[0] if self.addresses else "")

    def conditions(self) -> dict[str, bool]:
        return {
            "ready": self.is_ready,
            "serving": self.is_serving,
            "terminating": self.is_terminating,
        }


class ObjectRef(NamedTuple):
    kind: str
    namespace: str
    name: str
    uid: str


NO_REF = ObjectRef("", "", "", "")


class PodSpecInfo(NamedTuple):
    """The parts of a pod spec kwatch reads. Shared between pods with equal specs."""

    containers: tuple[ContainerSpec, ...] = ()
    init_containers: int = 0
    grace: int = 30  # terminationGracePeriodSeconds (API default 30)
    readiness_gates: tuple[str, ...] = ()
    priority: int | None = None
    priority_class: str = ""
    service_account: str = ""
    host_network: bool = False
    host_pid: bool = False
    host_ipc: bool = False
    scheduler_name: str = "default-scheduler"
    restart_policy: str = "Always"
    # Derived once per distinct spec (see pod_spec_info), read once per pod change.
    has_readiness_probe: bool = False
    prestop: PreStop = PRESTOP_NONE  # the weakest among serving containers

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(c.image for c in self.containers)

    @property
    def serving_containers(self) -> tuple[ContainerSpec, ...]:
        """Containers that receive traffic: those declaring ports, else all of them."""
        with_ports = tuple(c for c in self.containers if c.ports)
        return with_ports or self.containers


EMPTY_POD_SPEC = PodSpecInfo()


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Row:
    """Fields every kind has. Also the row of kinds kwatch has no projection for."""

    KIND: ClassVar[str] = ""

    uid: str
    namespace: str
    name: str
    resource_version: str = ""
    generation: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    owner: OwnerRef | None = None  # the controller owner (else the first owner)
    created: float | None = None
    deleted: float | None = None  # deletionTimestamp (for pods: SIGTERM time + grace)
    deletion_grace: int | None = None  # metadata.deletionGracePeriodSeconds
    finalizers: int = 0
    managers: tuple[ManagerEntry, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None

    @property
    def last_manager(self) -> ManagerEntry | None:
        return self.newest_manager()

    def newest_manager(
        self, field: str | None = None, subresource: str | None = None
    ) -> ManagerEntry | None:
        """The manager entry with the newest time, optionally touching `field` and/or
        written through `subresource` ("" = main resource). Later entries win ties:
        managedFields times have one-second resolution."""
        best: ManagerEntry | None = None
        best_t = -math.inf
        for m in self.managers:
            if field is not None and field not in m.fields:
                continue
            if subresource is not None and m.subresource != subresource:
                continue
            t = m.time if m.time is not None else -math.inf
            if t >= best_t:
                best, best_t = m, t
        return best


@dataclass(frozen=True, slots=True)
class PodRow(Row):
    KIND: ClassVar[str] = "Pod"

    phase: str = ""
    reason: str = ""  # status.reason ("Evicted", "NodeLost", ...)
    node_name: str = ""
    pod_ip: str = ""
    host_ip: str = ""
    start_time: float | None = None
    conditions: tuple[Condition, ...] = ()
    containers: tuple[ContainerStatus, ...] = ()
    qos: str = ""
    resize: str = ""  # status.resize or the PodResize* condition ("" when none)
    spec: PodSpecInfo = EMPTY_POD_SPEC
    ready: bool = False  # the Ready condition is True (read on every change: a field)

    def condition(self, type_: str) -> Condition | None:
        for c in self.conditions:
            if c.type == type_:
                return c
        return None

    @property
    def terminating(self) -> bool:
        return self.deleted is not None

    @property
    def disruption(self) -> str:
        """Reason of a True DisruptionTarget condition ("DeletionByTaintManager", ...)."""
        c = self.condition("DisruptionTarget")
        return c.reason if c is not None and c.status == "True" else ""

    @property
    def template_hash(self) -> str:
        return self.label("pod-template-hash") or ""

    @property
    def revision_hash(self) -> str:
        return self.label("controller-revision-hash") or ""

    @property
    def has_readiness_probe(self) -> bool:
        return self.spec.has_readiness_probe

    @property
    def prestop(self) -> PreStop:
        return self.spec.prestop

    @property
    def termination_grace_period(self) -> int:
        return self.spec.grace

    def container(self, name: str) -> ContainerStatus | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class DeploymentRow(Row):
    KIND: ClassVar[str] = "Deployment"

    replicas: int = 1
    strategy: str = "RollingUpdate"
    max_surge: int | str | None = None  # None: API default 25%
    max_unavailable: int | str | None = None
    min_ready_seconds: int = 0
    progress_deadline_seconds: int | None = 600
    paused: bool = False
    images: tuple[str, ...] = ()
    template_fp: int = 0
    revision: str = ""  # deployment.kubernetes.io/revision
    observed_generation: int = 0
    status_replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    progressing: Condition | None = None
    available: Condition | None = None


@dataclass(frozen=True, slots=True)
class ReplicaSetRow(Row):
    KIND: ClassVar[str] = "ReplicaSet"

    replicas: int = 1
    status_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0
    revision: str = ""
    images: tuple[str, ...] = ()

    @property
    def template_hash(self) -> str:
        return self.label("pod-template-hash") or ""


@dataclass(frozen=True, slots=True)
class StatefulSetRow(Row):
    KIND: ClassVar[str] = "StatefulSet"

    replicas: int = 1
    pod_management_policy: str = "OrderedReady"
    update_strategy: str = "RollingUpdate"
    partition: int = 0
    service_name: str = ""
    images: tuple[str, ...] = ()
    template_fp: int = 0
    observed_generation: int = 0
    status_replicas: int = 0
    ready_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""


@dataclass(frozen=True, slots=True)
class DaemonSetRow(Row):
    KIND: ClassVar[str] = "DaemonSet"

    update_strategy: str = "RollingUpdate"
    max_unavailable: int | str | None = None
    max_surge: int | str | None = None
    images: tuple[str, ...] = ()
    template_fp: int = 0
    observed_generation: int = 0
    desired: int = 0
    current: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    misscheduled: int = 0
    # deprecated.daemonset.template.generation: bumped only when spec.template changes,
    # unlike metadata.generation; the daemonset controller labels pods with it.
    template_generation: int = 0


@dataclass(frozen=True, slots=True)
class ServiceRow(Row):
    KIND: ClassVar[str] = "Service"

    type: str = "ClusterIP"
    cluster_ip: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    ports: tuple[ServicePort, ...] = ()
    publish_not_ready: bool = False


@dataclass(frozen=True, slots=True)
class EndpointSliceRow(Row):
    KIND: ClassVar[str] = "EndpointSlice"

    service_name: str = ""  # label kubernetes.io/service-name
    managed_by: str = ""  # label endpointslice.kubernetes.io/managed-by
    address_type: str = "IPv4"
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, port, protocol)
    endpoints: tuple[Endpoint, ...] = ()

    def by_ident(self) -> dict[str, Endpoint]:
        return {e.ident: e for e in self.endpoints}


@dataclass(frozen=True, slots=True)
class NodeRow(Row):
    KIND: ClassVar[str] = "Node"

    ready: str = ""  # Ready condition status: "True" | "False" | "Unknown" | ""
    ready_reason: str = ""
    ready_since: float | None = None  # lastTransitionTime
    heartbeat: float | None = None  # Ready lastHeartbeatTime
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    internal_ip: str = ""
    kubelet_version: str = ""


@dataclass(frozen=True, slots=True)
class EventRow(Row):
    KIND: ClassVar[str] = "Event"

    regarding: ObjectRef = NO_REF
    reason: str = ""
    note: str = ""
    type: str = ""  # "Normal" | "Warning"
    action: str = ""
    reporting_controller: str = ""
    reporting_instance: str = ""
    event_time: float | None = None  # newest of series/eventTime/deprecated timestamps
    count: int = 1


@dataclass(frozen=True, slots=True)
class LeaseRow(Row):
    KIND: ClassVar[str] = "Lease"

    holder: str = ""
    acquire_time: float | None = None
    renew_time: float | None = None
    transitions: int = 0
    duration_s: int | None = None


_NO_ARG = object()


def fast_frozen_init(cls: type[Any]) -> None:
    """Give a frozen slotted dataclass a faster, equivalent __init__.

    Why: the dataclass-generated __init__ of a frozen class sets each field through
    `object.__setattr__(self, "name", value)`, which dominates building a 23-field
    PodRow (~3 µs, 50,000 times per list) and every Change/Step. Calling the slot
    descriptors' `__set__` directly does the same assignment at half the cost.
    Signature (positional/keyword-only as declared), defaults, default factories,
    equality, hashing and frozenness are unchanged; mypy still checks calls against the
    dataclass signature. Only for classes without __post_init__ or InitVars.
    """
    names: dict[str, Any] = {"_NO_ARG": _NO_ARG}
    params: list[str] = []
    kw_params: list[str] = []
    body: list[str] = []
    for f in fields(cls):
        names[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is not MISSING:
            names[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
            body.append(f"    _set_{f.name}(self, {f.name})")
        elif f.default_factory is not MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            param = f"{f.name}=_NO_ARG"
            body.append(
                f"    _set_{f.name}(self, _factory_{f.name}() if {f.name} is _NO_ARG else {f.name})"
            )
        else:
            param = f.name
            body.append(f"    _set_{f.name}(self, {f.name})")
        (kw_params if f.kw_only else params).append(param)
    signature = ", ".join(["self", *params, *(["*", *kw_params] if kw_params else [])])
    source = f"def __init__({signature}):\n" + "\n".join(body) + "\n"
    exec(source, names)  # the same technique dataclasses itself uses
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__signature__ = inspect.signature(cls.__init__)  # for help() and IDEs
    cls.__init__ = init


for _cls in (
    Row, PodRow, DeploymentRow, ReplicaSetRow, StatefulSetRow, DaemonSetRow, ServiceRow,
    EndpointSliceRow, NodeRow, EventRow, LeaseRow,
):  # fmt: skip
    fast_frozen_init(_cls)


# --------------------------------------------------------------------------- builders
# Each builder reads a schema-valid object; row_from() catches the type errors of one
# that is not.


def _owner(refs: list[JSON] | None) -> OwnerRef | None:
    if not refs:
        return None
    chosen = refs[0]
    if len(refs) > 1:
        for ref in refs:
            if ref.get("controller"):
                chosen = ref
                break
    # uid, kind and name are required in an ownerReference.
    uid = chosen["uid"]
    controller = bool(chosen.get("controller"))
    hit = _owner_cache.get(uid)
    if (
        hit is not None
        and hit.controller is controller
        and hit.name == chosen["name"]
        and hit.kind == chosen["kind"]
    ):
        return hit
    owner = share(
        _new(OwnerRef, (_intern(uid), _intern(chosen["kind"]), _intern(chosen["name"]), controller))
    )
    if len(_owner_cache) >= _PART_CACHE_MAX:
        _owner_cache.clear()
    _owner_cache[uid] = owner
    return owner


# Parts keyed by their raw values: pods written in the same second by the same manager
# (a ReplicaSet's burst of creations, a kubelet's status updates, a rollout's
# conditions) share one instance, and a hit skips the parsing and interning. Bounded,
# cleared wholesale when full; the key is every raw value the part is built from.
_PART_CACHE_MAX = 65_536
# Keyed by the most distinctive raw values, holding the others to verify a hit:
_manager_cache: dict[tuple[str, str, str], tuple[Any, Any, ManagerEntry]] = {}
_condition_cache: dict[tuple[str, str, Any], tuple[Any, Any, Condition]] = {}
_owner_cache: dict[str, OwnerRef] = {}


def _managers(entries: list[JSON] | None) -> tuple[ManagerEntry, ...]:
    if not entries:
        return ()
    out = []
    cache = _manager_cache
    for e in entries:
        key = (e.get("time") or "", e.get("manager") or "", e.get("subresource") or "")
        operation = e.get("operation")
        fields = e.get("fields")
        hit = cache.get(key)
        if hit is not None and hit[0] == operation and hit[1] == fields:
            out.append(hit[2])
            continue
        entry = _new(
            ManagerEntry,
            (
                _intern(key[1]),
                _intern(operation or ""),
                _ts(key[0]),
                share(tuple(fields or ())),
                _intern(key[2]),
            ),
        )
        if len(cache) >= _PART_CACHE_MAX:
            cache.clear()
        cache[key] = (operation, fields, entry)
        out.append(entry)
    return tuple(out)


Meta = tuple[
    str,  # uid
    str,  # namespace
    str,  # name
    str,  # resource_version
    int,  # generation
    tuple[tuple[str, str], ...],  # labels
    OwnerRef | None,  # owner
    float | None,  # created
    float | None,  # deleted
    int | None,  # deletion_grace
    int,  # finalizers
    tuple[ManagerEntry, ...],  # managers
]


def _same_pairs(raw: Mapping[str, str] | None, known: tuple[tuple[str, str], ...]) -> bool:
    if not raw:
        return not known
    return len(raw) == len(known) and all(raw.get(k) == v for k, v in known)


def _same_owner(refs: list[JSON] | None, known: OwnerRef | None) -> bool:
    if not refs or known is None or len(refs) != 1:
        return not refs and known is None
    ref = refs[0]
    return ref.get("uid") == known.uid and bool(ref.get("controller")) == known.controller


def _meta(obj: JSON, prev: Row | None = None) -> Meta:
    """The common Row fields, in declaration order: builders call `XRow(*meta, ...)`
    (positional arguments are the cheapest way into a 23-field frozen row). With `prev`
    (the stored version of the same object) unchanged labels and owner are reused."""
    m = obj["metadata"]
    ns = m.get("namespace")
    labels = m.get("labels")
    refs = m.get("ownerReferences")
    managed = m.get("managedFields")
    if prev is not None:
        labels_row = prev.labels if _same_pairs(labels, prev.labels) else _pairs(labels)
        owner = prev.owner if _same_owner(refs, prev.owner) else _owner(refs)
    else:
        labels_row, owner = _pairs(labels), _owner(refs)
    return (
        m.get("uid") or "",  # unique per object: interning would only cost
        _intern(ns) if ns else "",
        m["name"],
        m.get("resourceVersion") or "",
        m.get("generation") or 0,
        labels_row,
        owner,
        _ts(m.get("creationTimestamp")),
        _ts(m.get("deletionTimestamp")),
        m.get("deletionGracePeriodSeconds"),
        len(m.get("finalizers") or ()),
        _managers(managed),  # entries are cached by their raw values: no reuse needed
    )


def _conditions(items: list[JSON] | None) -> tuple[Condition, ...]:
    if not items:
        return ()
    out = []
    cache = _condition_cache
    for c in items:
        reason = c.get("reason")
        message = c.get("message")
        key = (c["type"], c["status"], c.get("lastTransitionTime"))
        hit = cache.get(key)
        if hit is not None and hit[0] == reason and hit[1] == message:
            out.append(hit[2])
            continue
        cond = _new(
            Condition,
            (
                _intern(key[0]),
                _intern(key[1]),
                _ts(key[2]),
                _intern(reason) if reason else "",
                # Messages repeat across pods ("containers with unready status: [app]").
                _intern(message) if message else "",
            ),
        )
        if len(cache) >= _PART_CACHE_MAX:
            cache.clear()
        cache[key] = (reason, message, cond)
        out.append(cond)
    return tuple(out)


def _is_ready(conds: tuple[Condition, ...]) -> bool:
    for c in conds:
        if c.type == "Ready":
            return c.status == "True"
    return False


def _find_condition(conds: tuple[Condition, ...], type_: str) -> Condition | None:
    for c in conds:
        if c.type == type_:
            return c
    return None


def _annotation(obj: JSON, key: str) -> str:
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    return _i(ann.get(key))


# A sleep inside an exec preStop: ["sleep", "5"], ["/bin/sleep","5"], ["sh","-c","sleep 5 && x"].
_SLEEP_RE = re.compile(r"(?:^|[\s;&|/(])sleep\s+(\d+(?:\.\d+)?)s?(?:$|[\s;&|)])")


def prestop_of(lifecycle: JSON | None) -> PreStop:
    """Summarise `lifecycle.preStop` (exec sleep / native sleep action / other)."""
    pre = (lifecycle or {}).get("preStop")
    if not pre:
        return PRESTOP_NONE
    if "sleep" in pre:
        seconds = (pre["sleep"] or {}).get("seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            return share(PreStop("sleep-action", float(seconds)))
        return share(PreStop("sleep-action"))
    if "exec" in pre:
        command = (pre["exec"] or {}).get("command") or []
        match = _SLEEP_RE.search(" ".join(str(part) for part in command))
        if match:
            return share(PreStop("exec-sleep", float(match.group(1))))
        return share(PreStop("exec-other"))
    if "httpGet" in pre:
        return share(PreStop("httpGet"))
    if "tcpSocket" in pre:
        return share(PreStop("tcpSocket"))
    return share(PreStop("exec-other"))


def _resources(res: JSON | None) -> str:
    if not res:
        return ""
    req = res.get("requests") or {}
    lim = res.get("limits") or {}
    parts = [
        f"{short} {req.get(name, '-')}/{lim.get(name, '-')}"
        for name, short in (("cpu", "cpu"), ("memory", "mem"))
        if name in req or name in lim
    ]
    return _intern(" ".join(parts))


def _container_spec(c: JSON) -> ContainerSpec:
    ports = c.get("ports")
    return ContainerSpec(
        _i(c.get("name")),
        _i(c.get("image")),
        "readinessProbe" in c,
        "livenessProbe" in c,
        "startupProbe" in c,
        prestop_of(c.get("lifecycle")) if "lifecycle" in c else PRESTOP_NONE,
        tuple([p.get("containerPort", 0) for p in ports]) if ports else (),
        _resources(c.get("resources")),
    )


def pod_spec_info(spec: JSON) -> PodSpecInfo:
    """The shared PodSpecInfo for a pod spec (or a template's spec)."""
    containers = tuple([_container_spec(c) for c in spec.get("containers") or ()])
    gates = spec.get("readinessGates")
    serving = tuple(c for c in containers if c.ports) or containers
    # Each container gets SIGTERM after *its own* preStop, so a sidecar's sleep does not
    # protect the app container: the pod is as drained as its least protected one.
    prestop = min((c.prestop for c in serving), key=lambda p: p.sleeps, default=PRESTOP_NONE)
    info = PodSpecInfo(
        containers,
        len(spec.get("initContainers") or ()),
        spec.get("terminationGracePeriodSeconds", 30),
        tuple([_i(g.get("conditionType")) for g in gates]) if gates else (),
        spec.get("priority"),
        _i(spec.get("priorityClassName")),
        _i(spec.get("serviceAccountName")),
        bool(spec.get("hostNetwork")),
        bool(spec.get("hostPID")),
        bool(spec.get("hostIPC")),
        _i(spec.get("schedulerName")) or "default-scheduler",
        _i(spec.get("restartPolicy")) or "Always",
        any(c.readiness_probe for c in containers),
        prestop,
    )
    return share(info)


def _container_status(cs: JSON) -> ContainerStatus:
    state = cs.get("state") or {}
    last = cs.get("lastState")
    last = last.get("terminated") if last else None
    head = (_intern(cs["name"]), cs["ready"], cs.get("started"), cs["restartCount"])
    tail = (last.get("exitCode"), _i(last.get("reason"))) if last else (None, "")
    fields: tuple[str, str, int | None, float | None, float | None]
    running = state.get("running")
    if running is not None:
        fields = ("running", "", None, _ts(running.get("startedAt")), None)
    elif (term := state.get("terminated")) is not None:
        fields = (
            "terminated",
            _i(term.get("reason")),
            term.get("exitCode"),
            _ts(term.get("startedAt")),
            _ts(term.get("finishedAt")),
        )
    elif (waiting := state.get("waiting")) is not None:
        fields = ("waiting", _i(waiting.get("reason")), None, None, None)
    else:
        fields = ("", "", None, None, None)
    return _new(ContainerStatus, head + fields + tail)


def _resize(status: JSON, conds: tuple[Condition, ...]) -> str:
    legacy = status.get("resize")
    if legacy:
        return _intern(legacy)
    for c in conds:
        if c.status == "True":
            if c.type == "PodResizePending":
                return _intern(f"Pending:{c.reason}") if c.reason else "Pending"
            if c.type == "PodResizeInProgress":
                return "InProgress"
    return ""


# Pods stamped from one template (same owner and pod-template-hash /
# controller-revision-hash) share what PodSpecInfo reads — probes, lifecycle hooks,
# ports, gates, pod-level settings — except what is known to differ per pod: container
# images (mutable: `kubectl set image pod/…`, image-rewriting admission) and resources
# (VPA admission, in-place resize). So the summary is built once per (template, images)
# and reused after comparing the raw resources. The images are part of the key, not
# just verified, so pods of one template running different images (a mutating webhook
# pinning digests per node, a half-patched ReplicaSet) each keep hitting their own
# entry instead of evicting each other's (one entry per template missed ~6 in 7 pods of
# the benchmark's mixed-image ReplicaSets: pod_spec_info was a third of a 50k list).
# Bounded; cleared wholesale when full. Pods without an owner are keyed by their uid.
_SPEC_CACHE_MAX = 4096
_spec_cache: dict[tuple[str, str, tuple[Any, ...]], tuple[list[Any], PodSpecInfo]] = {}


def _pod_spec(obj: JSON, spec: JSON, meta: Meta) -> PodSpecInfo:
    owner = meta[6]
    labels = obj["metadata"].get("labels") or {}
    template = labels.get("pod-template-hash") or labels.get("controller-revision-hash") or ""
    containers = spec.get("containers") or ()
    images = tuple([c.get("image") for c in containers])
    key = (owner.uid, template, images) if owner is not None else (meta[0], "", images)
    resources = [c.get("resources") for c in containers]
    hit = _spec_cache.get(key)
    if hit is not None and hit[0] == resources:
        return hit[1]
    info = pod_spec_info(spec)
    if len(_spec_cache) >= _SPEC_CACHE_MAX:
        _spec_cache.clear()
    _spec_cache[key] = (resources, info)
    return info


def _pod(obj: JSON, prev: Row | None = None) -> PodRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    meta = _meta(obj, prev)
    conds = _conditions(status.get("conditions"))
    statuses = status.get("containerStatuses")
    phase = status.get("phase")
    reason = status.get("reason")
    host_ip = status.get("hostIP")
    node_name = spec.get("nodeName")
    qos = status.get("qosClass")
    # Positional, in field order (the cheapest call; test_rows pins every field).
    return PodRow(
        *meta,
        _intern(phase) if phase else "",
        _intern(reason) if reason else "",
        _intern(node_name) if node_name else "",
        status.get("podIP") or "",
        _intern(host_ip) if host_ip else "",
        _ts(status.get("startTime")),
        conds,
        tuple([_container_status(c) for c in statuses]) if statuses else (),
        _intern(qos) if qos else "",
        _resize(status, conds),
        _pod_spec(obj, spec, meta),
        _is_ready(conds),
    )


def _template_images(spec: JSON) -> tuple[str, ...]:
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    return share(tuple([_i(c.get("image")) for c in pod_spec.get("containers") or ()]))


def _deployment(obj: JSON) -> DeploymentRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    conds = _conditions(status.get("conditions"))
    return DeploymentRow(
        *_meta(obj),
        replicas=spec.get("replicas", 1),
        strategy=_i(strategy.get("type")) or "RollingUpdate",
        max_surge=_int_or_str(rolling.get("maxSurge")),
        max_unavailable=_int_or_str(rolling.get("maxUnavailable")),
        min_ready_seconds=spec.get("minReadySeconds") or 0,
        progress_deadline_seconds=spec.get("progressDeadlineSeconds", 600),
        paused=bool(spec.get("paused")),
        images=_template_images(spec),
        template_fp=_fingerprint(spec.get("template")),
        revision=_annotation(obj, "deployment.kubernetes.io/revision"),
        observed_generation=status.get("observedGeneration") or 0,
        status_replicas=status.get("replicas") or 0,
        updated_replicas=status.get("updatedReplicas") or 0,
        ready_replicas=status.get("readyReplicas") or 0,
        available_replicas=status.get("availableReplicas") or 0,
        unavailable_replicas=status.get("unavailableReplicas") or 0,
        progressing=_find_condition(conds, "Progressing"),
        available=_find_condition(conds, "Available"),
    )


def _replicaset(obj: JSON) -> ReplicaSetRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return ReplicaSetRow(
        *_meta(obj),
        replicas=spec.get("replicas", 1),
        status_replicas=status.get("replicas") or 0,
        ready_replicas=status.get("readyReplicas") or 0,
        available_replicas=status.get("availableReplicas") or 0,
        observed_generation=status.get("observedGeneration") or 0,
        revision=_annotation(obj, "deployment.kubernetes.io/revision"),
        images=_template_images(spec),
    )


def _statefulset(obj: JSON) -> StatefulSetRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    return StatefulSetRow(
        *_meta(obj),
        replicas=spec.get("replicas", 1),
        pod_management_policy=_i(spec.get("podManagementPolicy")) or "OrderedReady",
        update_strategy=_i(strategy.get("type")) or "RollingUpdate",
        partition=(strategy.get("rollingUpdate") or {}).get("partition") or 0,
        service_name=_i(spec.get("serviceName")),
        images=_template_images(spec),
        template_fp=_fingerprint(spec.get("template")),
        observed_generation=status.get("observedGeneration") or 0,
        status_replicas=status.get("replicas") or 0,
        ready_replicas=status.get("readyReplicas") or 0,
        current_replicas=status.get("currentReplicas") or 0,
        updated_replicas=status.get("updatedReplicas") or 0,
        available_replicas=status.get("availableReplicas") or 0,
        current_revision=status.get("currentRevision") or "",
        update_revision=status.get("updateRevision") or "",
    )


def _daemonset(obj: JSON) -> DaemonSetRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    return DaemonSetRow(
        *_meta(obj),
        update_strategy=_i(strategy.get("type")) or "RollingUpdate",
        max_unavailable=_int_or_str(rolling.get("maxUnavailable")),
        max_surge=_int_or_str(rolling.get("maxSurge")),
        images=_template_images(spec),
        template_fp=_fingerprint(spec.get("template")),
        observed_generation=status.get("observedGeneration") or 0,
        desired=status.get("desiredNumberScheduled") or 0,
        current=status.get("currentNumberScheduled") or 0,
        ready=status.get("numberReady") or 0,
        updated=status.get("updatedNumberScheduled") or 0,
        available=status.get("numberAvailable") or 0,
        misscheduled=status.get("numberMisscheduled") or 0,
        template_generation=_template_generation(obj),
    )


def _template_generation(obj: JSON) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        "deprecated.daemonset.template.generation"
    )
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _service(obj: JSON) -> ServiceRow:
    spec = obj.get("spec") or {}
    ports = tuple(
        [
            ServicePort(
                _i(p.get("name")),
                p.get("port") or 0,
                _intern(str(p.get("targetPort", p.get("port", "")))),
                _i(p.get("protocol")) or "TCP",
            )
            for p in spec.get("ports") or ()
        ]
    )
    return ServiceRow(
        *_meta(obj),
        type=_i(spec.get("type")) or "ClusterIP",
        cluster_ip=spec.get("clusterIP") or "",
        selector=_pairs(spec.get("selector")),
        ports=ports,
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
    )


def _endpoint(e: JSON, slice_ns: str) -> Endpoint:
    conds = e.get("conditions") or {}
    ref = e.get("targetRef")
    addresses = tuple(e.get("addresses") or ())
    if ref and ref.get("kind", "Pod") == "Pod":
        return Endpoint(
            addresses,
            conds.get("ready"),
            conds.get("serving"),
            conds.get("terminating"),
            _i(e.get("nodeName")),
            _i(ref.get("uid")),
            ref.get("name") or "",
            _i(ref.get("namespace")) or slice_ns,
        )
    return Endpoint(
        addresses,
        conds.get("ready"),
        conds.get("serving"),
        conds.get("terminating"),
        _i(e.get("nodeName")),
    )


def _endpointslice(obj: JSON) -> EndpointSliceRow:
    meta = _meta(obj)
    labels = (obj.get("metadata") or {}).get("labels") or {}
    ns = meta[1]
    return EndpointSliceRow(
        *meta,
        service_name=_i(labels.get("kubernetes.io/service-name")),
        managed_by=_i(labels.get("endpointslice.kubernetes.io/managed-by")),
        address_type=_i(obj.get("addressType")) or "IPv4",
        ports=share(
            tuple(
                [
                    (_i(p.get("name")), p.get("port") or 0, _i(p.get("protocol")) or "TCP")
                    for p in obj.get("ports") or ()
                ]
            )
        ),
        endpoints=tuple([_endpoint(e, ns) for e in obj.get("endpoints") or ()]),
    )


def _node(obj: JSON) -> NodeRow:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready: JSON = {}
    for c in status.get("conditions") or ():
        if c.get("type") == "Ready":
            ready = c
            break
    internal = ""
    for a in status.get("addresses") or ():
        if a.get("type") == "InternalIP":
            internal = a.get("address") or ""
            break
    return NodeRow(
        *_meta(obj),
        ready=_i(ready.get("status")),
        ready_reason=_i(ready.get("reason")),
        ready_since=_ts(ready.get("lastTransitionTime")),
        heartbeat=_ts(ready.get("lastHeartbeatTime")),
        taints=tuple(
            [
                Taint(
                    _i(t.get("key")),
                    _i(t.get("effect")),
                    t.get("value") or "",
                    _ts(t.get("timeAdded")),
                )
                for t in spec.get("taints") or ()
            ]
        ),
        unschedulable=bool(spec.get("unschedulable")),
        internal_ip=internal,
        kubelet_version=_i((status.get("nodeInfo") or {}).get("kubeletVersion")),
    )


def _event(obj: JSON) -> EventRow:
    """events.k8s.io/v1, falling back to core/v1 field names (same object, two shapes)."""
    ref = obj.get("regarding") or obj.get("involvedObject") or {}
    series = obj.get("series") or {}
    source = obj.get("deprecatedSource") or obj.get("source") or {}
    times = [
        t
        for t in (
            _ts(series.get("lastObservedTime")),
            _ts(obj.get("eventTime")),
            _ts(obj.get("deprecatedLastTimestamp") or obj.get("lastTimestamp")),
            _ts(obj.get("deprecatedFirstTimestamp") or obj.get("firstTimestamp")),
        )
        if t is not None
    ]
    meta = _meta(obj)
    count = series.get("count") or obj.get("deprecatedCount") or obj.get("count") or 1
    controller = obj.get("reportingController") or obj.get("reportingComponent")
    return EventRow(
        *meta,
        regarding=ObjectRef(
            _i(ref.get("kind")), _i(ref.get("namespace")), ref.get("name") or "", _i(ref.get("uid"))
        ),
        reason=_i(obj.get("reason")),
        note=obj.get("note") or obj.get("message") or "",
        type=_i(obj.get("type")),
        action=_i(obj.get("action")),
        reporting_controller=_i(controller) or _i(source.get("component")),
        reporting_instance=_i(obj.get("reportingInstance")) or _i(source.get("host")),
        event_time=max(times) if times else meta[7],
        count=count,
    )


def _lease(obj: JSON) -> LeaseRow:
    spec = obj.get("spec") or {}
    return LeaseRow(
        *_meta(obj),
        holder=spec.get("holderIdentity") or "",
        acquire_time=_ts(spec.get("acquireTime")),
        renew_time=_ts(spec.get("renewTime")),
        transitions=spec.get("leaseTransitions") or 0,
        duration_s=spec.get("leaseDurationSeconds"),
    )


def _generic(obj: JSON) -> Row:
    return Row(*_meta(obj))


def _degraded(obj: Mapping[str, Any]) -> Row:
    """A plain Row from whatever metadata survives type checks (malformed objects)."""
    m = obj.get("metadata")
    m = m if isinstance(m, dict) else {}

    def text(key: str) -> str:
        v = m.get(key)
        return v if isinstance(v, str) else ""

    return Row(
        uid=_i(text("uid")),
        namespace=_i(text("namespace")),
        name=text("name"),
        resource_version=text("resourceVersion"),
        created=_ts(m.get("creationTimestamp")),
        deleted=_ts(m.get("deletionTimestamp")),
    )


_BUILDERS: dict[str, Callable[[JSON], Row]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Service": _service,
    "EndpointSlice": _endpointslice,
    "Node": _node,
    "Event": _event,
    "Lease": _lease,
}


def row_from(kind: str, obj: Mapping[str, Any], prev: Row | None = None) -> Row:
    """The slim row for a (slimmed) object of `kind`; a plain Row for unknown kinds.

    `prev`, the stored row of the same object, lets unchanged parts be reused (pods:
    the spec summary); the result equals the one built without it.
    """
    data = obj if isinstance(obj, dict) else dict(obj)
    try:
        if kind == "Pod":
            return _pod(data, prev)
        return _BUILDERS.get(kind, _generic)(data)
    except (TypeError, AttributeError, KeyError, ValueError):
        log.warning("malformed %s object; keeping its metadata only", kind, exc_info=True)
        return _degraded(data)


# --------------------------------------------------------------------------- helpers


def resolve_rolling(
    replicas: int, max_surge: int | str | None, max_unavailable: int | str | None
) -> tuple[int, int]:
    """Absolute (maxSurge, maxUnavailable) for `replicas`, as the deployment controller
    resolves them: percentages of the desired count, surge rounded up, unavailable
    rounded down, and (0, 0) bumped to (0, 1) so a rollout can always progress."""

    def scaled(value: int | str | None, round_up: bool) -> int:
        if value is None:
            value = "25%"  # the API default for both
        if isinstance(value, int):
            return value
        text = value.strip()
        try:
            if text.endswith("%"):
                exact = float(text[:-1]) * replicas / 100
                return math.ceil(exact) if round_up else math.floor(exact)
            return int(text)
        except ValueError:
            return 0

    surge = scaled(max_surge, round_up=True)
    unavailable = scaled(max_unavailable, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def diff_endpoints(
    old: EndpointSliceRow | None, new: EndpointSliceRow | None
) -> tuple[list[Endpoint], list[tuple[Endpoint, Endpoint]], list[Endpoint]]:
    """(added, changed as (before, after), removed) endpoints between two versions of
    one slice, matched by `Endpoint.ident`."""
    before = old.by_ident() if old is not None else {}
    after = new.by_ident() if new is not None else {}
    added = [e for k, e in after.items() if k not in before]
    removed = [e for k, e in before.items() if k not in after]
    changed = [(before[k], e) for k, e in after.items() if k in before and before[k] != e]
    return added, changed, removed
