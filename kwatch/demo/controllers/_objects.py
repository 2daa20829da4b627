"""Small helpers on raw Kubernetes objects shared by the demo's controllers.

Ownership (`ownerReferences` with controller=true), label selectors in their API form
(`matchLabels` + `matchExpressions`) and pod readiness, as apimachinery and
k8s.io/kubernetes/pkg/api/v1/pod define them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kwatch.core.events import JSON
from kwatch.core.labels import Operator, Requirement, Selector
from kwatch.demo.clock import parse_time

_OPERATORS: dict[str, Operator] = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!exists",
}


def meta(obj: Mapping[str, Any]) -> JSON:
    m: JSON = obj.get("metadata") or {}
    return m


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def controller_of(obj: Mapping[str, Any]) -> JSON | None:
    """The ownerReference with controller=true, if any (metav1.GetControllerOf)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def controller_ref(owner: Mapping[str, Any], api_version: str, kind: str) -> JSON:
    """An ownerReference making `owner` the managing controller (blocks GC foreground)."""
    m = meta(owner)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_from(label_selector: Mapping[str, Any] | None) -> Selector | None:
    """metav1.LabelSelectorAsSelector: None selects nothing, {} selects everything."""
    if label_selector is None:
        return None
    match_labels = sorted((label_selector.get("matchLabels") or {}).items())
    reqs = [Requirement(str(k), "=", (str(v),)) for k, v in match_labels]
    for expr in label_selector.get("matchExpressions") or []:
        op = _OPERATORS.get(str(expr.get("operator")))
        if op is None:
            return None  # an invalid selector matches nothing rather than everything
        reqs.append(Requirement(str(expr["key"]), op, tuple(expr.get("values") or ())))
    return Selector(tuple(reqs))


def selector_matches(label_selector: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    sel = selector_from(label_selector)
    return sel is not None and not sel.empty and sel.matches(labels_of(obj))


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def pod_condition(pod: Mapping[str, Any], type_: str) -> JSON | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Neither finished nor being deleted (controller.IsPodActive)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def typed_copy(obj: Mapping[str, Any], api_version: str, kind: str) -> JSON:
    """A deep copy we may mutate and PUT back (listed objects lack apiVersion/kind)."""
    out: JSON = copy.deepcopy(dict(obj))
    out.setdefault("apiVersion", api_version)
    out.setdefault("kind", kind)
    return out
