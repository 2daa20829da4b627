"""The statefulset controller: pets with stable names, created and replaced in order.

Reimplements kube-controller-manager's StatefulSet control loop (pkg/controller/statefulset)
on raw JSON, because the ordering *is* the lesson kwatch shows:

- pods are `<set>-<ordinal>` with labels `statefulset.kubernetes.io/pod-name`,
  `apps.kubernetes.io/pod-index` and `controller-revision-hash` (= the revision's name),
  hostname = pod name and subdomain = serviceName (stable DNS behind the headless Service);
- the template is snapshotted into ControllerRevisions (`revisions.py`); `currentRevision`
  is what [0, currentReplicas) run, `updateRevision` what new/updated pods get;
- OrderedReady (monotonic): ordinal N+1 is created only once 0..N are Running and Ready;
  scale-down deletes the highest ordinal first and waits for it to be gone; a terminating
  or unready pod blocks everything. Parallel: create/delete all at once;
- RollingUpdate deletes the highest-ordinal outdated pod (ordinals >= partition) and waits
  for its replacement to be Ready before the next; OnDelete leaves pods alone;
- status counts replicas/ready/available/current/updated and completes the rollout
  (currentRevision = updateRevision) when every pod is updated and ready.

Not reproduced: PersistentVolumeClaim templates, orphan adoption, maxUnavailable (alpha),
`.spec.ordinals.start` (always 0).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kwatch.core.events import JSON
from kwatch.core.kinds import POD, STATEFULSET
from kwatch.demo.client import ApiError
from kwatch.demo.controllers._objects import (
    controller_of,
    controller_ref,
    is_pod_available,
    is_pod_ready,
    meta,
)
from kwatch.demo.controllers.base import Controller, register
from kwatch.demo.controllers.revisions import (
    HASH_LABEL,
    RevisionCollision,
    RevisionStore,
    hash_revision,
    new_revision,
    next_revision,
    revision_name,
    revision_number,
    same_data,
    template_patch,
)

log = logging.getLogger(__name__)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL_RE = re.compile(r"^(.*)-([0-9]+)$")
# How long a delete we issued may stay invisible in the cache before we issue it again.
_PENDING_DELETE_SECONDS = 30.0


# -- pod predicates (stateful_set_utils.go) ---------------------------------------------


def ordinal_of(pod: Mapping[str, Any], set_name: str) -> int:
    m = _ORDINAL_RE.match(str(meta(pod).get("name", "")))
    if m is None or m.group(1) != set_name:
        return -1
    return int(m.group(2))


def is_created(pod: Mapping[str, Any]) -> bool:
    # A pod the API server stored has a phase; our not-yet-created placeholders don't.
    return bool((pod.get("status") or {}).get("phase"))


def is_running_and_ready(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def pod_revision(pod: Mapping[str, Any]) -> str:
    return str((meta(pod).get("labels") or {}).get(HASH_LABEL, ""))


# -- building pods ----------------------------------------------------------------------


def apply_revision(sts: JSON, revision: JSON) -> JSON:
    """The set as it was at `revision`: its template replaced by the revision's."""
    out = copy.deepcopy(sts)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template"))
    if isinstance(template, dict):
        template.pop("$patch", None)
        out.setdefault("spec", {})["template"] = template
    return out


