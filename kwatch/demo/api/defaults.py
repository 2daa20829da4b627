"""Defaulting, as the real API server's defaulters and admission plugins apply it.

Only the defaults a viewer of the demo would notice are set: workload strategies and
replica counts, the pod fields the kubelet and scheduler read, the tolerations the
DefaultTolerationSeconds admission plugin adds, Service IPs. All functions modify the
(private) object in place and are idempotent, so they run on every write.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_DEFAULT_TOLERATIONS: tuple[JSON, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
)


def _pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: JSON) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(c: JSON, *, limits_to_requests: bool) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", _pull_policy(str(c.get("image", ""))))
    res = c.setdefault("resources", {})
    if limits_to_requests and isinstance(res, dict) and res.get("limits"):
        # A container that only sets limits gets requests equal to them (pods only).
        requests = res.setdefault("requests", {})
        for k, v in res["limits"].items():
            requests.setdefault(k, v)
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for name in _PROBES:
        if isinstance(c.get(name), dict):
            _probe(c[name])


def pod_spec(spec: JSON, *, is_pod: bool) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    if is_pod:
        # Admission (ServiceAccount, Priority, DefaultTolerationSeconds) runs on pods only.
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tolerations = spec.setdefault("tolerations", [])
        for tol in _DEFAULT_TOLERATIONS:
            if not any(t.get("key") == tol["key"] for t in tolerations):
                tolerations.append(dict(tol))
    for field in _CONTAINER_LISTS:
        for c in spec.get(field) or []:
            _container(c, limits_to_requests=is_pod)


def qos_class(spec: JSON) -> str:
    """Guaranteed / Burstable / BestEffort, from cpu and memory requests and limits."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if any(k in req or k in lim for k in ("cpu", "memory")):
            any_set = True
        for k in ("cpu", "memory"):
            if k not in lim or req.get(k, lim[k]) != lim[k]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _template(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    tmpl = spec.setdefault("template", {})
    pod_spec(tmpl.setdefault("spec", {}), is_pod=False)


def _rolling(obj: JSON, kind: str) -> None:
    spec = obj.setdefault("spec", {})
    if kind == "Deployment":
        strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strat.setdefault("type", "RollingUpdate") == "RollingUpdate":
            ru = strat.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
    elif kind == "StatefulSet":
        strat = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strat.setdefault("type", "RollingUpdate") == "RollingUpdate":
            strat.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    elif kind == "DaemonSet":
        strat = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strat.setdefault("type", "RollingUpdate") == "RollingUpdate":
            ru = strat.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)


def apply_defaults(kind: str, obj: JSON) -> None:
    """Default `obj` (a private copy) of `kind` in place."""
    spec = obj.get("spec")
    if kind == "Pod":
        pod_spec(obj.setdefault("spec", {}), is_pod=True)
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        _template(obj)
        spec = obj["spec"]
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            spec.setdefault("revisionHistoryLimit", 10)
            _rolling(obj, kind)
        if kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
        if kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault(
                "persistentVolumeClaimRetentionPolicy",
                {"whenDeleted": "Retain", "whenScaled": "Retain"},
            )
        # Deployments and ReplicaSets without labels take the template's (apps/v1 rule).
        labels = (spec.get("template", {}).get("metadata") or {}).get("labels")
        meta = obj.setdefault("metadata", {})
        if labels and not meta.get("labels"):
            meta["labels"] = dict(labels)
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
    elif kind == "Namespace":
        meta = obj.setdefault("metadata", {})
        labels = meta.setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = meta.get("name", "")
    elif kind == "EndpointSlice":
        for port in obj.get("ports") or []:
            port.setdefault("protocol", "TCP")
    elif kind == "Secret" and not obj.get("type"):
        obj["type"] = "Opaque"


def initial_status(kind: str, obj: JSON) -> JSON:
    """The status the create strategy stores, replacing whatever the client sent."""
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    if kind == "Service":
        return {"loadBalancer": {}}
    if kind == "Namespace":
        return {"phase": "Active"}
    return {}
