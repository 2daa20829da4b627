"""Ownership between a controller's objects and their children: resolve, select, claim.

After k8s.io/kubernetes pkg/controller (resolveControllerRef, ControllerRefManager). The
replicaset controller claims pods and the deployment controller claims ReplicaSets by
the same rules, so the rules live here once:

- a child whose controller reference names another owner is left alone;
- an owned child that still matches the selector is claimed; one that stopped matching
  is released (its controller reference removed), unless the owner is being deleted;
- a matching orphan is adopted — after re-reading the owner from the API server, since
  adopting for an owner that is already gone or being deleted would only have the
  garbage collector orphan the child again.

Adopt and release are strategic-merge patches of `metadata.ownerReferences` carrying
the child's uid, so they fail (and are skipped) if the child was re-created meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kwatch.core.events import JSON
from kwatch.core.kinds import ResourceKind
from kwatch.core.labels import Selector
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.controllers._objects import (
    controller_of,
    controller_ref,
    is_terminating,
    labels_of,
    meta,
    selector_matches,
    typed_copy,
)

# Gone, re-created under the same name (the uid precondition fails: 422), or changed:
# not ours to fix — the next sync sees the new state.
_SKIPPED = (404, 409, 422)


def resolve_controller_ref(
    owners: Mapping[str, JSON], kind: str, child: JSON, ref: JSON | None
) -> str | None:
    """resolveControllerRef: the cache key of the `kind` owner `ref` names, if cached with
    the same uid (an owner re-created under the same name is another owner)."""
    if ref is None or ref.get("kind") != kind:
        return None
    key = f"{meta(child).get('namespace')}/{ref.get('name')}"
    owner = owners.get(key)
    if owner is None or meta(owner).get("uid") != ref.get("uid"):
        return None
    return key


def owners_selecting(owners: Mapping[str, JSON], child: JSON) -> list[str]:
    """Cache keys of the owners in `child`'s namespace whose spec.selector matches it:
    who may want to adopt an orphan."""
    ns = meta(child).get("namespace")
    return [key for key, owner in owners.items()
            if meta(owner).get("namespace") == ns
            and selector_matches((owner.get("spec") or {}).get("selector"), child)]


class RefManager:
    """ControllerRefManager for one owner during one sync."""

    def __init__(self, client: KubeClient, owner: JSON, owner_kind: ResourceKind,
                 child_kind: ResourceKind, selector: Selector) -> None:
        self.client = client
        self.owner = owner
        self.owner_kind = owner_kind
        self.child_kind = child_kind
        self.selector = selector
        self._can_adopt: bool | None = None  # asked the server once per sync, if needed

    async def claim(self, children: Iterable[JSON]) -> list[JSON]:
        """The children this owner manages, after adopting and releasing (ClaimObject)."""
        uid = meta(self.owner).get("uid")
        owner_gone = is_terminating(self.owner)
        claimed: list[JSON] = []
        for child in children:
            ref = controller_of(child)
            matches = self.selector.matches(labels_of(child))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue  # someone else's
                if matches:
                    claimed.append(child)
                elif not owner_gone:
                    await self._patch_owner(child, {"$patch": "delete", "uid": uid})
                continue
            if not matches or owner_gone or is_terminating(child):
                continue
            if await self.can_adopt():
                ref = controller_ref(self.owner, self.owner_kind.api_version,
                                     self.owner_kind.kind)
                adopted = await self._patch_owner(child, ref)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    async def can_adopt(self) -> bool:
        """RecheckDeletionTimestamp: the owner still exists (same uid), not being deleted."""
        if self._can_adopt is None:
            m = meta(self.owner)
            fresh = await self.client.get(
                f"{self.owner_kind.collection_path(m.get('namespace'))}/{m['name']}")
            self._can_adopt = (fresh is not None and meta(fresh).get("uid") == m.get("uid")
                               and not is_terminating(fresh))
        return self._can_adopt

    async def _patch_owner(self, child: JSON, owner_ref_patch: JSON) -> JSON | None:
        """Strategic-merge one ownerReference in (adopt) or out (`$patch: delete`)."""
        m = meta(child)
        path = f"{self.child_kind.collection_path(m['namespace'])}/{m['name']}"
        patch = {"metadata": {"ownerReferences": [owner_ref_patch], "uid": m["uid"]}}
        try:
            fresh = await self.client.patch(path, patch, "strategic")
        except ApiError as e:
            if e.code in _SKIPPED:
                return None
            raise
        return typed_copy(fresh, self.child_kind.api_version, self.child_kind.kind)
