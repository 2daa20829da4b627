"""DaemonSet decisions without I/O: where daemons run, which pods go, what status says.

The pure half of the daemonset controller (`daemonset.py` does the writes), after
k8s.io/kubernetes pkg/controller/daemon and its util package. Pods are grouped by the
node they run on *or are pinned to* (`target_node`), because a freshly created daemon pod
is not bound yet — the scheduler binds it later.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kwatch.core.events import JSON
from kwatch.demo.controllers._objects import is_pod_available, is_pod_ready, meta
from kwatch.demo.controllers.revisions import HASH_LABEL
from kwatch.demo.placement import (
    TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
    TAINT_NOT_READY,
    TAINT_PID_PRESSURE,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    node_taints,
    pod_fits_node_affinity,
    untolerated,
)

ByNode = dict[str, list[JSON]]


def daemon_tolerations(pod_spec: JSON) -> None:
    """AddOrUpdateDaemonPodTolerations: a daemon survives node trouble and cordons."""
    wanted = [
        (TAINT_NOT_READY, "NoExecute"),
        (TAINT_UNREACHABLE, "NoExecute"),
        (TAINT_DISK_PRESSURE, "NoSchedule"),
        (TAINT_MEMORY_PRESSURE, "NoSchedule"),
        (TAINT_PID_PRESSURE, "NoSchedule"),
        (TAINT_UNSCHEDULABLE, "NoSchedule"),
    ]
    if pod_spec.get("hostNetwork"):
        wanted.append((TAINT_NETWORK_UNAVAILABLE, "NoSchedule"))
    tolerations = [
        t for t in pod_spec.get("tolerations") or []
        if (t.get("key"), t.get("effect")) not in wanted
    ]
    tolerations.extend({"key": k, "operator": "Exists", "effect": e} for k, e in wanted)
    pod_spec["tolerations"] = tolerations


def pin_to_node(pod_spec: JSON, node_name: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: required affinity to exactly this node."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    affinity = pod_spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}


def target_node(pod: Mapping[str, Any]) -> str | None:
    """GetTargetNodeName: the node a daemon pod runs on, or is pinned to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            values = f.get("values") or []
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def should_run(node: JSON, ds: JSON) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run a pod there, may keep an existing one)."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    node_name = str(meta(node).get("name", ""))
    if spec.get("nodeName") not in (None, "", node_name):
        return False, False
    if not pod_fits_node_affinity(spec, node):
        return False, False
    daemon_tolerations(spec)
    taints = node_taints(node)
    tolerations = spec.get("tolerations") or []
    if untolerated(taints, tolerations, ("NoSchedule", "NoExecute")):
        # A running daemon only has to go if a NoExecute taint is untolerated.
        return False, not untolerated(taints, tolerations, ("NoExecute",))
    return True, True


def scaled(value: Any, total: int, default: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounding up (as the DaemonSet controller)."""
    if value is None:
        return default
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def creation_order(pod: JSON) -> tuple[str, str]:
    return (str(meta(pod).get("creationTimestamp") or ""), str(meta(pod).get("name") or ""))


def is_updated(pod: JSON, hash_: str) -> bool:
    return (meta(pod).get("labels") or {}).get(HASH_LABEL) == hash_


def split_updated(pods: list[JSON], hash_: str) -> tuple[JSON | None, JSON | None, bool]:
    """findUpdatedPodsOnNode: (new pod, old pod, ok) among the live pods of one node;
    not ok when there are two of a kind (the manage loop must clean up first)."""
    new: JSON | None = None
    old: JSON | None = None
    for pod in pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        if is_updated(pod, hash_):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def excess_pods(running: list[JSON], hash_: str, *, surge: bool, min_ready: int,
                now: float) -> list[JSON]:
    """Live pods beyond one on a node: without surge keep the oldest; with surge keep the
    oldest new pod, and the oldest old one only until the new one is available."""
    if len(running) <= 1:
        return []
    ordered = sorted(running, key=creation_order)
    if not surge:
        return ordered[1:]
    newest: JSON | None = None
    oldest_old: JSON | None = None
    extra: list[JSON] = []
    for pod in ordered:
        if is_updated(pod, hash_) and newest is None:
            newest = pod
        elif not is_updated(pod, hash_) and oldest_old is None:
            oldest_old = pod
        else:
            extra.append(pod)
    if newest is not None and oldest_old is not None and (
        not is_pod_ready(oldest_old) or is_pod_available(newest, min_ready, now)
    ):
        extra.append(oldest_old)
    return extra


@dataclass
class RollingPlan:
    delete: list[JSON] = field(default_factory=list)
    create_on: list[str] = field(default_factory=list)


def plan_rolling_update(by_node: ByNode, hash_: str, *, max_unavailable: int, max_surge: int,
                        min_ready: int, now: float) -> RollingPlan:
    """rollingUpdate: which outdated pods to delete (and, surging, where to add new ones)."""
    plan = RollingPlan()
    if max_surge == 0:
        # Delete just enough old pods to stay within maxUnavailable; the manage loop
        # creates each replacement once its predecessor is gone.
        unavailable = 0
        candidates: list[JSON] = []
        for node in sorted(by_node):
            new, old, ok = split_updated(by_node[node], hash_)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # being created/replaced: counts as unavailable
            elif new is not None:
                if not is_pod_available(new, min_ready, now):
                    unavailable += 1
            elif old is not None:
                if not is_pod_available(old, min_ready, now):
                    plan.delete.append(old)  # down anyway: replacing it costs nothing
                elif unavailable < max_unavailable:
                    candidates.append(old)
        plan.delete.extend(candidates[:max(0, max_unavailable - unavailable)])
        return plan
    # Surging: start the new pod beside the old one; the old one goes once the new one
    # is available (see excess_pods).
    surging = 0
    allowed: list[str] = []
    candidates_nodes: list[str] = []
    for node in sorted(by_node):
        new, old, ok = split_updated(by_node[node], hash_)
        if not ok:
            surging += 1
            continue
        if old is None:
            continue
        if new is None:
            if not is_pod_available(old, min_ready, now):
                allowed.append(node)
            elif surging < max_surge:
                candidates_nodes.append(node)
        elif not is_pod_available(new, min_ready, now):
            surging += 1
        else:
            plan.delete.append(old)
    plan.create_on = allowed + candidates_nodes[:max(0, max_surge - surging)]
    return plan


def daemon_status(ds: JSON, nodes: list[JSON], by_node: ByNode, hash_: str,
                  now: float) -> JSON:
    """updateDaemonSetStatus's counts (without observedGeneration)."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    desired = current = misscheduled = ready = updated = available = 0
    for node in nodes:
        run, _ = should_run(node, ds)
        pods = by_node.get(str(meta(node)["name"]), [])
        if not run:
            misscheduled += 1 if pods else 0
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        # The oldest pod speaks for the node (running ones before finished ones).
        pod = min(pods, key=lambda p: ((p.get("status") or {}).get("phase")
                                       in ("Succeeded", "Failed"), creation_order(p)))
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
        if is_updated(pod, hash_):
            updated += 1
    return {
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    }
