"""Hazards: orderings of steps that cost users traffic (DESIGN §5, the two labs).

`HazardTracker.observe(steps, store)` reads steps in order and returns the hazards that
were raised *or updated* by them. Each hazard is identified by `Hazard.key` (kind + the
object's uid) and raised at most once per object; later versions of the same hazard
(`revision` > 0) replace the earlier one — that is how an *open* hazard (a window still
being measured, `open=True`, `window_s=None`) becomes a measured one. Views keep a dict
by key; `tracker.hazards` is that dict's current values.

Kinds:

* serving-while-dying (lab 2): a pod got its deletion request (SIGTERM, or the start of
  its preStop hook) while one of its endpoints was still routable — `ready`, or
  `serving` and not `terminating` — and it has no preStop sleep of at least
  `min_prestop_s`. Endpoint removal is *caused by* the deletionTimestamp, in parallel
  with SIGTERM, so without a sleep the process may exit before every proxy dropped it.
  The window is measured from the delete request until the pod was no longer routable
  in any slice (or was gone); whether the container had already exited by then is in
  `details` (`exited_while_routable`).
* ready-without-probe (lab 1): a pod's endpoint became `ready` and none of its
  containers has a readinessProbe: traffic can arrive before the app listens. The
  window is the time from the container start to the endpoint being ready.
* grace-shorter-than-prestop: the preStop sleep is not shorter than the deletion grace
  period, so SIGKILL arrives before the app ever gets SIGTERM and drains.
* killed-at-grace-period: a container of a pod being deleted did not exit within the
  grace period and was SIGKILLed (exit 137, not an OOM kill): whatever it was still
  doing, in-flight requests included, was cut off. The window is the time from the
  delete request to the kill.
* stuck-terminating: a pod still exists `stuck_slack_s` after its grace period ended
  (finalizers, a dead node, a kubelet that cannot kill it). Found by `check_timeouts`,
  which the pipeline calls with each batch's time.
* rollout-stuck: a Deployment reported ProgressDeadlineExceeded; closed (with how long
  it was stuck) when it progresses or completes again.
* daemonset-outdated: a DaemonSet with updateStrategy OnDelete got a new pod template;
  its pods keep the old one until each is deleted. Closed when all are updated (the
  rollout completes), the strategy becomes RollingUpdate, or the DaemonSet is deleted.
* node-not-ready: a node stopped being Ready with pods on it (other than its
  DaemonSet pods, which tolerate that). They stay bound to it, not ready, until the
  taint manager evicts them after their tolerationSeconds (300s unless set), and only
  then are replacements created. Closed when the node is Ready again, is removed, or
  the last of those pods is gone.

A first list makes no steps, so a NotReady node with pods or an outdated OnDelete
DaemonSet that predates kwatch is found when its views are synced; its window then
counts from kwatch's start.

The endpoint state a deletion is judged against is the tracker's own, built from the
endpoint steps in order. For pods whose endpoints predate the tracker (they came with
the initial list), it is seeded from the store, rewound past any endpoint step of the
same batch — the store has already applied the whole batch when steps are observed.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kwatch.core.rows import DaemonSetRow, NodeRow, PodRow
from kwatch.core.steps import Step, StepName
from kwatch.core.store import LaneMark, Store
from kwatch.core.timefmt import format_duration

SERVING_WHILE_DYING = "serving-while-dying"
READY_WITHOUT_PROBE = "ready-without-probe"
GRACE_SHORTER_THAN_PRESTOP = "grace-shorter-than-prestop"
KILLED_AT_GRACE_PERIOD = "killed-at-grace-period"
STUCK_TERMINATING = "stuck-terminating"
ROLLOUT_STUCK = "rollout-stuck"
DAEMONSET_OUTDATED = "daemonset-outdated"
NODE_NOT_READY = "node-not-ready"
_TEMPLATE_CHANGES = frozenset({"image", "template"})

_ENDPOINT_STEPS = frozenset(
    {
        StepName.ENDPOINT_ADDED.value,
        StepName.ENDPOINT_CONDITION_CHANGED.value,
        StepName.ENDPOINT_REMOVED.value,
    }
)

Conds = Mapping[str, bool]  # {"ready", "serving", "terminating"} as Endpoint.conditions()


@dataclass(frozen=True, slots=True)
class Hazard:
    kind: str
    t: float  # when it was raised (observed time of the step that raised it)
    namespace: str
    name: str
    uid: str
    message: str
    window_s: float | None = None  # measured window; None while open or not applicable
    open: bool = False  # still being measured
    revision: int = 0  # 0 when raised, +1 per update (replace by `key`)
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.uid}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "message": self.message,
            "window_s": self.window_s,
            "open": self.open,
            "revision": self.revision,
            "details": dict(self.details),
        }


def _routable(c: Conds) -> bool:
    return c["ready"] or (c["serving"] and not c["terminating"])


@dataclass(slots=True)
class _Dying:
    """A pod between its delete request and its disappearance."""

    t0: float
    grace_s: float
    deadline: float  # end of grace period + slack: past it, the pod is stuck
    namespace: str
    name: str
    exited_at: float | None = None
    measuring: bool = False  # a serving-while-dying hazard is open for it


class HazardTracker:
    def __init__(
        self,
        *,
        min_prestop_s: float = 5.0,
        stuck_slack_s: float = 30.0,
        max_tracked: int = 100_000,
        max_hazards: int = 10_000,
    ) -> None:
        self.min_prestop_s = min_prestop_s
        self.stuck_slack_s = stuck_slack_s
        self.max_tracked = max_tracked
        self.max_hazards = max_hazards
        self._hazards: OrderedDict[str, Hazard] = OrderedDict()
        self._eps: dict[str, dict[str, Conds]] = {}  # pod uid → slice → conditions
        self._dying: dict[str, _Dying] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._changed: dict[str, Hazard] = {}
        self._batch_priors: dict[str, dict[str, Conds | None]] = {}
        # Pods whose endpoint went routable → terminating before their DeletionRequested
        # step was seen (slices and pods come on separate watches, in either order):
        # pod uid → (time seen, slices that were routable). `terminating` is only ever set
        # because of a deletionTimestamp, so those slices were routable at the deletion.
        self._early_terminating: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        # Nodes with an open node-not-ready hazard: node uid → the pods stranded on it.
        self._stranded: dict[str, set[str]] = {}
        self._stranded_on: dict[str, str] = {}  # pod uid → node uid

    @property
    def hazards(self) -> list[Hazard]:
        """Every hazard raised so far, in its latest version, oldest first."""
        return list(self._hazards.values())

    def get(self, key: str) -> Hazard | None:
        return self._hazards.get(key)

    # ------------------------------------------------------------------ observing

    def observe(self, steps: Sequence[Step], store: Store) -> list[Hazard]:
        """Hazards raised or updated by `steps` (in order), latest version of each."""
        self._changed = {}
        self._batch_priors = self._priors(steps)
        latest = 0.0
        for s in steps:
            latest = max(latest, s.t)
            name = s.step
            if name in _ENDPOINT_STEPS and s.kind == "Pod":
                self._on_endpoint(s, store)
            elif name == StepName.DELETION_REQUESTED:
                self._on_deletion(s, store)
            elif name == StepName.CONTAINER_TERMINATED:
                dying = self._dying.get(s.uid)
                if dying is not None and dying.exited_at is None:
                    dying.exited_at = s.t
                if dying is not None:
                    self._check_killed(s, dying)
            elif name == StepName.POD_GONE:
                self._on_gone(s)
                self._on_left_node(s)
            elif name == StepName.ROLLOUT_STUCK:
                self._on_rollout_stuck(s)
            elif name in (StepName.ROLLOUT_COMPLETE, StepName.ROLLOUT_PROGRESSING):
                self._close_rollout(s)
            elif name == StepName.DAEMONSET_UPDATED:
                self._on_daemonset_updated(s)
            elif name == StepName.DAEMONSET_ROLLOUT_COMPLETE:
                self._close_outdated(s, "all its pods run the new template")
            elif name == StepName.DAEMONSET_DELETED:
                self._close_outdated(s, "the DaemonSet was deleted")
            elif name == StepName.NODE_NOT_READY:
                self._node_not_ready(s.uid, s.name, s.t, s.details, store)
            elif name == StepName.SYNCED:
                self._on_synced(s, store)
            elif name == StepName.NODE_READY:
                self._close_node(s.uid, s.t, "Ready again")
            elif name == StepName.NODE_REMOVED:
                self._close_node(s.uid, s.t, "the Node object was deleted")
        if steps:
            self._check(latest)
        self._batch_priors = {}
        changed, self._changed = self._changed, {}
        return list(changed.values())

    def check_timeouts(self, now: float) -> list[Hazard]:
        """Raise stuck-terminating for pods past their grace period (+ slack) at `now`."""
        self._changed = {}
        self._check(now)
        changed, self._changed = self._changed, {}
        return list(changed.values())

    # ------------------------------------------------------------------ endpoints

    @staticmethod
    def _priors(steps: Sequence[Step]) -> dict[str, dict[str, Conds | None]]:
        """Per pod and slice, the endpoint state before this batch's first step on it."""
        priors: dict[str, dict[str, Conds | None]] = {}
        for s in steps:
            if s.step not in _ENDPOINT_STEPS or s.kind != "Pod":
                continue
            per_pod = priors.setdefault(s.uid, {})
            slice_name = str(s.details.get("slice", ""))
            if slice_name in per_pod:
                continue
            if s.step == StepName.ENDPOINT_ADDED:
                per_pod[slice_name] = None
            elif s.step == StepName.ENDPOINT_CONDITION_CHANGED:
                per_pod[slice_name] = s.details.get("from")
            else:
                per_pod[slice_name] = s.details.get("last")
        return priors

    def _state(self, uid: str, store: Store) -> dict[str, Conds]:
        state = self._eps.get(uid)
        if state is not None:
            return state
        state = {m.slice_name: m.endpoint.conditions() for m in store.endpoints_of_pod(uid)}
        for slice_name, prior in self._batch_priors.get(uid, {}).items():
            if prior is None:
                state.pop(slice_name, None)
            else:
                state[slice_name] = prior
        if len(self._eps) >= self.max_tracked:
            del self._eps[next(iter(self._eps))]
        self._eps[uid] = state
        return state

    def _on_endpoint(self, s: Step, store: Store) -> None:
        state = self._state(s.uid, store)
        slice_name = str(s.details.get("slice", ""))
        if s.step == StepName.ENDPOINT_REMOVED:
            state.pop(slice_name, None)
        else:
            now: Conds = (
                s.details["to"]
                if s.step == StepName.ENDPOINT_CONDITION_CHANGED
                else {k: bool(s.details.get(k)) for k in ("ready", "serving", "terminating")}
            )
            before = state.get(slice_name)
            if (
                now.get("terminating")
                and before is not None
                and _routable(before)
                and s.uid not in self._dying
            ):
                seen = self._early_terminating.get(s.uid, (s.t, []))
                self._early_terminating[s.uid] = (seen[0], [*seen[1], slice_name])
                if len(self._early_terminating) > self.max_tracked:
                    self._early_terminating.popitem(last=False)
            state[slice_name] = now
            if now["ready"]:
                self._check_probe(s, store)
        dying = self._dying.get(s.uid)
        if dying is not None and dying.measuring and not any(map(_routable, state.values())):
            self._close_dying(s.uid, s.t, dying, closed_by=s.step)

    def _check_probe(self, s: Step, store: Store) -> None:
        key = f"{READY_WITHOUT_PROBE}:{s.uid}"
        if key in self._hazards:
            return
        pod = store.by_uid(s.uid)
        if not isinstance(pod, PodRow) or pod.spec.has_readiness_probe:
            return
        lane = store.lanes.get(s.uid)
        started = lane.first(LaneMark.RUNNING) if lane is not None else None
        window = round(s.t - started, 3) if started is not None else None
        after = f" {format_duration(window)} after its container started" if window else ""
        self._raise(
            Hazard(
                READY_WITHOUT_PROBE, s.t, s.namespace, s.name, s.uid,
                f"{s.namespace}/{s.name} became a ready endpoint of "
                f"{s.details.get('service') or s.details.get('slice')}{after} with no "
                "readinessProbe: requests can arrive before the app listens (503s)",
                window_s=window,
                details={"slice": s.details.get("slice"), "service": s.details.get("service")},
            )
        )  # fmt: skip

    # ------------------------------------------------------------------ deletion

    def _on_deletion(self, s: Step, store: Store) -> None:
        d = s.details
        grace = d.get("grace_s")
        grace_s = float(grace) if isinstance(grace, int | float) else 30.0
        prestop_s = float(d.get("prestop_s") or 0.0)
        dying = _Dying(s.t, grace_s, s.t + grace_s + self.stuck_slack_s, s.namespace, s.name)
        if len(self._dying) >= self.max_tracked:
            del self._dying[next(iter(self._dying))]
        self._dying[s.uid] = dying
        heapq.heappush(self._deadlines, (dying.deadline, s.uid))
        state = self._state(s.uid, store)
        routable = sorted(name for name, c in state.items() if _routable(c))
        early = self._early_terminating.pop(s.uid, None)
        if early is not None:
            routable = sorted({*routable, *early[1]})
        if routable and prestop_s < self.min_prestop_s:
            dying.measuring = True
            self._raise(
                Hazard(
                    SERVING_WHILE_DYING, s.t, s.namespace, s.name, s.uid,
                    f"{s.namespace}/{s.name} was told to stop while still routable in "
                    f"{', '.join(routable)} (preStop: {d.get('prestop', 'none')}): traffic "
                    "can reach a process that is shutting down",
                    open=True,
                    details={"slices": routable, "prestop": d.get("prestop"),
                             "prestop_s": prestop_s, "grace_s": grace},
                )
            )  # fmt: skip
            if early is not None and not any(map(_routable, state.values())):
                # The slice already showed it terminating: the routable window ended
                # no later than that observation.
                self._close_dying(s.uid, max(s.t, early[0]), dying, closed_by="EndpointTerminating")
        if prestop_s > 0 and prestop_s >= grace_s:
            self._raise(
                Hazard(
                    GRACE_SHORTER_THAN_PRESTOP, s.t, s.namespace, s.name, s.uid,
                    f"{s.namespace}/{s.name}: preStop sleeps {prestop_s:g}s but the grace "
                    f"period is {grace_s:g}s: SIGKILL comes before the app gets SIGTERM",
                    details={"prestop_s": prestop_s, "grace_s": grace_s},
                )
            )  # fmt: skip

    def _check_killed(self, s: Step, dying: _Dying) -> None:
        d = s.details
        if d.get("exit_code") != 137 or d.get("reason") == "OOMKilled":
            return
        if f"{KILLED_AT_GRACE_PERIOD}:{s.uid}" in self._hazards:
            return  # once per pod: its first container killed tells the story
        after = d.get("after_deletion_s")
        window = float(after) if isinstance(after, int | float) else round(s.t - dying.t0, 3)
        self._raise(
            Hazard(
                KILLED_AT_GRACE_PERIOD, s.t, s.namespace, s.name, s.uid,
                f"{s.namespace}/{s.name}: container {d.get('container')} did not exit "
                f"within its {dying.grace_s:g}s grace period and was SIGKILLed (exit 137) "
                f"{format_duration(window)} after the delete request: what it was still "
                "doing, in-flight requests included, was cut off",
                window_s=window,
                details={"container": d.get("container"), "grace_s": dying.grace_s},
            )
        )  # fmt: skip

    def _on_gone(self, s: Step) -> None:
        self._eps.pop(s.uid, None)
        self._early_terminating.pop(s.uid, None)
        dying = self._dying.pop(s.uid, None)
        if dying is None:
            return
        if dying.measuring:
            self._close_dying(s.uid, s.t, dying, closed_by=s.step)
        stuck = self._hazards.get(f"{STUCK_TERMINATING}:{s.uid}")
        if stuck is not None and stuck.open:
            window = round(s.t - dying.t0, 3)
            self._update(
                stuck,
                open=False,
                window_s=window,
                message=f"{stuck.message}; gone {format_duration(window)} after the request",
            )

    def _close_dying(self, uid: str, t: float, dying: _Dying, closed_by: str) -> None:
        dying.measuring = False
        hazard = self._hazards.get(f"{SERVING_WHILE_DYING}:{uid}")
        if hazard is None:
            return
        window = round(t - dying.t0, 3)
        details = dict(hazard.details)
        details["closed_by"] = closed_by
        exited = dying.exited_at is not None and dying.exited_at <= t
        details["exited_while_routable"] = exited
        if exited and dying.exited_at is not None:
            details["routable_after_exit_s"] = round(t - dying.exited_at, 3)
        tail = (
            f"; its container had already exited {format_duration(t - dying.exited_at)} "
            "earlier (refused connections)"
            if exited and dying.exited_at is not None
            else ""
        )
        self._update(
            hazard,
            open=False,
            window_s=window,
            details=details,
            message=f"{hazard.message}; routable for {format_duration(window)} after the "
            f"delete request{tail}",
        )

    def _check(self, now: float) -> None:
        # A heap of deadlines: O(expired) per call however many pods are terminating.
        while self._deadlines and self._deadlines[0][0] < now:
            _, uid = heapq.heappop(self._deadlines)
            dying = self._dying.get(uid)
            if dying is None or dying.deadline >= now:
                continue  # gone meanwhile, or deleted again with a later deadline
            self._raise(
                Hazard(
                    STUCK_TERMINATING, now, dying.namespace, dying.name, uid,
                    f"{dying.namespace}/{dying.name} is still terminating "
                    f"{format_duration(now - dying.t0)} after its delete request "
                    "(past its grace period)",
                    open=True,
                )
            )  # fmt: skip

    # ------------------------------------------------------------------ rollouts

    def _on_rollout_stuck(self, s: Step) -> None:
        key = f"{ROLLOUT_STUCK}:{s.uid}"
        current = self._hazards.get(key)
        if current is not None and current.open:
            return
        hazard = Hazard(
            ROLLOUT_STUCK, s.t, s.namespace, s.name, s.uid,
            f"deployment {s.namespace}/{s.name} exceeded its progress deadline "
            f"({s.details.get('deadline_s')}s): {s.details.get('message', '')}",
            open=True,
            details={"revision": s.details.get("revision")},
        )  # fmt: skip
        self._raise_or_reopen(current, hazard)  # stuck again after having recovered

    def _close_rollout(self, s: Step) -> None:
        hazard = self._hazards.get(f"{ROLLOUT_STUCK}:{s.uid}")
        if hazard is None or not hazard.open:
            return
        window = round(s.t - hazard.t, 3)
        self._update(
            hazard,
            open=False,
            window_s=window,
            message=f"{hazard.message}; progressed again after {format_duration(window)}",
        )

    # ------------------------------------------------------------------ daemonsets

    def _on_daemonset_updated(self, s: Step) -> None:
        strategy = s.details.get("update_strategy")
        if strategy != "OnDelete":
            self._close_outdated(s, f"its updateStrategy is {strategy} now, so the "
                                    "controller replaces the rest")
            return
        if not _TEMPLATE_CHANGES.intersection(s.details.get("changed") or ()):
            return
        self._outdated(s.t, s.namespace, s.name, s.uid,
                       f"has a new pod template (generation {s.details.get('generation')})",
                       {"generation": s.details.get("generation"),
                        "images": s.details.get("images")})

    def _outdated(self, t: float, namespace: str, name: str, uid: str, what: str,
                  details: dict[str, Any]) -> None:
        current = self._hazards.get(f"{DAEMONSET_OUTDATED}:{uid}")
        if current is not None and current.open:
            return  # another template change while still outdated: the same wait
        hazard = Hazard(
            DAEMONSET_OUTDATED, t, namespace, name, uid,
            f"daemonset {namespace}/{name} {what}, but its updateStrategy is OnDelete: "
            "each pod keeps the old template until someone deletes it",
            open=True, details=details,
        )  # fmt: skip
        self._raise_or_reopen(current, hazard)

    def _close_outdated(self, s: Step, why: str) -> None:
        hazard = self._hazards.get(f"{DAEMONSET_OUTDATED}:{s.uid}")
        if hazard is None or not hazard.open:
            return
        window = round(s.t - hazard.t, 3)
        self._update(hazard, open=False, window_s=window,
                     message=f"{hazard.message}; {why} after {format_duration(window)}")

    # ------------------------------------------------------------------ nodes

    def _node_not_ready(self, uid: str, name: str, t: float, details: Mapping[str, Any],
                        store: Store, *, already: bool = False) -> None:
        current = self._hazards.get(f"{NODE_NOT_READY}:{uid}")
        if current is not None and current.open:
            return  # False → Unknown: still the same outage
        pods = sorted(
            (p for p in store.pods_on_node(name)
             if p.phase not in ("Succeeded", "Failed")
             and not (p.owner is not None and p.owner.kind == "DaemonSet")),
            key=lambda p: (p.namespace, p.name),
        )  # fmt: skip
        if not pods:
            return
        self._stranded[uid] = {p.uid for p in pods}
        for p in pods:
            self._stranded_on[p.uid] = uid
        names = [f"{p.namespace}/{p.name}" for p in pods]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        hazard = Hazard(
            NODE_NOT_READY, t, "", name, uid,
            f"node {name} {'was already' if already else 'is'} not Ready "
            f"(Ready={details.get('status', '?')}, {details.get('reason') or 'no reason'}) "
            f"{'when kwatch started ' if already else ''}with {len(pods)} pod(s) on it "
            f"({shown}): they stay there, not ready, until evicted after their "
            "tolerationSeconds (300s unless set), and only then are replacements created",
            open=True,
            details={"pods": names, "status": details.get("status"),
                     "reason": details.get("reason"), "already": already},
        )  # fmt: skip
        self._raise_or_reopen(current, hazard)

    def _on_synced(self, s: Step, store: Store) -> None:
        """What was already wrong before kwatch started: its first list shows it, but
        makes no steps. The window then counts from kwatch's start (at least that)."""
        if s.kind == "DaemonSet":
            for ds in list(store.rows("DaemonSet").values()):
                if (isinstance(ds, DaemonSetRow) and ds.update_strategy == "OnDelete"
                        and (not s.namespace or ds.namespace == s.namespace)
                        and ds.observed_generation >= ds.generation
                        and ds.updated < ds.desired):
                    self._outdated(
                        s.t, ds.namespace, ds.name, ds.uid,
                        f"already had {ds.desired - ds.updated} of {ds.desired} pods on an "
                        "older template when kwatch started",
                        {"generation": ds.generation, "images": list(ds.images),
                         "already": True})
        elif s.kind in ("Node", "Pod"):  # both are needed, and either may list first
            for node in list(store.rows("Node").values()):
                if isinstance(node, NodeRow) and node.ready in ("False", "Unknown"):
                    self._node_not_ready(
                        node.uid, node.name, s.t,
                        {"status": node.ready, "reason": node.ready_reason}, store,
                        already=True)

    def _on_left_node(self, s: Step) -> None:
        node_uid = self._stranded_on.pop(s.uid, None)
        if node_uid is None:
            return
        left = self._stranded.get(node_uid)
        if left is None:
            return
        left.discard(s.uid)
        if not left:
            self._close_node(node_uid, s.t, "all its pods are gone")

    def _close_node(self, node_uid: str, t: float, why: str) -> None:
        for pod_uid in self._stranded.pop(node_uid, set()):
            self._stranded_on.pop(pod_uid, None)
        hazard = self._hazards.get(f"{NODE_NOT_READY}:{node_uid}")
        if hazard is None or not hazard.open:
            return
        window = round(t - hazard.t, 3)
        self._update(hazard, open=False, window_s=window,
                     message=f"{hazard.message}; {why} after {format_duration(window)}")

    # ------------------------------------------------------------------ bookkeeping

    def _raise_or_reopen(self, current: Hazard | None, hazard: Hazard) -> None:
        if current is None:
            self._raise(hazard)
        else:  # wrong again after having been closed: the same hazard, reopened
            self._update(current, **{k: getattr(hazard, k) for k in (
                "t", "message", "open", "window_s", "details")})

    def _raise(self, hazard: Hazard) -> None:
        self._hazards[hazard.key] = hazard
        self._changed[hazard.key] = hazard
        if len(self._hazards) > self.max_hazards:
            self._hazards.popitem(last=False)

    def _update(self, hazard: Hazard, **changes: Any) -> None:
        updated = replace(hazard, revision=hazard.revision + 1, **changes)
        self._hazards[updated.key] = updated
        self._changed[updated.key] = updated
