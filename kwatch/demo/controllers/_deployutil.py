"""Pure rollout arithmetic of the deployment controller (k8s.io/kubernetes deploymentutil).

No I/O here: fenceposts (maxSurge / maxUnavailable), replica counting over ReplicaSets,
revision annotations, proportional scaling and the Deployment conditions. Everything
works on raw JSON objects; the controller in `deployment.py` does the writes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from kwatch.core.events import JSON
from kwatch.demo.clock import parse_time
from kwatch.demo.controllers._objects import meta

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations of the Deployment that are not copied onto its ReplicaSets: they describe
# the Deployment itself (kubectl's own bookkeeping, or the controller's).
_NOT_COPIED = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
})
_MAX_REVISION_HISTORY_CHARS = 2000

# Condition types and reasons, as kubectl and dashboards expect them.
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"

_MAX_INT32 = 2**31 - 1


def spec_replicas(obj: JSON) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: JSON | None, field: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(field) or 0)


def annotations_of(obj: JSON) -> dict[str, str]:
    """A read-only copy of the object's annotations."""
    return dict(meta(obj).get("annotations") or {})


def mutable_annotations(obj: JSON) -> dict[str, str]:
    """The object's own annotations map, created if missing (for objects we write)."""
    m: JSON = obj.setdefault("metadata", {})
    anns: dict[str, str] | None = m.get("annotations")
    if anns is None:
        anns = m["annotations"] = {}
    return anns


def creation_key(obj: JSON) -> tuple[float, str]:
    """Sort key: oldest first, name as tie-break (ReplicaSetsByCreationTimestamp)."""
    m = meta(obj)
    return (parse_time(m.get("creationTimestamp")) or 0.0, str(m.get("name", "")))


