"""Controller steps: what one Change means, in the vocabulary of DESIGN §4.

`derive_steps(change, store)` is a pure function of the change's (old, new) rows plus
read-only store lookups (owners, related Events, endpoint memberships, lanes). It never
mutates anything, so it is unit-testable without Textual or a cluster. The store has
already applied the whole batch when steps are derived, so lookups see the batch's end
state.

Endpoint steps (EndpointAdded / EndpointConditionChanged / EndpointRemoved) are about
the *pod* (kind "Pod", its name and uid), with the slice and service in `details`:
they are moments in the pod's life, and that is how views filter them.

Actor rules — who did it — in order:

1. Kind-specific facts that make the actor unambiguous:
   * pod status (containers, readiness, phase, termination)      → "kubelet", unless
       the f:status write that made the change was kube-controller-manager's (the
       kubelet's node is dead): Ready → False is the node lifecycle controller's
       (MarkPodsNotReady), phase → Failed podgc's ("pod-garbage-collector"); a
       DisruptionTarget condition added by that write names its controller instead
   * pod creation with a controller owner (manager kube-controller-manager or none)
       → "<owner>-controller" (ReplicaSet → "replicaset-controller", StatefulSet →
         "statefulset-controller", DaemonSet → "daemonset-controller", Job → ...);
         a Node owner (mirror pod) → "kubelet"
   * binding (spec.nodeName set)        → the pod's schedulerName ("default-scheduler")
   * ReplicaSet created/scaled/deleted with a Deployment owner   → "deployment-controller"
     (deleted while its owner is gone or being deleted            → "garbage-collector")
   * Deployment / StatefulSet / DaemonSet status (rollout) steps → "<kind>-controller"
   * EndpointSlice steps: label endpointslice.kubernetes.io/managed-by
       endpointslice-controller.k8s.io → "endpointslice-controller" (else the label)
   * Node Ready=Unknown and the node.kubernetes.io/{not-ready,unreachable,...} taints
       → "node-lifecycle-controller"; Ready True/False → "kubelet"
   * pod deletion: a DisruptionTarget condition names the deleter
       (DeletionByTaintManager → "taint-eviction-controller", EvictionByEvictionAPI →
       "eviction-api", DeletionByPodGC → "pod-garbage-collector", PreemptionByScheduler
       → the scheduler, TerminationByKubelet → "kubelet"); an owner gone or being
       deleted → "garbage-collector"; an owner ReplicaSet/StatefulSet that still has
       `replicas` active pods without this one deleted it on purpose (scale-down) →
       its controller (not counting pods created since the delete request, and
       trusting a lower spec.replicas of the owning Deployment or a status above the
       spec: see _replicaset_scaling_down); a pod of an old ReplicaSet while its
       Deployment rolls out → the controller; a StatefulSet pod of an outdated
       revision / a RollingUpdate DaemonSet pod of an outdated generation → that
       controller
   * a pod's final disappearance after graceful termination      → "kubelet" (podgc,
       "pod-garbage-collector", when kube-controller-manager wrote the final Failed
       status: the force delete of a pod on a dead node)
   * LeaderChanged → the Lease's name (the component electing a leader)
2. A related Event already in the store: its reportingController (Scheduled → the
   scheduler; SuccessfulDelete on the owner naming the pod → that controller;
   Evicted / TaintManagerEviction on the pod → the evictor). Events override rule 1's
   heuristics for deletions and bindings.
3. managedFields: the newest entry touching the relevant top-level field (f:spec for
   spec changes, including the scale subresource), its manager mapped to a friendly
   name ("kube-scheduler" → "default-scheduler", "kube-controller-manager" → the
   controller the kind implies); other managers keep their name ("kubectl-edit",
   "kubectl-client-side-apply", "helm").
4. Otherwise "user" (deletions leave no managedFields trace).

Deletion actors are never held back waiting for the Event that would confirm them (it
usually arrives after the pod's update): DeletionRequested and PodGone say how the
actor was established in `details["actor_source"]` — "event", "condition"
(DisruptionTarget), "managedFields" or "guess" — so a view can mark a guess as one
instead of kwatch emitting a correcting step later. See `pod_deleter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from kwatch.core.rows import (
    DaemonSetRow,
    DeploymentRow,
    Endpoint,
    EndpointSliceRow,
    EventRow,
    LeaseRow,
    ManagerEntry,
    NodeRow,
    PodRow,
    ReplicaSetRow,
    Row,
    ServiceRow,
    StatefulSetRow,
    diff_endpoints,
    fast_frozen_init,
    resolve_rolling,
)
from kwatch.core.store import Change, LaneMark, Store


class StepName(StrEnum):
    SYNCED = "Synced"
    RELISTED = "Relisted"
    DEPLOYMENT_CREATED = "DeploymentCreated"
    DEPLOYMENT_SPEC_CHANGED = "DeploymentSpecChanged"
    DEPLOYMENT_SCALED = "DeploymentScaled"
    DEPLOYMENT_DELETED = "DeploymentDeleted"
    DEPLOYMENT_AVAILABLE = "DeploymentAvailable"
    DEPLOYMENT_UNAVAILABLE = "DeploymentUnavailable"
    ROLLOUT_PROGRESSING = "RolloutProgressing"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_STUCK = "RolloutStuck"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_RESUMED = "RolloutResumed"
    REPLICASET_CREATED = "ReplicaSetCreated"
    REPLICASET_SCALED = "ReplicaSetScaled"
    REPLICASET_DELETED = "ReplicaSetDeleted"
    STATEFULSET_CREATED = "StatefulSetCreated"
    STATEFULSET_SCALED = "StatefulSetScaled"
    STATEFULSET_UPDATED = "StatefulSetUpdated"
    STATEFULSET_ROLLOUT_COMPLETE = "StatefulSetRolloutComplete"
    STATEFULSET_DELETED = "StatefulSetDeleted"
    DAEMONSET_CREATED = "DaemonSetCreated"
    DAEMONSET_UPDATED = "DaemonSetUpdated"
    DAEMONSET_ROLLOUT_COMPLETE = "DaemonSetRolloutComplete"
    DAEMONSET_DELETED = "DaemonSetDeleted"
    POD_CREATED = "PodCreated"
    POD_SCHEDULED = "PodScheduled"
    POD_UNSCHEDULABLE = "PodUnschedulable"
    CONTAINER_STARTED = "ContainerStarted"
    CONTAINER_RESTARTED = "ContainerRestarted"
    CONTAINER_WAITING = "ContainerWaiting"
    CONTAINER_TERMINATED = "ContainerTerminated"
    POD_READY = "PodReady"
    POD_NOT_READY = "PodNotReady"
    POD_SUCCEEDED = "PodSucceeded"
    POD_FAILED = "PodFailed"
    POD_RESIZED = "PodResized"
    RESIZE_STATUS_CHANGED = "ResizeStatusChanged"
    DELETION_REQUESTED = "DeletionRequested"
    POD_EVICTED = "PodEvicted"
    POD_PREEMPTED = "PodPreempted"
    POD_GONE = "PodGone"
    ENDPOINT_ADDED = "EndpointAdded"
    ENDPOINT_CONDITION_CHANGED = "EndpointConditionChanged"
    ENDPOINT_REMOVED = "EndpointRemoved"
    SERVICE_CREATED = "ServiceCreated"
    SERVICE_UPDATED = "ServiceUpdated"
    SERVICE_DELETED = "ServiceDeleted"
    NODE_ADDED = "NodeAdded"
    NODE_REMOVED = "NodeRemoved"
    NODE_READY = "NodeReady"
    NODE_NOT_READY = "NodeNotReady"
    NODE_TAINTED = "NodeTainted"
    NODE_UNTAINTED = "NodeUntainted"
    NODE_CORDONED = "NodeCordoned"
    NODE_UNCORDONED = "NodeUncordoned"
    LEADER_CHANGED = "LeaderChanged"
    WARNING_EVENT = "WarningEvent"


S = StepName


@dataclass(frozen=True, slots=True)
class Step:
    t: float  # when kwatch observed it (epoch seconds)
    kind: str  # the object the step is about
    namespace: str
    name: str
    uid: str
    actor: str  # who did it (see the module docstring)
    step: str  # a StepName value
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        """Stable export shape (headless -o jsonl, recordings of steps, tests)."""
        return {
            "t": self.t,
            "actor": self.actor,
            "step": str(self.step),
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "details": dict(self.details),
        }


fast_frozen_init(Step)


def derive_steps(change: Change, store: Store) -> list[Step]:
    """The steps one change stands for (often none: most status updates are noise)."""
    derive = _DERIVERS.get(change.kind)
    return derive(change, store) if derive is not None else []


# --------------------------------------------------------------------------- actors

KCM = "kube-controller-manager"
OWNER_CONTROLLERS: dict[str, str] = {
    "ReplicaSet": "replicaset-controller",
    "StatefulSet": "statefulset-controller",
    "DaemonSet": "daemonset-controller",
    "Deployment": "deployment-controller",
    "Job": "job-controller",
    "CronJob": "cronjob-controller",
    "ReplicationController": "replication-controller",
    "Node": "kubelet",  # mirror pods of static pods
}
MANAGER_ALIASES: dict[str, str] = {"kube-scheduler": "default-scheduler"}
DISRUPTION_ACTORS: dict[str, str] = {
    "DeletionByTaintManager": "taint-eviction-controller",
    "EvictionByEvictionAPI": "eviction-api",
    "DeletionByPodGC": "pod-garbage-collector",
    "TerminationByKubelet": "kubelet",
}
EVICTION_REASONS = frozenset({"Evicted", "TaintManagerEviction"})
EVENT_EVICTORS: dict[str, str] = {
    "Evicted": "kubelet",
    "TaintManagerEviction": "taint-eviction-controller",
}
NODE_LIFECYCLE_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
    }
)
SLICE_MANAGERS: dict[str, str] = {
    "endpointslice-controller.k8s.io": "endpointslice-controller",
    "endpointslicemirroring-controller.k8s.io": "endpointslicemirroring-controller",
}
NOTABLE_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)


def manager_actor(manager: str, kcm_as: str) -> str:
    """Friendly name of a managedFields manager (kube-controller-manager → `kcm_as`)."""
    if not manager:
        return "user"
    if manager == KCM:
        return kcm_as
    return MANAGER_ALIASES.get(manager, manager)


def field_actor(row: Row, top_field: str, kcm_as: str) -> str:
    """Rule 3: the newest manager that touched `top_field` ("f:spec", ...)."""
    entry = row.newest_manager(top_field)
    return manager_actor(entry.manager, kcm_as) if entry is not None else "user"


def creator_actor(row: Row, kcm_as: str) -> str:
    """The manager of the earliest entry touching f:spec (or any entry): the creator."""
    first = None
    for m in row.managers:
        touches_spec = "f:spec" in m.fields or not m.fields
        if touches_spec and (first is None or (m.time or 0.0) < (first.time or 0.0)):
            first = m
    if first is None and row.managers:
        first = row.managers[0]
    return manager_actor(first.manager, kcm_as) if first is not None else "user"


def event_actor(
    store: Store, uid: str, reasons: frozenset[str] | tuple[str, ...], mentions: str = ""
) -> str | None:
    """Rule 2: reportingController of the newest related Event with one of `reasons`."""
    if not uid:
        return None
    for ev in reversed(store.events_for(uid)):
        if ev.reason in reasons and (not mentions or mentions in ev.note):
            return ev.reporting_controller or None
    return None


def _owner_controller(row: Row) -> str | None:
    owner = row.owner
    if owner is None or not owner.controller:
        return None
    return OWNER_CONTROLLERS.get(owner.kind)


def pod_creator(pod: PodRow) -> str:
    creator = creator_actor(pod, kcm_as=KCM)
    controller = _owner_controller(pod)
    if controller is not None and creator in (KCM, "user", controller):
        return controller
    return creator


class Who(NamedTuple):
    """An actor and how kwatch knows it (the `actor_source` detail of deletion steps)."""

    actor: str
    source: str  # one of the ACTOR_* constants below


# How a deletion's actor was established, strongest first. Deletions leave no
# managedFields trace, so unless the deleter wrote a DisruptionTarget condition or an
# Event that names it, the actor is inferred from the owner's state and may be wrong.
ACTOR_EVENT = "event"  # an Event names the deleter (SuccessfulDelete, Evicted, ...)
ACTOR_CONDITION = "condition"  # the deleter's own DisruptionTarget condition
ACTOR_MANAGED_FIELDS = "managedFields"  # the manager of the status write that did it
ACTOR_GUESS = "guess"  # inferred from the owner's state (replicas, revisions, deletion)


def pod_deleter(pod: PodRow, store: Store) -> Who:
    """Who asked for this pod's deletion (rules 1 and 2 for deletions), and how we know.

    Deliberately resolved at once, never held back: the DeletionRequested moment is what
    the lanes and the endpoint hazards time from, and the pipeline emits a batch's steps
    when the batch arrives. The owner's SuccessfulDelete Event usually arrives after the
    pod's update (the controller records it after the DELETE returns); a step derived
    before it says `actor_source: "guess"` instead of being corrected by a second step.
    """
    if pod.disruption:
        if pod.disruption == "PreemptionByScheduler":
            return Who(pod.spec.scheduler_name, ACTOR_CONDITION)
        return Who(DISRUPTION_ACTORS.get(pod.disruption, pod.disruption), ACTOR_CONDITION)
    for ev in reversed(store.events_for(pod.uid)):
        # (The kubelet's Killing Event reports the SIGTERM, not who asked for it.)
        if ev.reason in EVICTION_REASONS:
            return Who(ev.reporting_controller or EVENT_EVICTORS[ev.reason], ACTOR_EVENT)
    owner = pod.owner
    if owner is None:
        return Who("user", ACTOR_GUESS)
    controller = OWNER_CONTROLLERS.get(owner.kind, "user")
    said = event_actor(store, owner.uid, ("SuccessfulDelete",), mentions=pod.name)
    if said is not None:
        return Who(said, ACTOR_EVENT)
    parent = store.by_uid(owner.uid)
    if parent is None or parent.deleted is not None:
        return Who("garbage-collector", ACTOR_GUESS)
    if isinstance(parent, ReplicaSetRow):
        scaled_down = _replicaset_scaling_down(pod, parent, store)
        return Who(controller if scaled_down else "user", ACTOR_GUESS)
    if isinstance(parent, StatefulSetRow):
        if (
            parent.update_revision
            and pod.revision_hash
            and (pod.revision_hash != parent.update_revision)
        ):
            return Who(controller, ACTOR_GUESS)  # a rolling update replaces outdated pods
        # A user's delete leaves the owner one pod short until it creates a replacement
        # (of the same name, so only after this one is gone); a scale-down leaves
        # exactly `replicas` active pods.
        if store.active_children(parent.uid) >= parent.replicas:
            return Who(controller, ACTOR_GUESS)
        return Who("user", ACTOR_GUESS)
    if isinstance(parent, DaemonSetRow) and parent.update_strategy == "RollingUpdate":
        generation = pod.label("pod-template-generation")
        current = parent.template_generation or parent.generation
        if generation and generation != str(current):
            return Who(controller, ACTOR_GUESS)
    return Who("user", ACTOR_GUESS)


def _replicaset_scaling_down(pod: PodRow, rs: ReplicaSetRow, store: Store) -> bool:
    """Did the ReplicaSet controller delete `pod` to shed replicas (else: a user)?

    A user's delete leaves the ReplicaSet one pod short until its replacement exists; a
    scale-down leaves `spec.replicas` active pods. Two races blur that count, because
    the store holds the *batch's end* state and the watches are independent streams:

    * the replacement of a user-deleted pod can arrive in the same batch as the
      deletion, so pods created at or after the delete request are not counted (the
      request time is deletionTimestamp - deletionGracePeriodSeconds, whole seconds:
      a pod created in that same second just before the delete is missed too — rare);
    * the pod's deletion can arrive before the ReplicaSet update that lowered
      `spec.replicas`, so what the owner already shows counts as well: a Deployment
      that wants fewer pods than the ReplicaSet, an old ReplicaSet of a rollout in
      progress (the deployment controller is draining it: the Deployment's revision, or
      a ReplicaSet of a later revision, says so), a status that still counts more pods
      than the spec wants.
    """
    desired = rs.replicas
    if rs.status_replicas > desired:
        return True  # the controller has not yet caught up with a lowered spec
    owner = rs.owner
    d = store.by_uid(owner.uid) if owner is not None and owner.kind == "Deployment" else None
    if isinstance(d, DeploymentRow):
        rolling_out = not d.paused and (
            d.progressing is None or d.progressing.reason != "ProgressDeadlineExceeded"
        )
        if rolling_out and d.revision and rs.revision and rs.revision != d.revision:
            return True  # an old ReplicaSet: the rollout scales it down to 0
        if rolling_out and _has_newer_sibling(rs, d, store):
            return True  # the same, told by the new ReplicaSet (its watch may be ahead)
        desired = min(desired, d.replicas)
    active = store.active_children(rs.uid)  # O(1); excludes `pod` (it is terminating)
    if active != desired:
        return active > desired
    if desired == 0 or pod.deleted is None:
        return True
    # Exactly `desired`: a finished scale-down, or a replacement already counted. Only
    # this case walks the children, so a mass scale-down or delete stays O(1) a pod.
    requested = pod.deleted - (pod.deletion_grace or 0)
    newer = 0
    for child in store.children(rs.uid):
        if child.deleted is None and child.created is not None and child.created >= requested:
            newer += 1
    return active - newer >= desired


def _has_newer_sibling(rs: ReplicaSetRow, d: DeploymentRow, store: Store) -> bool:
    """Does the Deployment own a ReplicaSet of a later revision than `rs`?"""
    if not rs.revision.isdigit():
        return False
    mine = int(rs.revision)
    return any(
        isinstance(other, ReplicaSetRow) and other.revision.isdigit()
        and int(other.revision) > mine
        for other in store.children(d.uid)
    )  # fmt: skip


def _status_writer(old: PodRow | None, new: PodRow) -> str:
    """The manager of the f:status write that made `new` from `old`.

    The entry that is new or newer than in `old`; else (an update within the same
    second as that manager's previous one) the newest f:status entry. Not "newest" in
    the first place: managedFields times have one-second resolution, and the real API
    server orders entries of the same second by manager name, not by write.
    """
    if old is not None and new.managers is not old.managers:
        before = old.managers
        best: ManagerEntry | None = None
        for m in new.managers:
            if (
                "f:status" in m.fields
                and m not in before
                and (best is None or (m.time or 0.0) >= (best.time or 0.0))
            ):
                best = m
        if best is not None:
            return best.manager
    entry = new.newest_manager("f:status")
    return entry.manager if entry is not None else ""


def _pod_status_actor(old: PodRow | None, new: PodRow, kcm_as: str) -> str:
    """Who wrote a pod status change the kubelet normally writes (Ready, phase).

    On a live node that is the kubelet. When its node stops reporting,
    kube-controller-manager writes pod status: the node lifecycle controller marks the
    node's pods not Ready (MarkPodsNotReady), podgc marks them Failed before it
    force-deletes them — `kcm_as` names the one that makes this kind of change. A
    DisruptionTarget condition that appears in the same write names its writer instead.
    """
    writer = _status_writer(old, new)
    if writer in ("", "kubelet"):
        return "kubelet"
    if writer == KCM:
        disruption = new.disruption
        if disruption and (old is None or old.disruption != disruption):
            return DISRUPTION_ACTORS.get(disruption, kcm_as)
        return kcm_as
    return manager_actor(writer, kcm_as)


def _slice_actor(sl: EndpointSliceRow) -> str:
    if sl.managed_by:
        return SLICE_MANAGERS.get(sl.managed_by, sl.managed_by)
    return field_actor(sl, "f:endpoints", kcm_as="endpointslice-controller")


# --------------------------------------------------------------------------- helpers


def _step(t: float, row: Row, kind: str, actor: str, name: StepName, **details: Any) -> Step:
    return Step(t, kind, row.namespace, row.name, row.uid, actor, name.value, details)


def _owner_text(row: Row) -> str:
    return f"{row.owner.kind}/{row.owner.name}" if row.owner is not None else ""


_R = TypeVar("_R", bound=Row)


def _as(row: Row | None, cls: type[_R]) -> _R | None:
    return row if isinstance(row, cls) else None


# --------------------------------------------------------------------------- workloads


def _deployment(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, DeploymentRow), _as(ch.new, DeploymentRow)
    kind, t = ch.kind, ch.t
    if new is None:
        if old is None:
            return []
        return [_step(t, old, kind, "user", S.DEPLOYMENT_DELETED, revision=old.revision)]
    if old is None:
        return [
            _step(
                t, new, kind, creator_actor(new, "deployment-controller"), S.DEPLOYMENT_CREATED,
                replicas=new.replicas, strategy=new.strategy, max_surge=new.max_surge,
                max_unavailable=new.max_unavailable, images=list(new.images),
            )
        ]  # fmt: skip
    out: list[Step] = []
    changed = _workload_changes(old, new)
    if changed:
        actor = field_actor(new, "f:spec", kcm_as="deployment-controller")
        if changed == ["replicas"]:
            out.append(
                _step(t, new, kind, actor, S.DEPLOYMENT_SCALED, **{"from": old.replicas},
                      to=new.replicas, generation=new.generation)
            )  # fmt: skip
        else:
            details: dict[str, Any] = {
                "generation": new.generation,
                "from_generation": old.generation,
                "changed": changed,
            }
            if "image" in changed:
                details["images"] = {"from": list(old.images), "to": list(new.images)}
            if "replicas" in changed:
                details["replicas"] = {"from": old.replicas, "to": new.replicas}
            out.append(_step(t, new, kind, actor, S.DEPLOYMENT_SPEC_CHANGED, **details))
    out.extend(_rollout_steps(t, old, new, kind))
    return out


def _workload_changes(
    old: DeploymentRow | StatefulSetRow | DaemonSetRow,
    new: DeploymentRow | StatefulSetRow | DaemonSetRow,
) -> list[str]:
    """Which parts of a workload spec changed (generation alone means "spec")."""
    changed: list[str] = []
    if getattr(old, "replicas", None) != getattr(new, "replicas", None):
        changed.append("replicas")
    if old.images != new.images:
        changed.append("image")
    elif old.template_fp != new.template_fp:
        changed.append("template")
    if isinstance(old, DeploymentRow) and isinstance(new, DeploymentRow):
        if (old.strategy, old.max_surge, old.max_unavailable) != (
            new.strategy,
            new.max_surge,
            new.max_unavailable,
        ):
            changed.append("strategy")
        if old.paused != new.paused:
            changed.append("paused")
        if old.min_ready_seconds != new.min_ready_seconds:
            changed.append("minReadySeconds")
        if old.progress_deadline_seconds != new.progress_deadline_seconds:
            changed.append("progressDeadlineSeconds")
    elif (
        not isinstance(old, DeploymentRow)
        and not isinstance(new, DeploymentRow)
        and old.update_strategy != new.update_strategy
    ):
        changed.append("updateStrategy")
    if not changed and new.generation > old.generation:
        changed.append("spec")
    return changed


def _rollout_steps(t: float, old: DeploymentRow, new: DeploymentRow, kind: str) -> list[Step]:
    out: list[Step] = []
    actor = "deployment-controller"
    before, after = old.progressing, new.progressing
    if after is not None and (
        before is None or (before.reason, before.status) != (after.reason, after.status)
    ):
        common = {"reason": after.reason, "revision": new.revision, "message": after.message}
        counts = {
            "replicas": new.replicas,
            "updated": new.updated_replicas,
            "available": new.available_replicas,
        }
        if after.reason == "NewReplicaSetAvailable":
            out.append(_step(t, new, kind, actor, S.ROLLOUT_COMPLETE, **common, **counts))
        elif after.reason == "ProgressDeadlineExceeded":
            out.append(
                _step(t, new, kind, actor, S.ROLLOUT_STUCK, **common, **counts,
                      deadline_s=new.progress_deadline_seconds)
            )  # fmt: skip
        elif after.reason == "DeploymentPaused":
            out.append(_step(t, new, kind, actor, S.ROLLOUT_PAUSED, **common))
        elif after.reason == "DeploymentResumed":
            out.append(_step(t, new, kind, actor, S.ROLLOUT_RESUMED, **common))
        else:
            out.append(_step(t, new, kind, actor, S.ROLLOUT_PROGRESSING, **common, **counts))
    was = old.available.status if old.available is not None else ""
    now = new.available.status if new.available is not None else ""
    if now and was != now and new.available is not None:
        name = S.DEPLOYMENT_AVAILABLE if now == "True" else S.DEPLOYMENT_UNAVAILABLE
        out.append(
            _step(t, new, kind, actor, name, reason=new.available.reason,
                  available=new.available_replicas, replicas=new.replicas)
        )  # fmt: skip
    return out


def _replicaset(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, ReplicaSetRow), _as(ch.new, ReplicaSetRow)
    kind, t = ch.kind, ch.t
    row = new if new is not None else old
    if row is None:
        return []
    owner = row.owner
    by_deployment = owner is not None and owner.kind == "Deployment"
    if old is None and new is not None:
        actor = "deployment-controller" if by_deployment else creator_actor(new, KCM)
        return [
            _step(t, new, kind, actor, S.REPLICASET_CREATED, hash=new.template_hash,
                  revision=new.revision, owner=_owner_text(new), replicas=new.replicas,
                  images=list(new.images))
        ]  # fmt: skip
    if new is None and old is not None:
        if owner is None:
            actor = "user"
        else:
            parent = store.by_uid(owner.uid)
            gone = parent is None or parent.deleted is not None
            actor = "garbage-collector" if gone else OWNER_CONTROLLERS.get(owner.kind, "user")
        return [
            _step(t, old, kind, actor, S.REPLICASET_DELETED, hash=old.template_hash,
                  revision=old.revision, owner=_owner_text(old))
        ]  # fmt: skip
    assert old is not None and new is not None
    if old.replicas == new.replicas:
        return []
    if by_deployment:
        actor = "deployment-controller"
    else:
        actor = field_actor(new, "f:spec", kcm_as="replicaset-controller")
    details: dict[str, Any] = {"from": old.replicas, "to": new.replicas, "hash": new.template_hash}
    parent = store.by_uid(owner.uid) if owner is not None else None
    if isinstance(parent, DeploymentRow):
        details.update(_scale_reason(old.replicas, new, parent, store))
    return [_step(t, new, kind, actor, S.REPLICASET_SCALED, **details)]


def _scale_reason(before: int, rs: ReplicaSetRow, d: DeploymentRow, store: Store) -> dict[str, Any]:
    """Why the deployment controller moved this ReplicaSet: the strategy's numbers."""
    to = rs.replicas
    up = to > before
    if d.strategy == "Recreate":
        why = (
            "Recreate: the new ReplicaSet scales up once every old pod is gone"
            if up
            else "Recreate: old ReplicaSets scale to 0 before the new one scales up"
        )
        return {"why": why, "strategy": "Recreate"}
    surge, unavailable = resolve_rolling(d.replicas, d.max_surge, d.max_unavailable)
    is_new = bool(rs.revision) and rs.revision == d.revision
    siblings_active = any(
        isinstance(c, ReplicaSetRow) and c.uid != rs.uid and c.replicas > 0
        for c in store.children(d.uid)
    )
    out: dict[str, Any] = {
        "strategy": "RollingUpdate",
        "role": "new" if is_new else "old",
        "desired": d.replicas,
        "max_surge": surge,
        "max_unavailable": unavailable,
        "max_surge_spec": str(d.max_surge if d.max_surge is not None else "25%"),
        "max_unavailable_spec": str(d.max_unavailable if d.max_unavailable is not None else "25%"),
    }
    if is_new and not siblings_active:
        out["why"] = f"deployment scaled to {d.replicas}"
    elif up and is_new:
        out["why"] = (
            f"rollout: new ReplicaSet up to {to}; pods may total at most "
            f"{d.replicas}+{surge} (maxSurge {out['max_surge_spec']})"
        )
    elif not up and not is_new:
        out["why"] = (
            f"rollout: old ReplicaSet down to {to}; available pods must stay at least "
            f"{d.replicas}-{unavailable} (maxUnavailable {out['max_unavailable_spec']})"
        )
    else:
        out["why"] = "proportional scaling across ReplicaSets of a rollout in progress"
    return out


def _statefulset(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, StatefulSetRow), _as(ch.new, StatefulSetRow)
    kind, t = ch.kind, ch.t
    if new is None:
        return [] if old is None else [_step(t, old, kind, "user", S.STATEFULSET_DELETED)]
    if old is None:
        return [
            _step(t, new, kind, creator_actor(new, "statefulset-controller"),
                  S.STATEFULSET_CREATED, replicas=new.replicas,
                  pod_management_policy=new.pod_management_policy,
                  update_strategy=new.update_strategy, images=list(new.images))
        ]  # fmt: skip
    out: list[Step] = []
    changed = _workload_changes(old, new)
    if changed:
        actor = field_actor(new, "f:spec", kcm_as="statefulset-controller")
        if changed == ["replicas"]:
            out.append(
                _step(t, new, kind, actor, S.STATEFULSET_SCALED, **{"from": old.replicas},
                      to=new.replicas)
            )  # fmt: skip
        else:
            out.append(
                _step(t, new, kind, actor, S.STATEFULSET_UPDATED, changed=changed,
                      generation=new.generation, images=list(new.images))
            )  # fmt: skip
    was_done = old.current_revision == old.update_revision
    done = bool(new.update_revision) and new.current_revision == new.update_revision
    if done and not was_done:
        out.append(
            _step(t, new, kind, "statefulset-controller", S.STATEFULSET_ROLLOUT_COMPLETE,
                  revision=new.update_revision, replicas=new.replicas)
        )  # fmt: skip
    return out


def _daemonset_done(ds: DaemonSetRow) -> bool:
    return (
        ds.observed_generation >= ds.generation
        and ds.updated == ds.desired
        and ds.available == ds.desired
    )


def _daemonset(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, DaemonSetRow), _as(ch.new, DaemonSetRow)
    kind, t = ch.kind, ch.t
    if new is None:
        return [] if old is None else [_step(t, old, kind, "user", S.DAEMONSET_DELETED)]
    if old is None:
        return [
            _step(t, new, kind, creator_actor(new, "daemonset-controller"), S.DAEMONSET_CREATED,
                  update_strategy=new.update_strategy, images=list(new.images))
        ]  # fmt: skip
    out: list[Step] = []
    changed = _workload_changes(old, new)
    if changed:
        out.append(
            _step(t, new, kind, field_actor(new, "f:spec", kcm_as="daemonset-controller"),
                  S.DAEMONSET_UPDATED, changed=changed, generation=new.generation,
                  update_strategy=new.update_strategy, images=list(new.images))
        )  # fmt: skip
    if _daemonset_done(new) and not _daemonset_done(old) and new.desired > 0:
        out.append(
            _step(t, new, kind, "daemonset-controller", S.DAEMONSET_ROLLOUT_COMPLETE,
                  desired=new.desired, generation=new.generation)
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- pods


def _pod(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, PodRow), _as(ch.new, PodRow)
    kind, t = ch.kind, ch.t
    if new is None:
        return [] if old is None else [_pod_gone(t, old, kind, store)]
    out: list[Step] = []
    if old is None:
        out.append(
            _step(t, new, kind, pod_creator(new), S.POD_CREATED, owner=_owner_text(new),
                  hash=new.template_hash or new.revision_hash, images=list(new.spec.images))
        )  # fmt: skip
    old_node = old.node_name if old is not None else ""
    if new.node_name and not old_node:
        actor = event_actor(store, new.uid, ("Scheduled",)) or new.spec.scheduler_name
        out.append(_step(t, new, kind, actor, S.POD_SCHEDULED, node=new.node_name))
    elif not new.node_name:
        cond = new.condition("PodScheduled")
        before = old.condition("PodScheduled") if old is not None else None
        if cond is not None and cond.status == "False" and cond != before:
            out.append(
                _step(t, new, kind, new.spec.scheduler_name, S.POD_UNSCHEDULABLE,
                      reason=cond.reason, message=cond.message)
            )  # fmt: skip
    if old is None or old.containers != new.containers:
        out.extend(_container_steps(t, old, new, kind))
    was_ready = old.ready if old is not None else False
    if new.ready and not was_ready:
        out.append(
            _step(t, new, kind, "kubelet", S.POD_READY,
                  readiness_probe=new.spec.has_readiness_probe, node=new.node_name)
        )  # fmt: skip
    elif was_ready and not new.ready:
        cond = new.condition("Ready")
        actor = _pod_status_actor(old, new, "node-lifecycle-controller")
        out.append(
            _step(t, new, kind, actor, S.POD_NOT_READY,
                  reason=cond.reason if cond is not None else "",
                  terminating=new.deleted is not None,
                  containers_not_ready=[c.name for c in new.containers if not c.ready])
        )  # fmt: skip
    if new.deleted is not None and (old is None or old.deleted is None):
        out.extend(_deletion_steps(t, new, kind, store))
    old_phase = old.phase if old is not None else ""
    if new.phase != old_phase and new.phase in ("Succeeded", "Failed"):
        if new.phase == "Succeeded":
            out.append(_step(t, new, kind, "kubelet", S.POD_SUCCEEDED, reason=new.reason))
        else:
            # Only podgc, among the controllers, fails a pod (nobody else would on a
            # dead node); the scheduler's and evictors' writes keep the phase.
            actor = _pod_status_actor(old, new, "pod-garbage-collector")
            out.append(_step(t, new, kind, actor, S.POD_FAILED, reason=new.reason))
    if old is not None:
        out.extend(_resize_steps(t, old, new, kind))
    return out


def _container_steps(t: float, old: PodRow | None, new: PodRow, kind: str) -> list[Step]:
    out: list[Step] = []
    before = {c.name: c for c in old.containers} if old is not None else {}
    for c in new.containers:
        p = before.get(c.name)
        if p is not None and c.restarts > p.restarts:
            out.append(
                _step(t, new, kind, "kubelet", S.CONTAINER_RESTARTED, container=c.name,
                      count=c.restarts, last_exit_code=c.last_exit_code,
                      last_reason=c.last_reason)
            )  # fmt: skip
        if c.state == "running" and (
            p is None or p.state != "running" or p.started_at != c.started_at
        ):
            out.append(
                _step(t, new, kind, "kubelet", S.CONTAINER_STARTED, container=c.name,
                      restarts=c.restarts)
            )  # fmt: skip
        elif c.state == "terminated" and (
            p is None or p.state != "terminated" or p.finished_at != c.finished_at
        ):
            details: dict[str, Any] = {
                "container": c.name,
                "exit_code": c.exit_code,
                "reason": c.reason,
            }
            if new.deleted is not None and c.finished_at is not None:
                # deletionTimestamp = request time + grace, so this is time since the
                # delete request (server clock, one-second resolution).
                requested = new.deleted - (new.deletion_grace or 0)
                details["after_deletion_s"] = round(c.finished_at - requested, 3)
            out.append(_step(t, new, kind, "kubelet", S.CONTAINER_TERMINATED, **details))
        elif (
            c.state == "waiting"
            and c.reason in NOTABLE_WAITING
            and (p is None or p.state != "waiting" or p.reason != c.reason)
        ):
            out.append(
                _step(t, new, kind, "kubelet", S.CONTAINER_WAITING, container=c.name,
                      reason=c.reason, restarts=c.restarts)
            )  # fmt: skip
    return out


def _deletion_steps(t: float, pod: PodRow, kind: str, store: Store) -> list[Step]:
    actor, source = pod_deleter(pod, store)
    prestop = pod.spec.prestop
    endpoints = [
        {"slice": m.slice_name, **m.endpoint.conditions()} for m in store.endpoints_of_pod(pod.uid)
    ]
    out = [
        _step(t, pod, kind, actor, S.DELETION_REQUESTED, grace_s=pod.deletion_grace,
              prestop=prestop.summary(), prestop_s=prestop.seconds,
              termination_grace_s=pod.spec.grace, node=pod.node_name, endpoints=endpoints,
              disruption=pod.disruption, actor_source=source)
    ]  # fmt: skip
    if pod.disruption == "PreemptionByScheduler":
        out.append(_step(t, pod, kind, actor, S.POD_PREEMPTED, reason=pod.disruption))
    elif pod.disruption:
        out.append(_step(t, pod, kind, actor, S.POD_EVICTED, reason=pod.disruption))
    return out


def _resize_steps(t: float, old: PodRow, new: PodRow, kind: str) -> list[Step]:
    out: list[Step] = []
    if old.spec is not new.spec:
        before = {c.name: c.resources for c in old.spec.containers}
        for c in new.spec.containers:
            was = before.get(c.name)
            if was is not None and was != c.resources:
                out.append(
                    _step(t, new, kind, field_actor(new, "f:spec", kcm_as=KCM), S.POD_RESIZED,
                          container=c.name, **{"from": was}, to=c.resources)
                )  # fmt: skip
    if old.resize != new.resize:
        out.append(
            _step(t, new, kind, "kubelet", S.RESIZE_STATUS_CHANGED, **{"from": old.resize},
                  to=new.resize)
        )  # fmt: skip
    return out


def _pod_gone(t: float, pod: PodRow, kind: str, store: Store) -> Step:
    if pod.deleted is not None and pod.node_name:
        # After a graceful termination the kubelet confirms the end (the final delete)
        # once it wrote the terminal status. A pod whose node died never gets that far:
        # podgc marks it Failed (as kube-controller-manager) and force-deletes it.
        writer = pod.newest_manager("f:status")
        if writer is not None and writer.manager == KCM and pod.phase == "Failed":
            who = Who("pod-garbage-collector", ACTOR_MANAGED_FIELDS)
        elif writer is not None and writer.manager == "kubelet":
            who = Who("kubelet", ACTOR_MANAGED_FIELDS)
        else:
            who = Who("kubelet", ACTOR_GUESS)
    else:
        who = pod_deleter(pod, store)
    actor = who.actor
    details: dict[str, Any] = {"phase": pod.phase, "node": pod.node_name}
    lane = store.lanes.get(pod.uid)
    requested = lane.first(LaneMark.DELETION_REQUESTED) if lane is not None else None
    if requested is not None:
        details["terminating_s"] = round(t - requested, 3)
    exits = {c.name: c.exit_code for c in pod.containers if c.state == "terminated"}
    if exits:
        details["exit_codes"] = exits
    details["actor_source"] = who.source
    return _step(t, pod, kind, actor, S.POD_GONE, **details)


# --------------------------------------------------------------------------- networking


def _endpoint_subject(
    t: float, sl: EndpointSliceRow, ep: Endpoint, actor: str, name: StepName, store: Store,
    **details: Any,
) -> Step:  # fmt: skip
    base = {"slice": sl.name, "service": sl.service_name, "addresses": list(ep.addresses)}
    if ep.pod_name:
        uid = ep.pod_uid
        if not uid:
            pod = store.get("Pod", f"{ep.pod_namespace}/{ep.pod_name}")
            uid = pod.uid if pod is not None else ""
        return Step(
            t, "Pod", ep.pod_namespace, ep.pod_name, uid, actor, name.value,
            {**base, "node": ep.node, **details},
        )  # fmt: skip
    return Step(
        t, "EndpointSlice", sl.namespace, sl.name, sl.uid, actor, name.value,
        {**base, "node": ep.node, **details},
    )  # fmt: skip


def _endpointslice(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, EndpointSliceRow), _as(ch.new, EndpointSliceRow)
    sl = new if new is not None else old
    if sl is None:
        return []
    actor = _slice_actor(sl)
    added, changed, removed = diff_endpoints(old, new)
    out: list[Step] = []
    t = ch.t
    for ep in added:
        out.append(_endpoint_subject(t, sl, ep, actor, S.ENDPOINT_ADDED, store, **ep.conditions()))
    for before, after in changed:
        was, now = before.conditions(), after.conditions()
        if was != now:
            out.append(
                _endpoint_subject(t, sl, after, actor, S.ENDPOINT_CONDITION_CHANGED, store,
                                  **{"from": was}, to=now)
            )  # fmt: skip
    for ep in removed:
        reason = "slice deleted" if new is None else "removed from slice"
        out.append(
            _endpoint_subject(t, sl, ep, actor, S.ENDPOINT_REMOVED, store, last=ep.conditions(),
                              reason=reason)
        )  # fmt: skip
    return out


def _service(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, ServiceRow), _as(ch.new, ServiceRow)
    kind, t = ch.kind, ch.t
    if new is None:
        return [] if old is None else [_step(t, old, kind, "user", S.SERVICE_DELETED)]
    selector = dict(new.selector)
    ports = [f"{p.port}->{p.target}/{p.protocol}" for p in new.ports]
    if old is None:
        return [
            _step(t, new, kind, creator_actor(new, KCM), S.SERVICE_CREATED, type=new.type,
                  selector=selector, ports=ports, publish_not_ready=new.publish_not_ready)
        ]  # fmt: skip
    changed = [
        name
        for name, a, b in (
            ("selector", old.selector, new.selector),
            ("ports", old.ports, new.ports),
            ("type", old.type, new.type),
            ("publishNotReadyAddresses", old.publish_not_ready, new.publish_not_ready),
        )
        if a != b
    ]
    if not changed:
        return []
    return [
        _step(t, new, kind, field_actor(new, "f:spec", kcm_as=KCM), S.SERVICE_UPDATED,
              changed=changed, selector=selector, ports=ports)
    ]  # fmt: skip


# --------------------------------------------------------------------------- cluster


def _node(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, NodeRow), _as(ch.new, NodeRow)
    kind, t = ch.kind, ch.t
    if new is None:
        return [] if old is None else [_step(t, old, kind, "user", S.NODE_REMOVED)]
    out: list[Step] = []
    if old is None:
        out.append(
            _step(t, new, kind, creator_actor(new, KCM) if new.managers else "kubelet",
                  S.NODE_ADDED, ready=new.ready, kubelet_version=new.kubelet_version)
        )  # fmt: skip
    was = old.ready if old is not None else ""
    if old is not None and new.ready and new.ready != was:
        if new.ready == "True":
            out.append(_step(t, new, kind, "kubelet", S.NODE_READY, reason=new.ready_reason))
        else:
            # Unknown is written by the node lifecycle controller when heartbeats stop;
            # False is the kubelet reporting a problem itself.
            actor = "node-lifecycle-controller" if new.ready == "Unknown" else "kubelet"
            details: dict[str, Any] = {"status": new.ready, "reason": new.ready_reason}
            if new.heartbeat is not None:
                details["since_heartbeat_s"] = round(t - new.heartbeat, 3)
            out.append(_step(t, new, kind, actor, S.NODE_NOT_READY, **details))
    before = {(x.key, x.effect): x for x in old.taints} if old is not None else {}
    after = {(x.key, x.effect): x for x in new.taints}
    for key, taint in after.items():
        if key not in before:
            out.append(
                _step(t, new, kind, _taint_actor(new, taint.key), S.NODE_TAINTED, key=taint.key,
                      effect=taint.effect, value=taint.value)
            )  # fmt: skip
    for key, taint in before.items():
        if key not in after:
            out.append(
                _step(t, new, kind, _taint_actor(new, taint.key), S.NODE_UNTAINTED,
                      key=taint.key, effect=taint.effect)
            )  # fmt: skip
    if old is not None and old.unschedulable != new.unschedulable:
        name = S.NODE_CORDONED if new.unschedulable else S.NODE_UNCORDONED
        out.append(_step(t, new, kind, field_actor(new, "f:spec", kcm_as=KCM), name))
    return out


def _taint_actor(node: NodeRow, key: str) -> str:
    if key in NODE_LIFECYCLE_TAINTS:
        return "node-lifecycle-controller"
    return field_actor(node, "f:spec", kcm_as="node-lifecycle-controller")


def _lease(ch: Change, store: Store) -> list[Step]:
    old, new = _as(ch.old, LeaseRow), _as(ch.new, LeaseRow)
    if new is None:
        return []
    before = old.holder if old is not None else ""
    if new.holder == before or (old is None and not new.holder):
        return []
    return [
        _step(ch.t, new, ch.kind, new.name, S.LEADER_CHANGED, lease=new.name,
              **{"from": before}, to=new.holder, transitions=new.transitions)
    ]  # fmt: skip


def _event(ch: Change, store: Store) -> list[Step]:
    new = _as(ch.new, EventRow)
    if new is None or ch.old is not None:
        return []  # Events narrate only when they first appear; series updates repeat
    ref = new.regarding
    uid = ref.uid
    if not uid and ref.name:
        target = store.get(ref.kind, f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name)
        uid = target.uid if target is not None else ""
    actor = new.reporting_controller or EVENT_EVICTORS.get(new.reason, "unknown")
    details = {"reason": new.reason, "note": new.note, "event": new.name}
    if ref.kind == "Pod" and new.reason in EVICTION_REASONS:
        return [
            Step(ch.t, "Pod", ref.namespace, ref.name, uid, actor, S.POD_EVICTED.value, details)
        ]
    if new.type == "Warning":
        return [
            Step(
                ch.t, ref.kind, ref.namespace, ref.name, uid, actor, S.WARNING_EVENT.value,
                {**details, "count": new.count},
            )
        ]  # fmt: skip
    return []


_DERIVERS: dict[str, Callable[[Change, Store], list[Step]]] = {
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Pod": _pod,
    "EndpointSlice": _endpointslice,
    "Service": _service,
    "Node": _node,
    "Lease": _lease,
    "Event": _event,
}
