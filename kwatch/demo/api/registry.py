"""The resource types the demo API server serves, and how each one behaves.

One table drives storage, routing, discovery and kubectl's short names, so adding a kind
is one entry here. The per-kind flags mirror the real registry strategies (which kinds
track `generation`, which clear `status` on create, which return the deleted object).
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Field selectors every kind supports (the generic registry adds them).
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True, slots=True)
class ResourceDef:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # "status", "scale", "binding", "eviction", "resize"
    subresources: frozenset[str] = frozenset()
    # Workload kinds and pods count spec changes in metadata.generation.
    tracks_generation: bool = False
    # The real create strategy wipes user-supplied status for these kinds.
    reset_status_on_create: bool = False
    # kube-apiserver's pod/service registries answer DELETE with the object, others Status.
    return_deleted_object: bool = False
    field_labels: frozenset[str] = _META_FIELDS
    # Field selector names of this view that map onto the stored object's fields.
    field_aliases: tuple[tuple[str, str], ...] = ()
    # Another (group, plural) whose objects this one presents in a different version
    # (events.k8s.io/v1 Events are the core/v1 Events, converted on the way out).
    view_of: tuple[str, str] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_id(self) -> tuple[str, str]:
        """Which collection holds the objects: views share their target's collection."""
        return self.view_of or (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def collection_path(self, namespace: str | None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"


_STATUS = frozenset({"status"})
_SCALED = frozenset({"status", "scale"})
_ALL = ("all",)
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)

RESOURCES: tuple[ResourceDef, ...] = (
    ResourceDef("", "v1", "namespaces", "namespace", "Namespace", namespaced=False,
                reset_status_on_create=True,
                short_names=("ns",), subresources=frozenset({"status", "finalize"}),
                field_labels=_META_FIELDS | {"status.phase"}),
    ResourceDef("", "v1", "nodes", "node", "Node", namespaced=False, short_names=("no",),
                subresources=_STATUS, field_labels=_META_FIELDS | {"spec.unschedulable"}),
    ResourceDef("", "v1", "pods", "pod", "Pod", short_names=("po",), categories=_ALL,
                subresources=frozenset({"status", "binding", "eviction", "resize"}),
                tracks_generation=True, reset_status_on_create=True,
                return_deleted_object=True,
                field_labels=_META_FIELDS | {
                    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                    "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                    "status.podIP", "status.nominatedNodeName"}),
    ResourceDef("", "v1", "services", "service", "Service", short_names=("svc",),
                categories=_ALL, subresources=_STATUS, reset_status_on_create=True,
                return_deleted_object=True,
                field_labels=_META_FIELDS | {"spec.clusterIP", "spec.type"}),
    ResourceDef("", "v1", "endpoints", "endpoints", "Endpoints", short_names=("ep",)),
    ResourceDef("", "v1", "events", "event", "Event", short_names=("ev",),
                field_labels=_META_FIELDS | _EVENT_FIELDS),
    ResourceDef("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount",
                short_names=("sa",)),
    ResourceDef("", "v1", "configmaps", "configmap", "ConfigMap", short_names=("cm",)),
    ResourceDef("", "v1", "secrets", "secret", "Secret", field_labels=_META_FIELDS | {"type"}),
    ResourceDef("apps", "v1", "deployments", "deployment", "Deployment",
                short_names=("deploy",), categories=_ALL, subresources=_SCALED,
                tracks_generation=True, reset_status_on_create=True),
    ResourceDef("apps", "v1", "replicasets", "replicaset", "ReplicaSet", short_names=("rs",),
                categories=_ALL, subresources=_SCALED, tracks_generation=True,
                reset_status_on_create=True,
                field_labels=_META_FIELDS | {"status.replicas"}),
    ResourceDef("apps", "v1", "statefulsets", "statefulset", "StatefulSet",
                short_names=("sts",), categories=_ALL, subresources=_SCALED,
                tracks_generation=True, reset_status_on_create=True),
    ResourceDef("apps", "v1", "daemonsets", "daemonset", "DaemonSet", short_names=("ds",),
                categories=_ALL, subresources=_STATUS, tracks_generation=True,
                reset_status_on_create=True),
    ResourceDef("apps", "v1", "controllerrevisions", "controllerrevision",
                "ControllerRevision"),
    ResourceDef("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice"),
    # No short name here: kubectl would warn that "ev" is ambiguous on every use.
    ResourceDef("events.k8s.io", "v1", "events", "event", "Event",
                field_labels=_META_FIELDS | _EVENT_FIELDS | {
                    "regarding.kind", "regarding.namespace", "regarding.name",
                    "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion",
                    "regarding.fieldPath", "reportingController"},
                field_aliases=(("regarding.", "involvedObject."),
                               ("reportingController", "reportingComponent")),
                view_of=("", "events")),
    ResourceDef("coordination.k8s.io", "v1", "leases", "lease", "Lease"),
)


@dataclass(slots=True)
class Registry:
    """Lookup by (group, version, plural) for routing and by plural for in-process calls."""

    resources: tuple[ResourceDef, ...] = RESOURCES
    _by_gvr: dict[tuple[str, str, str], ResourceDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_gvr = {(r.group, r.version, r.plural): r for r in self.resources}

    def get(self, group: str, version: str, plural: str) -> ResourceDef | None:
        return self._by_gvr.get((group, version, plural))

    def resolve(self, plural: str, group: str = "") -> ResourceDef:
        """The in-process API's lookup: `group` may be left empty when `plural` is unique.

        Raises KeyError for unknown resources.
        """
        matches = [r for r in self.resources if r.plural == plural]
        exact = [r for r in matches if r.group == group]
        if exact:
            return exact[0]
        if not group and len(matches) == 1:
            return matches[0]
        raise KeyError(f"unknown resource {plural!r} in group {group!r}")

    def groups(self) -> list[tuple[str, str]]:
        """(group, version) pairs in first-seen order, core ("") first."""
        seen: dict[tuple[str, str], None] = {}
        for r in self.resources:
            seen.setdefault((r.group, r.version), None)
        return list(seen)

    def in_group(self, group: str, version: str) -> list[ResourceDef]:
        return [r for r in self.resources if r.group == group and r.version == version]