def new_pod(sts: JSON, revision_name_: str, ordinal: int) -> JSON:
    """newStatefulSetPod + setPodRevision: the pod for `ordinal` from `sts`'s template."""
    set_meta = meta(sts)
    spec = sts.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.get("metadata") or {}
    name = f"{set_meta['name']}-{ordinal}"
    labels = dict(tmeta.get("labels") or {})
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels[HASH_LABEL] = revision_name_
    pod_meta: JSON = {
        "name": name,
        "namespace": set_meta["namespace"],
        "labels": labels,
        "ownerReferences": [controller_ref(sts, STATEFULSET.api_version, STATEFULSET.kind)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    pod_spec = template.get("spec") or {}
    # Stable network identity: <pod>.<serviceName>.<ns>.svc resolves to this pod.
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def _uses_current_revision(sts: JSON, ordinal: int) -> bool:
    """newVersionedStatefulSetPod: below the partition, (re)create at the current revision."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        return ordinal < int(rolling.get("partition") or 0)
    current = int((sts.get("status") or {}).get("currentReplicas") or 0)
    return strategy.get("type", "RollingUpdate") == "RollingUpdate" and ordinal < current


# -- status -----------------------------------------------------------------------------


@dataclass
class SetStatus:
    observed_generation: int
    current_revision: str
    update_revision: str
    collision_count: int
    replicas: int = 0
    ready: int = 0
    available: int = 0
    current: int = 0
    updated: int = 0

    def count(self, pods: list[JSON], min_ready: int, now: float,
              terminating: Callable[[JSON], bool]) -> None:
        self.replicas = self.ready = self.available = self.current = self.updated = 0
        for pod in pods:
            if is_created(pod):
                self.replicas += 1
            if is_running_and_ready(pod):
                self.ready += 1
                if is_pod_available(pod, min_ready, now):
                    self.available += 1
            if is_created(pod) and not terminating(pod):
                rev = pod_revision(pod)
                if rev == self.current_revision:
                    self.current += 1
                if rev == self.update_revision:
                    self.updated += 1

    def as_json(self, previous: Mapping[str, Any]) -> JSON:
        out = {k: v for k, v in previous.items() if k == "conditions"}
        out.update({
            "observedGeneration": self.observed_generation,
            "replicas": self.replicas,
            "readyReplicas": self.ready,
            "availableReplicas": self.available,
            "currentReplicas": self.current,
            "updatedReplicas": self.updated,
            "currentRevision": self.current_revision,
            "updateRevision": self.update_revision,
            "collisionCount": self.collision_count,
        })
        return out


# -- the controller ---------------------------------------------------------------------


@register
class StatefulSetController(Controller):
    name = "statefulset-controller"
    concurrent_syncs = 5

    def setup(self) -> None:
        self.sets = self.informer(STATEFULSET, self._on_set)
        self.pods = self.informer(POD, self._on_pod)
        self.revisions = RevisionStore(self.client)
        # uid → when we deleted it: the cache may not show the deletion yet.
        self._deleting: dict[str, float] = {}

    def _on_set(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        self.enqueue_object(new or old or {})

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        pod = new or old or {}
        ref = controller_of(pod)
        if ref is not None and ref.get("kind") == STATEFULSET.kind:
            self.enqueue(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    # -- predicates that know about our own in-flight deletes ------------------------------

    def _terminating(self, pod: JSON) -> bool:
        if meta(pod).get("deletionTimestamp"):
            return True
        since = self._deleting.get(str(meta(pod).get("uid")))
        return since is not None and self.clock.now() - since < _PENDING_DELETE_SECONDS

    def _healthy(self, pod: JSON) -> bool:
        return is_running_and_ready(pod) and not self._terminating(pod)

    def _unavailable(self, pod: JSON, min_ready: int) -> bool:
        return not self._healthy(pod) or not is_pod_available(pod, min_ready, self.clock.now())

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        sts = self.sets.cache.get(key)
        if sts is None:
            return  # the garbage collector removes the pods and revisions
        uid = str(meta(sts).get("uid"))
        pods = [
            p for p in self.pods.cache.values()
            if meta(p).get("namespace") == meta(sts).get("namespace")
            and (controller_of(p) or {}).get("uid") == uid
        ]
        self._forget_seen_deletes(pods)
        revisions = await self.revisions.list_owned(str(meta(sts)["namespace"]), uid)
        current, update, collisions = await self._revisions(sts, revisions)
        status = await self._update_set(sts, current, update, collisions, pods)
        await self._write_status(sts, status)
        live = {str(current["metadata"]["name"]), str(update["metadata"]["name"])}
        live.update(pod_revision(p) for p in pods)
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10))
        await self.revisions.truncate(revisions, live, limit)

    def _forget_seen_deletes(self, pods: list[JSON]) -> None:
        present = {str(meta(p).get("uid")): p for p in pods}
        for uid in list(self._deleting):
            pod = present.get(uid)
            if pod is None or meta(pod).get("deletionTimestamp"):
                del self._deleting[uid]

    async def _revisions(self, sts: JSON, revisions: list[JSON]) -> tuple[JSON, JSON, int]:
        """getStatefulSetRevisions: (current, update, collisionCount)."""
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        data = template_patch(sts)
        hash_ = hash_revision(data, collisions)
        candidate = new_revision(sts, STATEFULSET, data, next_revision(revisions), hash_,
                                 name=revision_name(str(meta(sts)["name"]), hash_))
        equal = [r for r in revisions if same_data(r, candidate)]
        if equal and revisions and equal[-1] is revisions[-1]:
            update = revisions[-1]  # the template hasn't changed
        elif equal:
            # Back to an earlier template (a roll-back): that revision becomes the newest.
            update = await self.revisions.renumber(equal[-1], revision_number(candidate))
        else:
            try:
                update = await self.revisions.create(candidate)
            except RevisionCollision:
                # Same name, different data: bump collisionCount so the next hash differs.
                await self.merge_status(STATEFULSET, sts, {"collisionCount": collisions + 1})
                raise
        current = next(
            (r for r in revisions if meta(r).get("name") == status.get("currentRevision")),
            update,
        )
        return current, update, collisions

    async def _update_set(
        self, sts: JSON, current: JSON, update: JSON, collisions: int, pods: list[JSON]
    ) -> SetStatus:
        """updateStatefulSet: create, delete and replace pods; returns the new status."""
        spec = sts.get("spec") or {}
        set_name = str(meta(sts)["name"])
        current_name = str(current["metadata"]["name"])
        update_name = str(update["metadata"]["name"])
        min_ready = int(spec.get("minReadySeconds") or 0)
        status = SetStatus(int(meta(sts).get("generation") or 0), current_name, update_name,
                           collisions)
        count = int(spec.get("replicas", 1))
        replicas: list[JSON | None] = [None] * count
        condemned: list[JSON] = []
        for pod in pods:
            ordinal = ordinal_of(pod, set_name)
            if 0 <= ordinal < count:
                replicas[ordinal] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        current_set = apply_revision(sts, current)
        update_set = apply_revision(sts, update)
        filled: list[JSON] = []
        for ordinal, existing in enumerate(replicas):
            if existing is not None:
                filled.append(existing)
            elif _uses_current_revision(current_set, ordinal):
                filled.append(new_pod(current_set, current_name, ordinal))
            else:
                filled.append(new_pod(update_set, update_name, ordinal))
        condemned.sort(key=lambda p: -ordinal_of(p, set_name))
        first_unavailable = next(
            (p for p in [*filled, *reversed(condemned)] if self._unavailable(p, min_ready)), None
        )
        now = self.clock.now()

        def recount() -> SetStatus:
            status.count([*filled, *condemned], min_ready, now, self._terminating)
            return status

        recount()
        if meta(sts).get("deletionTimestamp"):
            return status
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"

        # 1. Living replicas, in ordinal order.
        for i, pod in enumerate(filled):
            blocked = await self._process_replica(sts, filled, i, pod, monotonic, min_ready)
            if blocked and monotonic:
                return recount()
        # 2. Condemned pods, highest ordinal first (only once every replica is healthy
        #    in OrderedReady mode).
        for pod in condemned:
            if self._terminating(pod):
                if monotonic:
                    return recount()
                continue
            if monotonic and pod is not first_unavailable and self._unavailable(pod, min_ready):
                return recount()
            await self._delete(sts, pod)
            if monotonic:
                return recount()
        recount()
        # 3. Rolling update: replace the highest outdated ordinal >= partition, one at a time.
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "OnDelete":
            return status
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for target in range(len(filled) - 1, partition - 1, -1):
            pod = filled[target]
            if pod_revision(pod) != update_name and not self._terminating(pod):
                await self._delete(sts, pod)
                status.current -= 1
                return status
            if self._unavailable(pod, min_ready):
                return status
        return status

    async def _process_replica(
        self, sts: JSON, filled: list[JSON], i: int, pod: JSON, monotonic: bool, min_ready: int
    ) -> bool:
        """processReplica; True means "stop here" in OrderedReady mode."""
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            # A finished pet is deleted and recreated (same name) on a later sync.
            if not self._terminating(pod):
                await self._delete(sts, pod)
            return True
        if not is_created(pod):
            created = await self._create(sts, pod)
            filled[i] = created
            return True
        if self._terminating(pod):
            return True
        if not is_running_and_ready(pod):
            return True
        return not is_pod_available(pod, min_ready, self.clock.now())

    # -- writes -------------------------------------------------------------------------

    async def _create(self, sts: JSON, pod: JSON) -> JSON:
        ns = str(meta(sts)["namespace"])
        pod_name, set_name = meta(pod)["name"], meta(sts)["name"]
        try:
            created = await self.client.create(POD.collection_path(ns), pod)
        except ApiError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                # Our cache hasn't seen it yet: it exists, so treat it as not ready yet.
                return {**pod, "status": {"phase": "Pending"}}
            self.owner_event(
                STATEFULSET, sts, "Warning", "FailedCreate", "Create",
                f"create Pod {pod_name} in StatefulSet {set_name} failed error: {e.message}",
                pod,
            )
            raise
        self.owner_event(STATEFULSET, sts, "Normal", "SuccessfulCreate", "Create",
                         f"create Pod {pod_name} in StatefulSet {set_name} successful", created)
        return created

    async def _delete(self, sts: JSON, pod: JSON) -> None:
        ns = str(meta(sts)["namespace"])
        pod_name, set_name = meta(pod)["name"], meta(sts)["name"]
        try:
            await self.client.delete(f"{POD.collection_path(ns)}/{pod_name}")
        except ApiError as e:
            self.owner_event(
                STATEFULSET, sts, "Warning", "FailedDelete", "Delete",
                f"delete Pod {pod_name} in StatefulSet {set_name} failed error: {e.message}",
                pod,
            )
            raise
        self._deleting[str(meta(pod).get("uid"))] = self.clock.now()
        self.owner_event(STATEFULSET, sts, "Normal", "SuccessfulDelete", "Delete",
                         f"delete Pod {pod_name} in StatefulSet {set_name} successful", pod)

    async def _write_status(self, sts: JSON, status: SetStatus) -> None:
        spec = sts.get("spec") or {}
        want = int(spec.get("replicas", 1))
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and status.updated == want and status.ready == want \
                and status.replicas == want:
            # The rollout is complete: what was the update revision is now current.
            status.current = status.updated
            status.current_revision = status.update_revision
        previous = sts.get("status") or {}
        new = status.as_json(previous)
        if all(previous.get(k) == v for k, v in new.items()):
            return
        await self.merge_status(STATEFULSET, sts, new)