# -- fenceposts --------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: "25%" of total, or a plain int.

    A malformed value counts as 0 (the API server's validation rejects it anyway).
    """
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text) if text.isdigit() else 0
    try:
        pct = int(text[:-1])
    except ValueError:
        return 0
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_rolling(d: JSON) -> bool:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down, never both 0."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        # Otherwise a rollout could make no progress at all.
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: JSON) -> tuple[int | str | None, int | str | None]:
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")


def max_surge(d: JSON) -> int:
    if not is_rolling(d):
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(d), spec_replicas(d))
    return surge


def max_unavailable(d: JSON) -> int:
    replicas = spec_replicas(d)
    if not is_rolling(d) or replicas == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(d), replicas)
    return min(unavailable, replicas)


# -- counting over ReplicaSets -----------------------------------------------------------


def active(rses: Iterable[JSON | None]) -> list[JSON]:
    """ReplicaSets asked for at least one pod (FilterActiveReplicaSets)."""
    return [rs for rs in rses if rs is not None and spec_replicas(rs) > 0]


def replica_count(rses: Iterable[JSON | None]) -> int:
    """Sum of spec.replicas: what the ReplicaSets were asked for."""
    return sum(spec_replicas(rs) for rs in rses if rs is not None)


def actual_count(rses: Iterable[JSON | None]) -> int:
    return sum(status_int(rs, "replicas") for rs in rses)


def ready_count(rses: Iterable[JSON | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rses)


def available_count(rses: Iterable[JSON | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rses)


def revision(obj: JSON | None) -> int:
    if obj is None:
        return 0
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rses: Iterable[JSON]) -> int:
    return max((revision(rs) for rs in rses), default=0)


def find_active_or_latest(new_rs: JSON | None, old_rses: Sequence[JSON]) -> JSON | None:
    """The only ReplicaSet with pods, or the newest one if none has any.

    Used to decide whether a replicas change is a plain scale of a settled Deployment.
    """
    if new_rs is None and not old_rses:
        return None
    newest_first = sorted(old_rses, key=creation_key, reverse=True)
    candidates = active([*newest_first, new_rs])
    if not candidates:
        return new_rs if new_rs is not None else newest_first[0]
    if len(candidates) == 1:
        return candidates[0]
    return None


def is_saturated(d: JSON, rs: JSON | None) -> bool:
    """The new ReplicaSet runs all the Deployment's pods, all of them available."""
    if rs is None:
        return False
    desired = annotations_of(rs).get(DESIRED_REPLICAS)
    n = spec_replicas(d)
    return bool(
        desired == str(n)
        and spec_replicas(rs) == n
        and status_int(rs, "availableReplicas") == n
    )


def new_rs_new_replicas(d: JSON, all_rses: Sequence[JSON | None], new_rs: JSON) -> int:
    """How big the new ReplicaSet may be now (NewRSNewReplicas)."""
    if not is_rolling(d):
        return spec_replicas(d)
    current = replica_count(all_rses)
    max_total = spec_replicas(d) + max_surge(d)
    if current >= max_total:
        return spec_replicas(new_rs)
    scale_up = min(max_total - current, spec_replicas(d) - spec_replicas(new_rs))
    return spec_replicas(new_rs) + scale_up


def _round_half_away(x: float) -> int:
    # integer.RoundToInt32 rounds half away from zero, not to even like round().
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def proportion(rs: JSON, d: JSON, to_add: int, added: int) -> int:
    """This ReplicaSet's share of a mid-rollout scale (GetProportion)."""
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if spec_replicas(d) == 0:
        fraction = -spec_replicas(rs)
    else:
        target = spec_replicas(d) + max_surge(d)
        try:
            annotated = int(annotations_of(rs).get(MAX_REPLICAS, ""))
        except ValueError:
            annotated = status_int(d, "replicas")
        if annotated == 0:
            return 0
        fraction = _round_half_away(spec_replicas(rs) * target / annotated) - spec_replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# -- annotations -------------------------------------------------------------------------


def set_replicas_annotations(rs: JSON, desired: int, max_replicas: int) -> bool:
    anns = mutable_annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if anns.get(key) != value:
            anns[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: JSON, desired: int, max_replicas: int) -> bool:
    anns = meta(rs).get("annotations") or {}
    return bool(
        anns.get(DESIRED_REPLICAS) != str(desired) or anns.get(MAX_REPLICAS) != str(max_replicas)
    )


def set_new_rs_annotations(d: JSON, rs: JSON, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations and raise the RS's revision to `new_revision`.

    Re-revisioning an existing RS is how a rollback shows: the RS of revision 1 becomes
    revision 3 and remembers "1" in revision-history.
    """
    changed = False
    anns = mutable_annotations(rs)
    for key, value in (meta(d).get("annotations") or {}).items():
        if key not in _NOT_COPIED and anns.get(key) != value:
            anns[key] = value
            changed = True
    had = REVISION in anns
    old_revision = revision(rs)
    if old_revision < new_revision:
        anns[REVISION] = str(new_revision)
        changed = True
        if had:
            history = [h for h in anns.get(REVISION_HISTORY, "").split(",") if h]
            history.append(str(old_revision))
            while history and len(",".join(history)) > _MAX_REVISION_HISTORY_CHARS:
                history.pop(0)
            anns[REVISION_HISTORY] = ",".join(history)
    n = spec_replicas(d)
    if not exists and set_replicas_annotations(rs, n, n + max_surge(d)):
        changed = True
    return changed


# -- conditions --------------------------------------------------------------------------


def get_condition(status: JSON, type_: str) -> JSON | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> JSON:
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def set_condition(status: JSON, cond: JSON) -> None:
    """SetDeploymentCondition: same status+reason is a no-op; same status keeps the
    transition time."""
    current = get_condition(status, cond["type"])
    if current is not None and current["status"] == cond["status"] and (
        current.get("reason") == cond.get("reason")
    ):
        return
    if current is not None and current["status"] == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: JSON, type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: JSON) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != _MAX_INT32


def progress_deadline(d: JSON) -> int:
    return int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)


def deployment_complete(d: JSON, status: JSON) -> bool:
    n = spec_replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == n
        and int(status.get("replicas") or 0) == n
        and int(status.get("availableReplicas") or 0) == n
        and int(status.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0)
    )


def deployment_progressing(d: JSON, new_status: JSON) -> bool:
    """Any sign of progress since the stored status: more updated, fewer old, more
    ready or more available pods."""
    old: JSON = d.get("status") or {}

    def g(s: JSON, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new_status, "replicas") - g(new_status, "updatedReplicas")
    return (
        g(new_status, "updatedReplicas") > g(old, "updatedReplicas")
        or new_old < old_old
        or g(new_status, "readyReplicas") > g(old, "readyReplicas")
        or g(new_status, "availableReplicas") > g(old, "availableReplicas")
    )


def deployment_timed_out(d: JSON, status: JSON, now: float) -> bool:
    """No progress for progressDeadlineSeconds since the Progressing condition's update."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + progress_deadline(d) < now


def calculate_status(
    all_rses: Sequence[JSON | None], new_rs: JSON | None, d: JSON, now: str
) -> JSON:
    """The Deployment status implied by its ReplicaSets (calculateStatus)."""
    available = available_count(all_rses)
    total = replica_count(all_rses)
    old: JSON = d.get("status") or {}
    status: JSON = {
        "observedGeneration": int(meta(d).get("generation") or 0),
        "replicas": actual_count(all_rses),
        "updatedReplicas": actual_count([new_rs]),
        "readyReplicas": ready_count(all_rses),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= spec_replicas(d) - max_unavailable(d):
        cond = new_condition(
            AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            AVAILABLE, "False", MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.", now,
        )
    set_condition(status, cond)
    return status


def prune(value: Any) -> Any:
    """Drop zero / empty fields, as Go's `omitempty` does when the server echoes a status.

    Comparing pruned statuses keeps the controller from rewriting an unchanged status
    (and waking itself up with the resulting watch event) forever.
    """
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, 0, "", {}, [], False)}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def same_status(a: JSON | None, b: JSON | None) -> bool:
    return bool(prune(a or {}) == prune(b or {}))
