"""DELETE semantics: graceful pod deletion, finalizers, preconditions, propagation.

What the lessons are about happens here: a scheduled pod is not removed but marked
(deletionTimestamp = now + grace, deletionGracePeriodSeconds), and stays until its
kubelet deletes it again with grace 0; an object with finalizers stays until the last
one is removed; a namespace turns Terminating until the namespace controller has emptied
and finalized it; everything else goes at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kwatch.core.labels import Selector
from kwatch.demo.api.errors import ApiError, bad_request, precondition_failed
from kwatch.demo.api.meta import rfc3339
from kwatch.demo.api.registry import ResourceDef
from kwatch.demo.api.selectors import FieldSelector

if TYPE_CHECKING:
    from kwatch.demo.api.collection import Collection
    from kwatch.demo.api.entry import Entry
    from kwatch.demo.api.storage import Storage

JSON = dict[str, Any]
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


def grace_period(canon: ResourceDef, obj: JSON, requested: int | None) -> int:
    """Pods are deleted gracefully once a kubelet owns them; everything else at once."""
    if canon.plural != "pods":
        return 0
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds")
    return max(30 if grace is None else int(grace), 0)


def _check_preconditions(rdef: ResourceDef, name: str, entry: Entry, pre: JSON) -> None:
    if pre.get("uid") and pre["uid"] != entry.uid:
        raise precondition_failed(rdef.plural, rdef.group, name, "UID", pre["uid"], entry.uid)
    if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(entry.rv):
        raise precondition_failed(rdef.plural, rdef.group, name, "ResourceVersion",
                                  pre["resourceVersion"], entry.rv)


def delete_entry(
    storage: Storage,
    rdef: ResourceDef,
    namespace: str | None,
    name: str,
    *,
    grace: int | None = None,
    propagation: str | None = None,
    preconditions: JSON | None = None,
    dry_run: bool = False,
) -> tuple[Entry, bool]:
    """(object after the call, whether it is gone now)."""
    coll = storage.collection(rdef)
    entry = storage.get_entry(rdef, namespace, name)
    _check_preconditions(rdef, name, entry, preconditions or {})
    if propagation and propagation not in PROPAGATION_POLICIES:
        raise bad_request(f"propagationPolicy: Unsupported value: {propagation!r}")
    obj = entry.obj()
    meta: JSON = obj["metadata"]
    if coll.rdef.kind == "Namespace":
        return _delete_namespace(storage, coll, entry, dry_run)
    grace_now = grace_period(coll.rdef, obj, grace)
    if dry_run:
        return entry, False
    if propagation == "Orphan":
        storage.gc.orphan_dependents(entry.uid)
    finalizers: list[str] = list(meta.get("finalizers") or [])
    if (propagation == "Foreground" and storage.gc.enabled and storage.dependents.get(entry.uid)
            and "foregroundDeletion" not in finalizers):
        finalizers.append("foregroundDeletion")

    if meta.get("deletionTimestamp"):
        current = meta.get("deletionGracePeriodSeconds")
        if current is None or grace_now >= int(current):
            return entry, False  # already being deleted, no sooner than asked
        # A shorter grace period wins (the kubelet's final grace-0 delete).
        meta["deletionGracePeriodSeconds"] = grace_now
        meta["deletionTimestamp"] = rfc3339(storage.clock() + grace_now)
        if grace_now == 0 and not finalizers:
            return storage.remove(coll, obj, entry), True
        return storage.commit(coll, "MODIFIED", obj, entry), False

    if grace_now == 0 and not finalizers:
        return storage.remove(coll, obj, entry), True
    if finalizers:
        meta["finalizers"] = finalizers
    meta["deletionTimestamp"] = rfc3339(storage.clock() + grace_now)
    meta["deletionGracePeriodSeconds"] = grace_now
    if meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1
    updated = storage.commit(coll, "MODIFIED", obj, entry)
    if "foregroundDeletion" in finalizers:
        storage.gc.delete_dependents(entry.uid, "Foreground")
    return updated, False


def _delete_namespace(storage: Storage, coll: Collection, entry: Entry,
                      dry_run: bool) -> tuple[Entry, bool]:
    """The namespace REST's Delete: the first DELETE only marks it Terminating — the
    namespace controller then empties it and finalizes it; later DELETEs change nothing
    until its spec finalizers are gone (then it goes, if no metadata finalizer holds it)."""
    obj = entry.obj()
    meta: JSON = obj["metadata"]
    if not meta.get("deletionTimestamp"):
        if dry_run:
            return entry, False
        meta["deletionTimestamp"] = storage.now()
        obj.setdefault("status", {})["phase"] = "Terminating"
        return storage.commit(coll, "MODIFIED", obj, entry), False
    if (obj.get("spec") or {}).get("finalizers") or meta.get("finalizers") or dry_run:
        return entry, False
    return storage.remove(coll, obj, entry), True


def delete_collection(
    storage: Storage,
    rdef: ResourceDef,
    namespace: str | None,
    labels: Selector | None,
    fields: FieldSelector | None,
    *,
    grace: int | None = None,
    propagation: str | None = None,
    dry_run: bool = False,
) -> list[Entry]:
    """Delete every selected object; returns each one as the delete left it."""
    page = storage.list_page(rdef, namespace, labels, fields)
    out: list[Entry] = []
    for e in page.entries:
        name = str(e.obj()["metadata"]["name"])
        try:
            after, _ = delete_entry(storage, rdef, e.namespace or None, name, grace=grace,
                                    propagation=propagation, dry_run=dry_run)
        except ApiError as err:
            if err.code != 404:  # the garbage collector may have taken it meanwhile
                raise
            continue
        out.append(after)
    return out
