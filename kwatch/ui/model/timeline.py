"""Timeline lines: which entries a view shows, and how one reads.

One line per controller step — session time, actor, step, object, the details that
matter — plus one line per hazard where it was raised (redrawn as its window is
measured). Steps of a pod inside one of its hazard windows get a ⚠ gutter mark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kwatch.core.hazards import Hazard
from kwatch.core.steps import Step, StepName
from kwatch.headless import format_details
from kwatch.ui.model.filters import ObjectFilter
from kwatch.ui.model.fmt import clock_rel, ellipsize
from kwatch.ui.model.spans import Role, Span, cut
from kwatch.ui.model.tree_text import SHORT_KIND
from kwatch.ui.state import Entry

S = StepName
_BAD = frozenset(
    {S.DELETION_REQUESTED, S.POD_GONE, S.CONTAINER_TERMINATED, S.ENDPOINT_REMOVED,
     S.POD_EVICTED, S.POD_FAILED, S.ROLLOUT_STUCK, S.NODE_NOT_READY, S.WARNING_EVENT,
     S.POD_PREEMPTED, S.CONTAINER_WAITING}
)  # fmt: skip
_WARN = frozenset(
    {S.POD_NOT_READY, S.ENDPOINT_CONDITION_CHANGED, S.REPLICASET_SCALED, S.CONTAINER_RESTARTED,
     S.NODE_TAINTED, S.DEPLOYMENT_UNAVAILABLE, S.LEADER_CHANGED, S.RELISTED}
)  # fmt: skip
_OK = frozenset(
    {S.POD_READY, S.ENDPOINT_ADDED, S.ROLLOUT_COMPLETE, S.CONTAINER_STARTED,
     S.DEPLOYMENT_AVAILABLE, S.NODE_READY, S.STATEFULSET_ROLLOUT_COMPLETE,
     S.DAEMONSET_ROLLOUT_COMPLETE, S.SYNCED}
)  # fmt: skip


def step_role(step: str) -> Role:
    if step in _BAD:
        return "bad"
    if step in _WARN:
        return "warn"
    if step in _OK:
        return "ok"
    return ""


def _yn(conds: Any) -> str:
    if not isinstance(conds, Mapping):
        return ""
    return " ".join(f"{k}{'✓' if v else '✗'}" for k, v in conds.items())


def describe(step: Step) -> str:
    """The details of a step worth a glance, shortest first; the rest as key=value."""
    d = step.details
    match step.step:
        case S.SYNCED | S.RELISTED:
            return f"{d.get('count', 0)} objects listed"
        case S.POD_CREATED:
            return f"by {d.get('owner') or 'user'}"
        case S.POD_SCHEDULED:
            return f"→ {d.get('node')}"
        case S.CONTAINER_STARTED:
            return f"{d.get('container')}"
        case S.CONTAINER_TERMINATED:
            after = d.get("after_deletion_s")
            tail = f", {after:g}s after delete" if isinstance(after, int | float) else ""
            return f"{d.get('container')} exit {d.get('exit_code')} {d.get('reason', '')}{tail}"
        case S.POD_READY:
            probe = "" if d.get("readiness_probe") else "  NO readinessProbe"
            return f"on {d.get('node')}{probe}"
        case S.DELETION_REQUESTED:
            eps = d.get("endpoints") or []
            routable = [e.get("slice") for e in eps if isinstance(e, Mapping) and e.get("ready")]
            where = f" · ready in {', '.join(map(str, routable))}" if routable else ""
            return f"grace {d.get('grace_s')}s · preStop {d.get('prestop')}{where}"
        case S.ENDPOINT_ADDED:
            conds = {k: d.get(k) for k in ("ready", "serving", "terminating")}
            return f"{d.get('slice')} {_yn(conds)}"
        case S.ENDPOINT_CONDITION_CHANGED:
            return f"{d.get('slice')} {_yn(d.get('to'))}"
        case S.ENDPOINT_REMOVED:
            return f"{d.get('slice')} ({d.get('reason')})"
        case S.POD_GONE:
            took = d.get("terminating_s")
            return f"after {took:g}s terminating" if isinstance(took, int | float) else ""
        case S.REPLICASET_SCALED | S.DEPLOYMENT_SCALED | S.STATEFULSET_SCALED:
            why = d.get("role")
            return f"{d.get('from')} → {d.get('to')}" + (f" ({why} RS)" if why else "")
        case S.REPLICASET_CREATED:
            return f"hash {d.get('hash')} rev {d.get('revision')} replicas {d.get('replicas')}"
        case S.DEPLOYMENT_SPEC_CHANGED:
            images = d.get("images")
            if isinstance(images, Mapping):
                return f"gen {d.get('generation')} image {images.get('to')}"
            return f"gen {d.get('generation')} {d.get('changed')}"
        case S.ROLLOUT_COMPLETE | S.ROLLOUT_PROGRESSING | S.ROLLOUT_STUCK:
            return f"{d.get('reason')} rev {d.get('revision')}"
    return format_details(d)


def hazard_window(h: Hazard) -> str:
    if h.open:
        return "window open…"
    if h.window_s is not None:
        return f"window {h.window_s:.2f}s"
    return ""


def in_window(step: Step, hazards: Sequence[Hazard]) -> bool:
    for h in hazards:
        end = float("inf") if h.open or h.window_s is None else h.t + h.window_s
        if h.t <= step.t <= end:
            return True
    return False


def entry_ok(keep: ObjectFilter, entry: Entry, hazards: Mapping[str, Hazard]) -> bool:
    """Does this timeline entry pass the view filter (and the selection focus)?"""
    if entry.step is not None:
        s = entry.step
        return keep(s.namespace, s.name, s.uid)
    h = hazards.get(entry.hazard_key)
    return h is not None and keep(h.namespace, h.name, h.uid)


def short_actor(actor: str) -> str:
    """"endpointslice-controller" → "endpointslice-ctrl": the names stay recognisable and
    the column leaves room for the object."""
    return actor.replace("-controller", "-ctrl").replace("default-scheduler", "scheduler")


def entry_spans(
    entry: Entry,
    width: int,
    start: float,
    hazards: Mapping[str, Hazard],
    hazard_uids: Mapping[str, list[str]],
) -> list[Span]:
    wide = width >= 120
    actor_w, step_w = (24, 26) if wide else (18, 24) if width >= 90 else (16, 20)
    time: Span = (clock_rel(entry.t, start) + " ", "muted")
    if entry.step is None:
        h = hazards.get(entry.hazard_key)
        if h is None:
            return []
        return cut(
            [time, ("⚠ ", "hazard"), (f"{'hazard':<{actor_w}} ", "hazard"),
             (f"{h.kind:<{step_w}} ", "hazard"), (f"pod {h.name} ", "bold"),
             (hazard_window(h), "hazard"), (f"  {h.message}", "muted")],
            width,
        )  # fmt: skip
    s = entry.step
    actor = s.actor if wide else short_actor(s.actor)
    keys = hazard_uids.get(s.uid)
    flagged = bool(keys) and in_window(s, [hazards[k] for k in keys or () if k in hazards])
    gutter: Span = ("⚠ ", "hazard") if flagged else ("  ", "")
    kind = SHORT_KIND.get(s.kind, s.kind.lower())
    obj = f"{kind} {s.name}" if s.name else kind
    return cut(
        [time, gutter, (f"{ellipsize(actor, actor_w):<{actor_w}} ", "accent"),
         (f"{ellipsize(s.step, step_w):<{step_w}} ", step_role(s.step)),
         (obj, "hazard" if flagged else "bold"), ("  " + describe(s), "muted")],
        width,
    )  # fmt: skip
