"""The daemonset controller: one pod per eligible node, updated by RollingUpdate or OnDelete.

Reimplements kube-controller-manager's DaemonSet controller (pkg/controller/daemon):

- a node should run the pod when the template's nodeName/nodeSelector/required node
  affinity match it and its NoSchedule/NoExecute taints are tolerated — with the
  tolerations every DaemonSet pod gets (not-ready/unreachable NoExecute, disk/memory/pid
  pressure and unschedulable NoSchedule); a pod already there keeps running unless a
  NoExecute taint is untolerated;
- pods are created with generateName `<ds>-`, labels `controller-revision-hash` and
  `pod-template-generation` (the set's `deprecated.daemonset.template.generation`
  annotation, which the API server keeps: watchers tell a rolling replacement from a
  user's delete by it), and are pinned with required node affinity
  `matchFields metadata.name In [node]`, so the *scheduler* binds them — as the real
  controller has done since 1.12;
- a node whose pod is terminating gets its replacement only once the old pod is gone;
- RollingUpdate with maxSurge 0 deletes outdated pods while fewer than maxUnavailable are
  unavailable (default 1: delete, wait for the replacement to be Ready, next); with
  maxSurge > 0 it starts the new pod next to the old one first. OnDelete never touches
  outdated pods: the replacement of a pod a user deletes gets the new hash;
- pods on deleted nodes are left to podgc; expectations keep a stale cache from creating
  two pods for one node.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kwatch.core.events import JSON
from kwatch.core.kinds import DAEMONSET, NODE, POD
from kwatch.demo.client import ApiError
from kwatch.demo.controllers._daemonutil import (
    creation_order,
    daemon_status,
    daemon_tolerations,
    excess_pods,
    pin_to_node,
    plan_rolling_update,
    scaled,
    should_run,
    target_node,
)
from kwatch.demo.controllers._expectations import Expectations
from kwatch.demo.controllers._objects import (
    controller_of,
    controller_ref,
    meta,
)
from kwatch.demo.controllers.base import Controller, register
from kwatch.demo.controllers.revisions import (
    HASH_LABEL,
    RevisionCollision,
    RevisionStore,
    hash_template,
    new_revision,
    next_revision,
    revision_name,
    revision_number,
    same_data,
    template_patch,
)
from kwatch.demo.placement import node_taints

log = logging.getLogger(__name__)

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
# kube-controller-manager's burstReplicas for DaemonSets.
BURST_REPLICAS = 250
_MAX_FAILED_BACKOFF = 900.0


@register
class DaemonSetController(Controller):
    name = "daemonset-controller"
    concurrent_syncs = 2

    def setup(self) -> None:
        self.sets = self.informer(DAEMONSET, self._on_set)
        self.pods = self.informer(POD, self._on_pod)
        self.nodes = self.informer(NODE, self._on_node)
        self.revisions = RevisionStore(self.client)
        self.expectations = Expectations(self.clock)
        # (set key, node) → (current delay, not before): failedPodsBackoff, 1 s to 15 min.
        self._backoff: dict[tuple[str, str], tuple[float, float]] = {}

    # -- event handlers ------------------------------------------------------------------

    def _on_set(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        self.enqueue_object(new or old or {})

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        pod = new or old or {}
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != DAEMONSET.kind:
            return
        key = f"{meta(pod).get('namespace')}/{ref.get('name')}"
        if type_ == "ADDED" and not meta(pod).get("deletionTimestamp"):
            self.expectations.creation_observed(key)
        elif type_ == "DELETED" or (
            new is not None and meta(new).get("deletionTimestamp")
            and not (old is not None and meta(old).get("deletionTimestamp"))
        ):
            self.expectations.deletion_observed(key)
        self.enqueue(key)

    def _on_node(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if type_ == "MODIFIED" and old is not None and new is not None:
            # Only what placement reads: heartbeats alone change nothing for us.
            def placement(n: JSON) -> tuple[Any, ...]:
                return (meta(n).get("labels"), node_taints(n),
                        (n.get("spec") or {}).get("unschedulable"))
            if placement(old) == placement(new):
                return
        for ds in self.sets.cache.values():
            self.enqueue_object(ds)

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        ds = self.sets.cache.get(key)
        if ds is None:
            self.expectations.forget(key)
            return  # the garbage collector removes its pods and revisions
        selector = (ds.get("spec") or {}).get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            self.owner_event(
                DAEMONSET, ds, "Warning", "SelectingAll", "Sync",
                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        if meta(ds).get("deletionTimestamp"):
            return
        ns, uid = str(meta(ds)["namespace"]), str(meta(ds)["uid"])
        revisions = await self.revisions.list_owned(ns, uid)
        current, old = await self._history(ds, revisions)
        hash_ = str((meta(current).get("labels") or {}).get(HASH_LABEL) or "")
        nodes = sorted(self.nodes.cache.values(), key=lambda n: str(meta(n).get("name")))
        if not self.expectations.satisfied(key):
            # Our last creates/deletes aren't in the cache yet: only refresh status.
            await self._write_status(ds, nodes, hash_, observed=False)
            return
        acted = await self._manage(key, ds, nodes, hash_)
        if not acted:
            strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get(
                "type", "RollingUpdate")
            if strategy == "RollingUpdate":
                await self._rolling_update(key, ds, nodes, hash_)
        await self._cleanup_history(ds, old)
        await self._write_status(ds, nodes, hash_, observed=True)

    def _daemon_pods(self, ds: JSON) -> dict[str, list[JSON]]:
        """getNodesToDaemonPods: the set's pods by the node they run on or are pinned to."""
        uid = meta(ds).get("uid")
        out: dict[str, list[JSON]] = {}
        for pod in self.pods.cache.values():
            if meta(pod).get("namespace") != meta(ds).get("namespace"):
                continue
            if (controller_of(pod) or {}).get("uid") != uid:
                continue
            node = target_node(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        for pods in out.values():
            pods.sort(key=creation_order)
        return out

    async def _history(self, ds: JSON, revisions: list[JSON]) -> tuple[JSON, list[JSON]]:
        """constructHistory: (the revision matching the template, the older ones)."""
        data = template_patch(ds)
        probe = {"data": data}
        current = [r for r in revisions if same_data(r, probe)]
        old = [r for r in revisions if not same_data(r, probe)]
        number = next_revision(old)
        if current:
            cur = current[-1]
            if revision_number(cur) < number:
                cur = await self.revisions.renumber(cur, number)
            return cur, old
        status = ds.get("status") or {}
        collisions = status.get("collisionCount")
        hash_ = hash_template(((ds.get("spec") or {}).get("template") or {}),
                              None if collisions is None else int(collisions))
        body = new_revision(ds, DAEMONSET, data, number, hash_,
                            name=revision_name(str(meta(ds)["name"]), hash_))
        try:
            return await self.revisions.create(body), old
        except RevisionCollision:
            await self.merge_status(DAEMONSET, ds, {"collisionCount": int(collisions or 0) + 1})
            raise

    async def _manage(self, key: str, ds: JSON, nodes: list[JSON], hash_: str) -> bool:
        """Create missing daemon pods, delete excess/failed/misplaced ones."""
        by_node = self._daemon_pods(ds)
        surge = self._max_surge(ds, nodes) > 0
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        to_create: list[str] = []
        to_delete: list[JSON] = []
        for node in nodes:
            name = str(meta(node)["name"])
            run, keep = should_run(node, ds)
            pods = by_node.get(name, [])
            if run and not pods:
                to_create.append(name)
            elif keep:
                running = []
                for pod in pods:
                    if meta(pod).get("deletionTimestamp"):
                        continue
                    phase = (pod.get("status") or {}).get("phase")
                    if phase == "Failed":
                        wait = self._failed_backoff(key, name)
                        if wait > 0:
                            # The kubelet keeps rejecting it: don't fight it in a hot loop.
                            self.enqueue_after(key, wait)
                            continue
                        self.owner_event(
                            DAEMONSET, ds, "Warning", "FailedDaemonPod", "Delete",
                            f"Found failed daemon pod {meta(pod)['namespace']}/"
                            f"{meta(pod)['name']} on node {name}, will try to kill it", pod)
                        to_delete.append(pod)
                    elif phase == "Succeeded":
                        self.owner_event(
                            DAEMONSET, ds, "Normal", "SucceededDaemonPod", "Delete",
                            f"Found succeeded daemon pod {meta(pod)['namespace']}/"
                            f"{meta(pod)['name']} on node {name}, will try to delete it", pod)
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                to_delete.extend(excess_pods(running, hash_, surge=surge, min_ready=min_ready,
                                             now=self.clock.now()))
                if surge and run and not running:
                    to_create.append(name)
            elif pods:
                to_delete.extend(p for p in pods if not meta(p).get("deletionTimestamp"))
        # Pinned to a node that's gone and never scheduled: podgc can't see those.
        names = {str(meta(n)["name"]) for n in nodes}
        for node_name, pods in by_node.items():
            if node_name not in names:
                to_delete.extend(p for p in pods if not (p.get("spec") or {}).get("nodeName")
                                 and not meta(p).get("deletionTimestamp"))
        await self._sync_nodes(key, ds, to_delete, to_create, hash_)
        return bool(to_create or to_delete)

    def _failed_backoff(self, key: str, node: str) -> float:
        """Seconds to wait before deleting another failed pod on `node` (0: go ahead)."""
        now = self.clock.now()
        delay, not_before = self._backoff.get((key, node), (0.0, 0.0))
        if now < not_before:
            return not_before - now
        delay = min(max(1.0, delay * 2), _MAX_FAILED_BACKOFF)
        self._backoff[(key, node)] = (delay, now + delay)
        return 0.0

    async def _sync_nodes(
        self, key: str, ds: JSON, to_delete: list[JSON], to_create: list[str], hash_: str
    ) -> None:
        to_create = to_create[:BURST_REPLICAS]
        to_delete = to_delete[:BURST_REPLICAS]
        self.expectations.expect(key, adds=len(to_create), dels=len(to_delete))
        ns = str(meta(ds)["namespace"])
        template = self._pod_template(ds, hash_)
        # Slow start (1, 2, 4, ...): a systematic failure costs a few requests, not 250.
        pos, batch = 0, 1
        while pos < len(to_create):
            chunk = to_create[pos:pos + batch]
            failed = 0
            for node_name in chunk:
                pod = copy.deepcopy(template)
                pin_to_node(pod["spec"], node_name)
                try:
                    created = await self.client.create(POD.collection_path(ns), pod)
                except ApiError as e:
                    failed += 1
                    self.expectations.lower(key, adds=1)
                    self.owner_event(DAEMONSET, ds, "Warning", "FailedCreate", "Create",
                                     f"Error creating: {e.message}")
                    continue
                self.owner_event(DAEMONSET, ds, "Normal", "SuccessfulCreate", "Create",
                                 f"Created pod: {meta(created)['name']}", created)
            pos += len(chunk)
            if failed:
                self.expectations.lower(key, adds=len(to_create) - pos)
                raise ApiError(500, "InternalError", f"{failed} daemon pod creations failed")
            batch *= 2
        for pod in to_delete:
            name = str(meta(pod)["name"])
            try:
                await self.client.delete(f"{POD.collection_path(ns)}/{name}")
            except ApiError as e:
                self.expectations.lower(key, dels=1)
                self.owner_event(DAEMONSET, ds, "Warning", "FailedDelete", "Delete",
                                 f"Error deleting: {e.message}", pod)
                raise
            self.owner_event(DAEMONSET, ds, "Normal", "SuccessfulDelete", "Delete",
                             f"Deleted pod: {name}", pod)

    def _pod_template(self, ds: JSON, hash_: str) -> JSON:
        """CreatePodTemplate: the set's template plus hash label and daemon tolerations."""
        template = copy.deepcopy(((ds.get("spec") or {}).get("template")) or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels[HASH_LABEL] = hash_
        generation = (meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
        if generation:
            labels[TEMPLATE_GENERATION_LABEL] = str(generation)
        pod_meta: JSON = {
            "generateName": f"{meta(ds)['name']}-",
            "namespace": meta(ds)["namespace"],
            "labels": labels,
            "ownerReferences": [controller_ref(ds, DAEMONSET.api_version, DAEMONSET.kind)],
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        spec = template.get("spec") or {}
        daemon_tolerations(spec)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}

    # -- rolling update -----------------------------------------------------------------

    def _desired_nodes(self, ds: JSON, nodes: list[JSON]) -> int:
        return sum(1 for n in nodes if should_run(n, ds)[0])

    def _max_surge(self, ds: JSON, nodes: list[JSON]) -> int:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        ru = strategy.get("rollingUpdate") or {}
        return scaled(ru.get("maxSurge"), self._desired_nodes(ds, nodes), 0)

    def _max_unavailable(self, ds: JSON, nodes: list[JSON]) -> int:
        ru = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
        desired = self._desired_nodes(ds, nodes)
        value = scaled(ru.get("maxUnavailable"), desired, 1)
        if value == 0 and self._max_surge(ds, nodes) == 0:
            value = 1  # the API forbids both zero; stay safe if it happens anyway
        return value

    async def _rolling_update(self, key: str, ds: JSON, nodes: list[JSON], hash_: str) -> None:
        plan = plan_rolling_update(
            self._daemon_pods(ds), hash_,
            max_unavailable=self._max_unavailable(ds, nodes),
            max_surge=self._max_surge(ds, nodes),
            min_ready=int((ds.get("spec") or {}).get("minReadySeconds") or 0),
            now=self.clock.now(),
        )
        await self._sync_nodes(key, ds, plan.delete, plan.create_on, hash_)

    # -- history and status -------------------------------------------------------------

    async def _cleanup_history(self, ds: JSON, old: list[JSON]) -> None:
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10))
        live_hashes = {
            (meta(p).get("labels") or {}).get(HASH_LABEL)
            for pods in self._daemon_pods(ds).values() for p in pods
        }
        live = {str(meta(r)["name"]) for r in old
                if (meta(r).get("labels") or {}).get(HASH_LABEL) in live_hashes}
        await self.revisions.truncate(old, live, limit)

    async def _write_status(self, ds: JSON, nodes: list[JSON], hash_: str,
                            *, observed: bool) -> None:
        fields = daemon_status(ds, nodes, self._daemon_pods(ds), hash_, self.clock.now())
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and fields["numberReady"] != fields["numberAvailable"]:
            # Nothing else will wake us when minReadySeconds have passed.
            self.enqueue_after(f"{meta(ds)['namespace']}/{meta(ds)['name']}", min_ready)
        previous = ds.get("status") or {}
        generation = int(meta(ds).get("generation") or 0)
        unchanged = all(int(previous.get(k) or 0) == v for k, v in fields.items())
        if observed:
            fields["observedGeneration"] = generation
        if unchanged and (not observed
                          or int(previous.get("observedGeneration") or 0) >= generation):
            return  # a no-op write would still wake every watcher of the set
        await self.merge_status(DAEMONSET, ds, fields)
