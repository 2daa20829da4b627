"""The taint eviction controller: pods leave nodes whose NoExecute taints they don't tolerate.

Split out of the node lifecycle controller in Kubernetes 1.29 (`taint-eviction-controller`),
and reimplemented after pkg/controller/tainteviction:

- a pod on a node with NoExecute taints it doesn't all tolerate is evicted at once;
- if it tolerates them all, it is evicted after the smallest `tolerationSeconds` of the
  tolerations used, counted from when this controller saw the taint (the admission
  plugin DefaultTolerationSeconds gives every pod 300 s for not-ready and unreachable —
  the embedded API server applies it too); no `tolerationSeconds` means never;
- eviction = `TaintManagerEviction` Event "Marking for deletion Pod ns/name", a
  `DisruptionTarget` condition on the pod, then an ordinary (graceful) delete. On a dead
  node nothing confirms the deletion, so the pod stays Terminating until podgc (or a
  user) force-deletes it;
- when the taints go before the time is up, the eviction is cancelled
  ("Cancelling deletion of Pod ns/name").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import NODE, POD
from kwatch.demo.client import ApiError
from kwatch.demo.controllers._objects import meta, typed_copy
from kwatch.demo.controllers.base import Controller, register, split_key
from kwatch.demo.placement import node_taints, tolerates

log = logging.getLogger(__name__)

REASON = "TaintManagerEviction"


def matching_tolerations(taints: list[JSON],
                         tolerations: list[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
    """GetMatchingTolerations: the toleration used per taint, or None if one isn't tolerated."""
    used: list[Mapping[str, Any]] = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return None
        used.append(match)
    return used


def min_toleration_seconds(used: list[Mapping[str, Any]]) -> float | None:
    """The shortest tolerationSeconds (negative counts as 0); None means "forever"."""
    seconds = [max(0.0, float(t["tolerationSeconds"])) for t in used
               if t.get("tolerationSeconds") is not None]
    return min(seconds) if seconds else None


@dataclass
class _Scheduled:
    uid: str
    created: float
    fire_at: float
    done: bool = False  # evicted: kept so the pod isn't evicted twice


@register
class TaintEvictionController(Controller):
    name = "taint-eviction-controller"
    concurrent_syncs = 1  # evictions are shared state; the demo needs no parallelism

    def setup(self) -> None:
        self.nodes = self.informer(NODE, self._on_node)
        self.pods = self.informer(POD, self._on_pod)
        self._scheduled: dict[str, _Scheduled] = {}  # pod key → eviction

    # -- event handlers ------------------------------------------------------------------

    def _on_node(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is None:
            return
        if old is not None and _noexecute(old) == _noexecute(new):
            return
        self.enqueue(f"node/{meta(new)['name']}")

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is None:
            key = object_key(old or {})
            self._scheduled.pop(key, None)  # gone: nothing to cancel loudly
            return
        spec, old_spec = new.get("spec") or {}, (old or {}).get("spec") or {}
        if not spec.get("nodeName"):
            return
        if old is not None and spec.get("nodeName") == old_spec.get("nodeName") and (
            spec.get("tolerations") == old_spec.get("tolerations")
        ):
            return  # only where it runs and what it tolerates matter here
        self.enqueue(f"pod/{object_key(new)}")

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "node":
            node = self.nodes.cache.get(rest)
            taints = _noexecute(node) if node is not None else []
            now = self.clock.now()
            for pod in list(self.pods.cache.values()):
                if (pod.get("spec") or {}).get("nodeName") == rest:
                    self._process(pod, taints, now)
        elif kind == "pod":
            found = self.pods.cache.get(rest)
            if found is None:
                self._scheduled.pop(rest, None)
                return
            where = self.nodes.cache.get(str((found.get("spec") or {}).get("nodeName")))
            self._process(found, _noexecute(where) if where is not None else [],
                          self.clock.now())
        elif kind == "evict":
            await self._evict(rest)

    def _process(self, pod: JSON, taints: list[JSON], now: float) -> None:
        """processPodOnNode: schedule, reschedule or cancel the pod's eviction."""
        key = object_key(pod)
        if meta(pod).get("deletionTimestamp"):
            return  # already on its way out
        if not taints:
            self._cancel(pod)
            return
        used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        if used is None:
            self._cancel(pod)
            self._schedule(key, pod, now, now)  # an untolerated taint: evict right away
            return
        seconds = min_toleration_seconds(used)
        if seconds is None:
            self._cancel(pod)  # tolerated forever
            return
        existing = self._scheduled.get(key)
        if existing is not None:
            return  # the first deadline stands (as the real queue keeps it)
        self._schedule(key, pod, now, now + seconds)

    def _schedule(self, key: str, pod: JSON, created: float, fire_at: float) -> None:
        self._scheduled[key] = _Scheduled(str(meta(pod).get("uid")), created, fire_at)
        self.enqueue_after(f"evict/{key}", fire_at - self.clock.now())

    def _cancel(self, pod: JSON) -> None:
        key = object_key(pod)
        if self._scheduled.pop(key, None) is not None:
            self.recorder.event(typed_copy(pod, "v1", "Pod"), "Normal", REASON, "Cancelling",
                                f"Cancelling deletion of Pod {key}")

    async def _evict(self, key: str) -> None:
        job = self._scheduled.get(key)
        if job is None or job.done:
            return
        if self.clock.now() < job.fire_at:
            self.enqueue_after(f"evict/{key}", job.fire_at - self.clock.now())
            return  # rescheduled meanwhile
        pod = self.pods.cache.get(key)
        if pod is None or str(meta(pod).get("uid")) != job.uid:
            self._scheduled.pop(key, None)
            return
        self.recorder.event(typed_copy(pod, "v1", "Pod"), "Normal", REASON, "Delete",
                            f"Marking for deletion Pod {key}")
        ns, name = split_key(key)
        path = f"{POD.collection_path(ns)}/{name}"
        condition = {
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": self.clock.rfc3339(),
        }
        try:
            await self.client.patch(f"{path}/status", {"status": {"conditions": [condition]}},
                                    "strategic")
            # An ordinary delete: the pod's own grace period, as `kubectl delete` would.
            await self.client.delete(path, uid=job.uid)
        except ApiError as e:
            if e.code in (404, 409):
                self._scheduled.pop(key, None)  # gone, or replaced by a namesake
                return
            raise
        job.done = True


def _noexecute(node: JSON) -> list[JSON]:
    return [t for t in node_taints(node) if t.get("effect") == "NoExecute"]
