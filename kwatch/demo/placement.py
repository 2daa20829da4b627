"""Placement rules: node selectors, node affinity, taints and tolerations.

These are the API's own semantics (v1.NodeSelector, v1.Toleration.ToleratesTaint), so
every component that places or evicts pods reads them the same way: the scheduler to
filter nodes, the DaemonSet controller to decide which nodes should run a pod, the node
lifecycle controller and taint-based eviction to decide which pods must leave a node,
podgc to spot out-of-service nodes. A module of its own (not a controllers' private
helper) because the scheduler is not a controller but needs the identical rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kwatch.core.events import JSON

# Taints the node lifecycle controller manages, and the scheduler/admission defaults.
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expr.get("key", ""))
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and len(values) == 1:
        # Node selector only: integer comparison; unparsable values never match.
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def map_selector_matches(
    selector: Mapping[str, str] | None, labels: Mapping[str, str] | None
) -> bool:
    """A Service's / nodeSelector's plain map: every pair must match (empty: everything)."""
    lab = labels or {}
    return all(lab.get(k) == v for k, v in (selector or {}).items())


def _term_matches(term: Mapping[str, Any], node: JSON) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches no objects
    meta = node.get("metadata", {})
    labels = meta.get("labels") or {}
    node_fields = {"metadata.name": str(meta.get("name", ""))}
    return all(_expression_matches(e, labels) for e in exprs) and all(
        _expression_matches(f, node_fields) for f in fields
    )


def node_selector_terms_match(terms: Iterable[Mapping[str, Any]], node: JSON) -> bool:
    """v1.NodeSelector: the terms are ORed."""
    return any(_term_matches(t, node) for t in terms)


def pod_fits_node_affinity(pod_spec: Mapping[str, Any], node: JSON) -> bool:
    """nodeSelector and required node affinity (what the scheduler's NodeAffinity checks)."""
    labels = node.get("metadata", {}).get("labels") or {}
    if not map_selector_matches(pod_spec.get("nodeSelector"), labels):
        return False
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or None
    )
    if required is None:
        return True
    return node_selector_terms_match(required.get("nodeSelectorTerms") or [], node)


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Iterable[Mapping[str, Any]],
    effects: tuple[str, ...],
) -> list[Mapping[str, Any]]:
    """The taints with one of `effects` that no toleration tolerates."""
    tols = list(tolerations)
    return [
        t for t in taints
        if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tols)
    ]


def node_taints(node: JSON) -> list[JSON]:
    return list(node.get("spec", {}).get("taints") or [])


def node_condition(node: JSON, type_: str) -> JSON | None:
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def node_ready_status(node: JSON) -> str:
    """"True", "False" or "Unknown" (no Ready condition yet counts as Unknown)."""
    cond = node_condition(node, "Ready")
    return str(cond.get("status", "Unknown")) if cond else "Unknown"
