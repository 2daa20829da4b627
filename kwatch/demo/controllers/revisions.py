"""ControllerRevision history, shared by the StatefulSet and DaemonSet controllers.

Both controllers snapshot their pod template into a ControllerRevision and stamp every pod
they create with that revision's hash (label `controller-revision-hash`): comparing a
pod's label with the newest revision is how "this pod is outdated" is decided, which is
exactly what kwatch shows during a rollout. This module reimplements the behaviour of
k8s.io/kubernetes/pkg/controller/history:

- the revision's `data` is a strategic-merge patch that *replaces* `spec.template`
  (`{"spec": {"template": {..., "$patch": "replace"}}}`), serialised with sorted keys as
  Go's encoding/json does for maps;
- the hash, rendered as decimal and mapped through the "safe" alphabet (no vowels, so no
  accidental words), is FNV-1 of that data plus the collision count for a StatefulSet
  (`hash_revision`), and the pod-template hash for a DaemonSet (`hash_template`);
- the name is `<parent>-<hash>`; the revision carries the hash as its
  `controller-revision-hash` label. A StatefulSet's pods carry the revision *name* in that
  label, a DaemonSet's pods the bare hash — as on a real cluster;
- two revisions with equal data are the same revision, and a roll-back re-uses the old
  one by bumping its `revision` number;
- history beyond `revisionHistoryLimit` is pruned, oldest first, never one in use.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import orjson

from kwatch.core.events import JSON
from kwatch.core.kinds import ResourceKind
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.controllers._objects import controller_of, controller_ref
from kwatch.demo.controllers.hashing import compute_hash, safe_encode

CONTROLLER_REVISION = ResourceKind("ControllerRevision", "apps", "v1", "controllerrevisions")

HASH_LABEL = "controller-revision-hash"

# Object names are at most 253 characters; the hash suffix needs room.
_MAX_PREFIX = 223

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32(data: bytes) -> int:
    """FNV-1 (multiply, then xor): what history.HashControllerRevision uses (the
    DaemonSet's template hash is FNV-1a, see `kwatch.demo.controllers.hashing`)."""
    h = _FNV_OFFSET
    for b in data:
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
        h ^= b
    return h


def canonical(value: Any) -> bytes:
    """Compact JSON with sorted keys: stable bytes for hashing and comparing revisions."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def template_patch(parent: JSON) -> JSON:
    """The revision data of a StatefulSet/DaemonSet: its template, as a replacing patch."""
    template = copy.deepcopy(parent.get("spec", {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def hash_revision(data: JSON, collision_count: int | None) -> str:
    """Hash of a revision's data (StatefulSet revision names and hash labels)."""
    raw = canonical(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


def hash_template(template: JSON, collision_count: int | None) -> str:
    """Hash of a pod template (DaemonSet revision names and pods' hash labels).

    The DaemonSet controller uses controller.ComputeHash here, the same function that
    names a Deployment's ReplicaSets, so we share the deployment controller's version.
    """
    return compute_hash(template, collision_count)


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def new_revision(
    parent: JSON, parent_kind: ResourceKind, data: JSON, number: int, hash_: str, *, name: str
) -> JSON:
    """A ControllerRevision body for `parent` (labels: template labels + the hash)."""
    meta = parent["metadata"]
    template_meta = parent.get("spec", {}).get("template", {}).get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    labels[HASH_LABEL] = hash_
    body: JSON = {
        "apiVersion": CONTROLLER_REVISION.api_version,
        "kind": CONTROLLER_REVISION.kind,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [
                controller_ref(parent, parent_kind.api_version, parent_kind.kind)
            ],
        },
        "data": data,
        "revision": number,
    }
    if meta.get("annotations"):
        # Both controllers copy the parent's annotations (kubectl rollout history reads
        # the change-cause from here).
        body["metadata"]["annotations"] = dict(meta["annotations"])
    return body


def revision_number(rev: JSON) -> int:
    return int(rev.get("revision") or 0)


def sort_revisions(revisions: Iterable[JSON]) -> list[JSON]:
    """Oldest first: by revision number, then creation time, then name (history.byRevision)."""
    return sorted(
        revisions,
        key=lambda r: (
            revision_number(r),
            r.get("metadata", {}).get("creationTimestamp") or "",
            r.get("metadata", {}).get("name") or "",
        ),
    )


def next_revision(revisions: Iterable[JSON]) -> int:
    return max((revision_number(r) for r in revisions), default=0) + 1


def same_data(a: JSON, b: JSON) -> bool:
    return canonical(a.get("data")) == canonical(b.get("data"))


def owned_by(obj: JSON, owner_uid: str) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner_uid


class RevisionCollision(Exception):
    """A revision with the wanted name exists but holds different data."""


class RevisionStore:
    """Create, re-number and prune ControllerRevisions through the API."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def _path(self, namespace: str, name: str | None = None) -> str:
        base = CONTROLLER_REVISION.collection_path(namespace)
        return f"{base}/{name}" if name else base

    async def list_owned(self, namespace: str, owner_uid: str) -> list[JSON]:
        """The parent's revisions, oldest first. Read from the API, not a cache: a
        stale view would number a new revision twice."""
        items, _ = await self.client.list(self._path(namespace))
        return sort_revisions(r for r in items if owned_by(r, owner_uid))

    async def create(self, body: JSON) -> JSON:
        """Create `body`; an existing revision with equal data is the same revision."""
        meta = body["metadata"]
        try:
            return await self.client.create(self._path(meta["namespace"]), body)
        except ApiError as e:
            if e.code != 409:
                raise
        existing = await self.client.get(self._path(meta["namespace"], meta["name"]))
        if existing is not None and same_data(existing, body):
            return existing
        raise RevisionCollision(meta["name"])

    async def renumber(self, rev: JSON, number: int) -> JSON:
        """Make an old revision the newest again (a roll-back to an earlier template)."""
        if revision_number(rev) == number:
            return rev
        meta = rev["metadata"]
        for _ in range(5):
            updated = copy.deepcopy(rev)
            updated["revision"] = number
            try:
                return await self.client.update(self._path(meta["namespace"], meta["name"]),
                                                updated)
            except ApiError as e:
                if e.code != 409:
                    raise
                fresh = await self.client.get(self._path(meta["namespace"], meta["name"]))
                if fresh is None:
                    raise
                rev = fresh
        return rev

    async def truncate(self, revisions: list[JSON], live: set[str], limit: int) -> None:
        """Delete the oldest revisions no pod uses, keeping `limit` of them."""
        history = [r for r in sort_revisions(revisions) if r["metadata"]["name"] not in live]
        if limit < 0 or len(history) <= limit:
            return
        for rev in history[: len(history) - limit]:
            meta = rev["metadata"]
            await self.client.delete(self._path(meta["namespace"], meta["name"]))
