"""The Kubernetes resources kwatch watches, and how to address them over REST."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceKind:
    kind: str  # "Pod"
    group: str  # "" for the core group
    version: str  # "v1"
    plural: str  # "pods"
    namespaced: bool = True
    # Some kinds are only interesting in one namespace (leader-election Leases).
    fixed_namespace: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """REST path of the collection, across all namespaces when namespace is None."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        ns = namespace if namespace is not None else self.fixed_namespace
        if self.namespaced and ns is not None:
            return f"{prefix}/namespaces/{ns}/{self.plural}"
        return f"{prefix}/{self.plural}"


DEPLOYMENT = ResourceKind("Deployment", "apps", "v1", "deployments")
REPLICASET = ResourceKind("ReplicaSet", "apps", "v1", "replicasets")
STATEFULSET = ResourceKind("StatefulSet", "apps", "v1", "statefulsets")
DAEMONSET = ResourceKind("DaemonSet", "apps", "v1", "daemonsets")
POD = ResourceKind("Pod", "", "v1", "pods")
SERVICE = ResourceKind("Service", "", "v1", "services")
NODE = ResourceKind("Node", "", "v1", "nodes", namespaced=False)
ENDPOINTSLICE = ResourceKind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices")
EVENT = ResourceKind("Event", "events.k8s.io", "v1", "events")
LEASE = ResourceKind("Lease", "coordination.k8s.io", "v1", "leases", fixed_namespace="kube-system")

WATCHED_KINDS: tuple[ResourceKind, ...] = (
    NODE,
    DEPLOYMENT,
    REPLICASET,
    STATEFULSET,
    DAEMONSET,
    POD,
    SERVICE,
    ENDPOINTSLICE,
    EVENT,
    LEASE,
)

BY_KIND: dict[str, ResourceKind] = {k.kind: k for k in WATCHED_KINDS}
