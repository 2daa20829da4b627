"""Owner-reference garbage collection (kube-controller-manager's garbage collector).

The demo cluster runs no garbage-collector controller, yet deleting a Deployment must
take its ReplicaSets and their Pods with it, or every demo teardown would leave
orphans. So storage does it, synchronously after each removal, with the real
semantics of `propagationPolicy`:

- Background (default): the owner goes at once, then its dependents are deleted
  (pods gracefully, as the real collector's deletes are);
- Foreground: the owner stays with the `foregroundDeletion` finalizer until its
  dependents are gone;
- Orphan: dependents lose their ownerReference and stay.

A dependent that still has another live owner only loses the dangling reference.
Set `enabled = False` to turn it off (tests of a controller's own cleanup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kwatch.demo.api.errors import ApiError

if TYPE_CHECKING:
    from kwatch.demo.api.collection import Collection
    from kwatch.demo.api.entry import Entry
    from kwatch.demo.api.storage import Storage

MANAGER = "generic-garbage-collector"


class GarbageCollector:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.enabled = True

    def _dependents(self, uid: str) -> list[tuple[Collection, Entry]]:
        out: list[tuple[Collection, Entry]] = []
        for sid, key in sorted(self.storage.dependents.get(uid, ())):
            found = self.storage.entry_by_uid_at(sid, key)
            if found is not None:
                out.append(found)
        return out

    def _drop_owner(self, coll: Collection, dep: Entry, owner_uid: str) -> None:
        obj = dep.obj()
        meta = obj["metadata"]
        meta["ownerReferences"] = [
            r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner_uid
        ]
        if not meta["ownerReferences"]:
            del meta["ownerReferences"]
        self.storage.apply_update(coll.rdef, dep, obj, manager=MANAGER)

    def _delete(self, coll: Collection, dep: Entry, propagation: str) -> None:
        name = str(dep.obj()["metadata"]["name"])
        try:
            self.storage.delete_entry(coll.rdef, dep.namespace or None, name,
                                      propagation=propagation)
        except ApiError as e:
            if e.code != 404:  # already taken by an earlier cascade step
                raise

    def delete_dependents(self, uid: str, propagation: str) -> None:
        for coll, dep in self._dependents(uid):
            self._delete(coll, dep, propagation)

    def orphan_dependents(self, uid: str) -> None:
        for coll, dep in self._dependents(uid):
            self._drop_owner(coll, dep, uid)

    def on_removed(self, gone: Entry) -> None:
        if not self.enabled:
            return
        for coll, dep in self._dependents(gone.uid):
            live = [o for o in dep.owners if o != gone.uid and o in self.storage.uids]
            if live:
                self._drop_owner(coll, dep, gone.uid)
            else:
                self._delete(coll, dep, "Background")
        for owner in gone.owners:
            self._finish_foreground(owner)

    def _finish_foreground(self, owner_uid: str) -> None:
        """An owner deleted in the foreground goes once its last dependent is gone."""
        found = self.storage.entry_by_uid(owner_uid)
        if found is None or self._dependents(owner_uid):
            return
        coll, owner = found
        obj = owner.obj()
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or "foregroundDeletion" not in (
            meta.get("finalizers") or []
        ):
            return
        meta["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
        self.storage.apply_update(coll.rdef, owner, obj, manager=MANAGER)
