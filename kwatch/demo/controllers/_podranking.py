"""Which pods a ReplicaSet deletes first when it scales down (controller.ActivePodsWithRanks).

The order protects what works: first pods not yet on a node, then pending before running,
not-ready before ready, low `controller.kubernetes.io/pod-deletion-cost` first, pods
doubled up on a node with their siblings, the most recently ready, the most restarted,
and finally the newest. (The real controller also buckets ages logarithmically and breaks
ties by UID hash; the simplified order keeps its intent.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kwatch.core.events import JSON
from kwatch.demo.clock import parse_time
from kwatch.demo.controllers._objects import is_pod_ready, meta, pod_condition

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: JSON) -> int:
    try:
        return int((meta(pod).get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        return 0


def _max_restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _newest_first(t: float | None) -> tuple[int, float]:
    # A missing time sorts first, then newest to oldest.
    return (0, 0.0) if t is None else (1, -t)


def _deletion_key(pod: JSON, rank: int) -> tuple[object, ...]:
    spec = pod.get("spec") or {}
    ready = is_pod_ready(pod)
    ready_since = None
    if ready:
        ready_since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDER.get(str((pod.get("status") or {}).get("phase")), 3),
        1 if ready else 0,
        _deletion_cost(pod),
        -rank,
        _newest_first(ready_since) if ready else (0, 0.0),
        -_max_restarts(pod),
        _newest_first(parse_time(meta(pod).get("creationTimestamp"))),
    )


def pods_to_delete(pods: Sequence[JSON], related: Sequence[JSON], count: int) -> list[JSON]:
    """The `count` pods to delete first; `related` are all pods of the same owner's
    ReplicaSets (to spread the survivors across nodes)."""
    if count >= len(pods):
        return list(pods)
    on_node = Counter(str((p.get("spec") or {}).get("nodeName") or "") for p in related)
    ranked = sorted(
        pods,
        key=lambda p: _deletion_key(p, on_node[str((p.get("spec") or {}).get("nodeName") or "")]),
    )
    return ranked[:count]
