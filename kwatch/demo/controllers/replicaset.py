"""The replicaset controller: keep `spec.replicas` pods running for each ReplicaSet.

Pods are created from the RS's template (generateName `<rs>-`, a controller
ownerReference) and surplus pods deleted in the order of `_podranking`. Pods being
deleted (deletionTimestamp set) or finished no longer count, so a replacement is created
as soon as a deletion starts — which is why old and new pods overlap while one drains.

Expectations stop the controller from acting on a cache that has not yet seen its own
writes: after asking for 3 pods it waits until the informer has observed 3 pod ADDED
events (or a timeout) before it trusts the cache's count again. Without them every status
update arriving in between would trigger another batch of creates.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import POD, REPLICASET
from kwatch.demo.client import ApiError
from kwatch.demo.controllers._claims import RefManager, owners_selecting, resolve_controller_ref
from kwatch.demo.controllers._deployutil import prune, spec_replicas
from kwatch.demo.controllers._objects import (
    controller_of,
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    selector_from,
    typed_copy,
)
from kwatch.demo.controllers._podranking import pods_to_delete
from kwatch.demo.controllers._uidexpectations import PodExpectations
from kwatch.demo.controllers.base import Controller, register

# kube-controller-manager's BurstReplicas: at most this many creates/deletes per sync.
BURST_REPLICAS = 500
# Creates go out in batches of 1, 2, 4, ...: a template the server rejects fails once,
# not 500 times (controller.SlowStartInitialBatchSize).
SLOW_START_INITIAL_BATCH = 1


async def slow_start_batch(
    count: int, fn: Callable[[], Awaitable[None]]
) -> tuple[int, Exception | None]:
    """Call `fn` `count` times in doubling batches; stop after the first failing batch."""
    done = 0
    batch = min(count, SLOW_START_INITIAL_BATCH)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        done += batch - len(errors)
        if errors:
            err = errors[0]
            if not isinstance(err, Exception):
                raise err
            return done, err
        batch = min(2 * batch, count - done)
    return done, None


@register
class ReplicaSetController(Controller):
    name = "replicaset-controller"
    concurrent_syncs = 5  # --concurrent-replicaset-syncs

    def setup(self) -> None:
        self.expectations = PodExpectations(self.clock)
        self.replicasets = self.informer(REPLICASET, self._on_replicaset)
        self.pods = self.informer(POD, self._on_pod)

    # -- informer handlers: only enqueue (and count what we expected) -------------------

    def _on_replicaset(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        key = object_key(obj)
        if type_ == "DELETED":
            self.expectations.forget(key)
        self.enqueue(key)

    def _rs_key(self, pod: JSON, ref: JSON | None) -> str | None:
        """Key of the cached ReplicaSet `ref` points at (resolveControllerRef)."""
        return resolve_controller_ref(self.replicasets.cache, REPLICASET.kind, pod, ref)

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if type_ == "DELETED":
            if old is not None:
                self._pod_deleted(old)
        elif type_ == "ADDED" and new is not None:
            self._pod_added(new)
        elif old is not None and new is not None:
            self._pod_updated(old, new)

    def _pod_added(self, pod: JSON) -> None:
        if is_terminating(pod):
            # Seen for the first time already terminating (e.g. after a relist).
            self._pod_deleted(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            if key := self._rs_key(pod, ref):
                self.expectations.creation_observed(key)
                self.enqueue(key)
            return
        # An orphan: the ReplicaSets selecting it may adopt it.
        for key in owners_selecting(self.replicasets.cache, pod):
            self.enqueue(key)

    def _pod_updated(self, old: JSON, new: JSON) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        labels_changed = labels_of(old) != labels_of(new)
        if is_terminating(new):
            # Act on the deletionTimestamp, not on the later DELETED: the replacement is
            # created while the old pod still drains.
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref != new_ref and (key := self._rs_key(old, old_ref)):
            self.enqueue(key)
        if new_ref is not None:
            if key := self._rs_key(new, new_ref):
                self.enqueue(key)
                min_ready = int(((self.replicasets.cache.get(key) or {}).get("spec") or {})
                                .get("minReadySeconds") or 0)
                if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                    # Ready now, available minReadySeconds later: no event will say so.
                    self.enqueue_after(key, min_ready + 1)
            return
        if labels_changed or old_ref != new_ref:
            for key in owners_selecting(self.replicasets.cache, new):
                self.enqueue(key)

    def _pod_deleted(self, pod: JSON) -> None:
        key = self._rs_key(pod, controller_of(pod))
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.enqueue(key)

    # -- sync ----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.replicasets.cache.get(key)
        if cached is None:
            self.expectations.forget(key)
            return
        rs = typed_copy(cached, "apps/v1", "ReplicaSet")
        selector = selector_from((rs.get("spec") or {}).get("selector"))
        if selector is None or selector.empty:
            return  # validation forbids it; never manage every pod of a namespace
        # Read before listing pods: an observation landing in between only delays us.
        needs_sync = self.expectations.satisfied(key)
        ns = str(meta(rs).get("namespace"))
        active = [p for p in self.pods.cache.values()
                  if meta(p).get("namespace") == ns and is_pod_active(p)]
        pods = await RefManager(self.client, rs, REPLICASET, POD, selector).claim(active)
        manage_error: Exception | None = None
        if needs_sync and not is_terminating(rs):
            try:
                await self._manage_replicas(pods, rs)
            except Exception as e:
                manage_error = e
        await self._update_status(rs, self._calculate_status(rs, pods, manage_error))
        if manage_error is not None:
            raise manage_error
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        status = rs.get("status") or {}
        replicas = spec_replicas(rs)
        if (min_ready > 0 and int(status.get("readyReplicas") or 0) == replicas
                and int(status.get("availableReplicas") or 0) != replicas):
            self.enqueue_after(key, min_ready)

    async def _manage_replicas(self, pods: list[JSON], rs: JSON) -> None:
        key = object_key(rs)
        diff = len(pods) - spec_replicas(rs)
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            # Expect before creating: ADDED events may arrive before the POSTs return.
            self.expectations.expect_creations(key, count)
            created, err = await slow_start_batch(count, lambda: self._create_pod(rs))
            if created < count:
                self.expectations.creations_failed(key, count - created)
            if err is not None:
                raise err
        elif diff > 0:
            count = min(diff, BURST_REPLICAS)
            doomed = pods_to_delete(pods, self._related_pods(rs), count)
            self.expectations.expect_deletions(key, (object_key(p) for p in doomed))
            results = await asyncio.gather(*(self._delete_pod(rs, p) for p in doomed),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                raise errors[0]

    def _related_pods(self, rs: JSON) -> list[JSON]:
        """Active pods of every ReplicaSet with the same owner (getIndirectlyRelatedPods)."""
        owner = controller_of(rs)
        ns = meta(rs).get("namespace")
        if owner is None:
            siblings = {meta(rs).get("uid")}
        else:
            siblings = {meta(r).get("uid") for r in self.replicasets.cache.values()
                        if meta(r).get("namespace") == ns
                        and (controller_of(r) or {}).get("uid") == owner.get("uid")}
        return [p for p in self.pods.cache.values()
                if meta(p).get("namespace") == ns and is_pod_active(p)
                and (controller_of(p) or {}).get("uid") in siblings]

    def _pod_from_template(self, rs: JSON) -> JSON:
        template = (rs.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        pod_meta: JSON = {
            "generateName": f"{meta(rs)['name']}-",
            "namespace": meta(rs)["namespace"],
            "ownerReferences": [controller_ref(rs, "apps/v1", "ReplicaSet")],
        }
        for field in ("labels", "annotations", "finalizers"):
            if tmeta.get(field):
                pod_meta[field] = copy.deepcopy(tmeta[field])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}

    async def _create_pod(self, rs: JSON) -> None:
        try:
            pod = await self.client.create(POD.collection_path(meta(rs)["namespace"]),
                                           self._pod_from_template(rs))
        except ApiError as e:
            self.recorder.event(rs, "Warning", "FailedCreate", "Create",
                                f"Error creating: {e.message}")
            raise
        self.recorder.event(rs, "Normal", "SuccessfulCreate", "Create",
                            f"Created pod: {meta(pod).get('name')}", related=pod)

    async def _delete_pod(self, rs: JSON, pod: JSON) -> None:
        key = object_key(rs)
        path = f"{POD.collection_path(meta(pod)['namespace'])}/{meta(pod)['name']}"
        try:
            await self.client.delete(path)  # a 404 (already gone) returns None: fine
        except ApiError as e:
            # It will never be observed as deleted by us: don't wait for it.
            self.expectations.deletion_observed(key, object_key(pod))
            self.recorder.event(rs, "Warning", "FailedDelete", "Delete",
                                f"Error deleting: {e.message}")
            raise
        self.recorder.event(rs, "Normal", "SuccessfulDelete", "Delete",
                            f"Deleted pod: {meta(pod)['name']}",
                            related=typed_copy(pod, "v1", "Pod"))

    # -- ownership -----------------------------------------------------------------------

    # -- status --------------------------------------------------------------------------

    def _calculate_status(self, rs: JSON, pods: list[JSON], error: Exception | None) -> JSON:
        status = copy.deepcopy(rs.get("status") or {})
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        now = self.clock.now()
        fully_labeled = ready = available = 0
        for pod in pods:
            labels = labels_of(pod)
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
        conditions = [c for c in status.get("conditions") or []
                      if c.get("type") != "ReplicaFailure"]
        failure = next((c for c in status.get("conditions") or []
                        if c.get("type") == "ReplicaFailure"), None)
        if error is not None:
            reason = "FailedCreate" if len(pods) < spec_replicas(rs) else "FailedDelete"
            conditions.append(failure or {
                "type": "ReplicaFailure", "status": "True", "reason": reason,
                "message": str(error), "lastTransitionTime": self.clock.rfc3339(),
            })
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        status.update(replicas=len(pods), fullyLabeledReplicas=fully_labeled,
                      readyReplicas=ready, availableReplicas=available)
        return status

    async def _update_status(self, rs: JSON, status: JSON) -> None:
        generation = int(meta(rs).get("generation") or 0)
        old = rs.get("status") or {}
        if prune({**old, "observedGeneration": 0}) == prune(
            {**status, "observedGeneration": 0}
        ) and int(old.get("observedGeneration") or 0) == generation:
            return
        status["observedGeneration"] = generation
        rs["status"] = status
        path = f"{REPLICASET.collection_path(meta(rs)['namespace'])}/{meta(rs)['name']}/status"
        fresh = await self.client.update(path, rs)
        rs.clear()
        rs.update(typed_copy(fresh, "apps/v1", "ReplicaSet"))
