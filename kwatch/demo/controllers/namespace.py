"""The namespace controller: empties a Terminating namespace, then finalizes it.

`DELETE /api/v1/namespaces/N` only marks the namespace (deletionTimestamp, phase
Terminating); its `spec.finalizers: [kubernetes]` keeps it until this controller, as
kube-controller-manager's (pkg/controller/namespace/deletion), has

1. waited `DELETION_DELAY` (5 s) after the event, so that last-moment creates land first;
2. discovered every namespaced resource the server lists and deletes,
3. deleted each one's content with a DELETE on the collection — through the API, so pods
   are deleted gracefully and their kubelets run preStop hooks and SIGTERM as usual,
4. recorded the outcome as the namespace's five deletion conditions,
5. come back (after half the longest grace period, plus 1 s) while anything remains,
6. and finally PUT `/api/v1/namespaces/N/finalize` without `kubernetes`; that write is
   what removes the namespace.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import ResourceKind
from kwatch.demo.client import ApiError
from kwatch.demo.controllers._objects import meta
from kwatch.demo.controllers.base import Controller, register

log = logging.getLogger(__name__)

# kube-core has no kind for namespaces (kwatch doesn't watch them); this one is local.
NAMESPACE = ResourceKind("Namespace", "", "v1", "namespaces", namespaced=False)
FINALIZER = "kubernetes"
# namespaceDeletionGracePeriod: lets HA API servers observe the deletion (and creates
# racing it reach storage) before the content is listed.
DELETION_DELAY = 5.0

# The condition each deletion pass reports when all went well (status False), as the
# real controller's okReasons / okMessages.
_OK: dict[str, tuple[str, str]] = {
    "NamespaceDeletionDiscoveryFailure": (
        "ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": (
        "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": (
        "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": (
        "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


@dataclass(frozen=True, slots=True)
class _Resource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{root}/namespaces/{namespace}/{self.plural}"

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}"  # "pods." as in the real message


@dataclass(slots=True)
class _Pass:
    """What one deletion pass found left over."""

    remaining: dict[str, int]
    finalizers: dict[str, int]
    estimate: int  # seconds until the remaining content is expected to be gone


@register
class NamespaceController(Controller):
    name = "namespace-controller"
    concurrent_syncs = 10  # kube-controller-manager --concurrent-namespace-syncs

    def setup(self) -> None:
        self.namespaces = self.informer(NAMESPACE, self._on_namespace)

    def _on_namespace(self, type_: str, old: Any, new: Any) -> None:
        # Only deleted namespaces need work; the delay is the real controller's.
        if new is not None and meta(new).get("deletionTimestamp"):
            self.enqueue_after(object_key(new), DELETION_DELAY)

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.cache.get(key)
        if ns is None or not meta(ns).get("deletionTimestamp"):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return  # already finalized by us; other finalizers are not ours to wait for
        found = await self._delete_content(key)
        await self._set_conditions(ns, found)
        if found.remaining:
            # ResourcesRemainingError: look again once half the grace is over.
            self.enqueue_after(key, found.estimate // 2 + 1)
            return
        await self._finalize(key)

    async def _discover(self) -> list[_Resource]:
        """Every namespaced resource (preferred version of each group) that can be listed
        and deleted, as ServerPreferredNamespacedResources filtered by verbs."""
        versions = [("", "v1")]
        groups = await self.client.get("/apis") or {}
        for g in groups.get("groups") or []:
            preferred = (g.get("preferredVersion") or {}).get("version")
            if preferred:
                versions.append((str(g["name"]), str(preferred)))
        out: list[_Resource] = []
        for group, version in versions:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            listing = await self.client.get(path) or {}
            for r in listing.get("resources") or []:
                verbs = set(r.get("verbs") or [])
                if ("/" in r["name"] or not r.get("namespaced")
                        or not {"list", "delete"} <= verbs):
                    continue
                out.append(_Resource(group, version, str(r["name"])))
        return out

    async def _delete_content(self, namespace: str) -> _Pass:
        found = _Pass({}, {}, 0)
        for res in await self._discover():
            path = res.path(namespace)
            if res.plural == "pods":
                # estimateGracefulTermination: the longest grace of the pods still running.
                pods, _ = await self.client.list(path)
                for pod in pods:
                    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                        continue
                    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
                    found.estimate = max(found.estimate, int(grace or 0))
            # A collection DELETE with the default grace: pods terminate gracefully.
            await self.client.delete(path)
            items, _ = await self.client.list(path)
            if not items:
                continue
            found.remaining[res.qualified] = len(items)
            for item in items:
                for f in meta(item).get("finalizers") or []:
                    found.finalizers[f] = found.finalizers.get(f, 0) + 1
        return found

    async def _set_conditions(self, ns: JSON, found: _Pass) -> None:
        """Write the five conditions if any changed (lastTransitionTime kept when not)."""
        now = self.clock.rfc3339()
        wanted: dict[str, tuple[str, str, str]] = {
            t: ("False", reason, message) for t, (reason, message) in _OK.items()}
        if found.remaining:
            listed = ", ".join(sorted(f"{r} has {n} resource instances"
                                      for r, n in found.remaining.items()))
            wanted["NamespaceContentRemaining"] = (
                "True", "SomeResourcesRemain", f"Some resources are remaining: {listed}")
        if found.finalizers:
            listed = ", ".join(sorted(f"{f} in {n} resource instances"
                                      for f, n in found.finalizers.items()))
            wanted["NamespaceFinalizersRemaining"] = (
                "True", "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {listed}")
        current = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
        conditions: list[JSON] = []
        changed = False
        for type_, (status, reason, message) in wanted.items():
            old = current.get(type_)
            if (old is not None and old.get("status") == status
                    and old.get("reason") == reason and old.get("message") == message):
                conditions.append(old)
                continue
            changed = True
            conditions.append({"type": type_, "status": status, "lastTransitionTime": now,
                               "reason": reason, "message": message})
        if changed:
            await self.merge_status(NAMESPACE, ns, {"conditions": conditions})

    async def _finalize(self, name: str) -> None:
        """PUT .../finalize without our finalizer, read fresh: the cache may lag behind
        the status write just made (a stale resourceVersion would get 409)."""
        path = f"{NAMESPACE.collection_path()}/{name}"
        ns = await self.client.get(path)
        if ns is None:
            return
        body = copy.deepcopy(ns)
        spec = body.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.update(f"{path}/finalize", body)
        except ApiError as e:
            if e.code != 404:  # 409: requeued with backoff, like any error
                raise
        log.info("namespace controller: finalized namespace %s", name)
