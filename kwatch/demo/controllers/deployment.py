"""The deployment controller: Deployments → ReplicaSets, revision by revision.

It never touches pods. For each Deployment it keeps one ReplicaSet per pod template
(named `<deployment>-<pod-template-hash>`), sizes the new one up and the old ones down
within maxSurge / maxUnavailable (RollingUpdate) or all-old-then-new (Recreate), and
reports progress in the Deployment's status. Pods are the replicaset controller's job.

The decision procedure lives in `_deploysync.DeploymentSync`; this module wires the
informers (Deployments, ReplicaSets, Pods) to the work queue and owns ReplicaSet
adoption, as kube-controller-manager's DeploymentController does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import DEPLOYMENT, POD, REPLICASET
from kwatch.core.labels import Selector
from kwatch.demo.controllers._claims import RefManager, owners_selecting, resolve_controller_ref
from kwatch.demo.controllers._deploysync import DeploymentSync
from kwatch.demo.controllers._objects import (
    controller_of,
    is_terminating,
    labels_of,
    meta,
    typed_copy,
)
from kwatch.demo.controllers.base import Controller, register

log = logging.getLogger(__name__)


@register
class DeploymentController(Controller):
    name = "deployment-controller"
    concurrent_syncs = 5  # kube-controller-manager's --concurrent-deployment-syncs

    def setup(self) -> None:
        self.deployments = self.informer(DEPLOYMENT, self._on_deployment)
        self.replicasets = self.informer(REPLICASET, self._on_replicaset)
        # Pods only matter for Recreate, which waits until the old pods are gone.
        self.pods = self.informer(POD, self._on_pod)

    async def reconcile(self, key: str) -> None:
        cached = self.deployments.cache.get(key)
        if cached is None:
            return  # deleted: the garbage collector removes its ReplicaSets
        d = typed_copy(cached, "apps/v1", "Deployment")
        await DeploymentSync(self, d).run()

    # -- cache queries -------------------------------------------------------------------

    def pods_in(self, namespace: str) -> Iterator[JSON]:
        return (p for p in self.pods.cache.values() if meta(p).get("namespace") == namespace)

    def _replicasets_in(self, namespace: str) -> list[JSON]:
        return [rs for rs in self.replicasets.cache.values()
                if meta(rs).get("namespace") == namespace]

    def _owner_key(self, obj: JSON, ref: JSON | None) -> str | None:
        """The key of the Deployment `ref` points at, if it is the one we cache."""
        return resolve_controller_ref(self.deployments.cache, DEPLOYMENT.kind, obj, ref)

    # -- informer handlers: only enqueue -------------------------------------------------

    def _on_deployment(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        obj = new if new is not None else old
        if obj is not None:
            self.enqueue(object_key(obj))

    def _on_replicaset(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if type_ == "DELETED" or (new is not None and is_terminating(new) and old is None):
            rs = old if old is not None else new
            if rs is not None and (key := self._owner_key(rs, controller_of(rs))):
                self.enqueue(key)
            return
        if new is None:
            return
        old_ref = controller_of(old) if old is not None else None
        new_ref = controller_of(new)
        if old is not None and old_ref != new_ref and (key := self._owner_key(old, old_ref)):
            self.enqueue(key)  # the previous owner lost a ReplicaSet
        if new_ref is not None:
            if key := self._owner_key(new, new_ref):
                self.enqueue(key)
            return
        # An orphan: every Deployment selecting it may want to adopt it.
        if old is None or labels_of(old) != labels_of(new) or old_ref != new_ref:
            for key in owners_selecting(self.deployments.cache, new):
                self.enqueue(key)

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if type_ != "DELETED" or old is None:
            return
        # A Recreate rollout waits for the last old pod to be gone before scaling up.
        ref = controller_of(old)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.cache.get(f"{meta(old).get('namespace')}/{ref.get('name')}")
        if rs is None:
            return
        key = self._owner_key(rs, controller_of(rs))
        if key is None:
            return
        d = self.deployments.cache.get(key) or {}
        if ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(key)

    # -- ownership -----------------------------------------------------------------------

    async def claim_replicasets(self, d: JSON, selector: Selector) -> list[JSON]:
        """The Deployment's ReplicaSets, adopting matching orphans and releasing misfits.

        (ControllerRefManager.ClaimReplicaSets.) Returns private copies.
        """
        cached = self._replicasets_in(str(meta(d).get("namespace")))
        claims = RefManager(self.client, d, DEPLOYMENT, REPLICASET, selector)
        return await claims.claim(typed_copy(rs, "apps/v1", "ReplicaSet") for rs in cached)
