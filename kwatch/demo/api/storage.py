"""The API server's storage: every resource's objects under one global resourceVersion.

Like etcd behind kube-apiserver, every write gets the next resourceVersion (a decimal
string to clients); each resource type keeps a bounded history so watches can resume
and paged lists stay consistent until compaction. This module applies the generic
registry's semantics (system metadata, generation, managedFields, optimistic
concurrency, graceful deletion, finalizers, status/main separation); the HTTP layer and
in-process callers share it, so both see exactly the same behaviour.

All methods are synchronous and must run on the event loop thread that serves HTTP:
watchers are fed at commit time.
"""

from __future__ import annotations

import bisect
import builtins
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kwatch.core.labels import Selector
from kwatch.demo.api import admission, defaults, deletion, managed, paging, strategy, validation
from kwatch.demo.api.collection import Collection, TooOld, object_key
from kwatch.demo.api.entry import Change, Entry
from kwatch.demo.api.errors import (
    STALE,
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    invalid,
    namespace_terminating,
    not_found,
    precondition_failed,
)
from kwatch.demo.api.events_view import to_core, to_events_v1
from kwatch.demo.api.gc import GarbageCollector
from kwatch.demo.api.ipalloc import AllocationError, ServiceAllocations
from kwatch.demo.api.meta import generated_name, new_uid, rfc3339
from kwatch.demo.api.patching import PATCH_TYPES, apply_patch
from kwatch.demo.api.registry import Registry, ResourceDef
from kwatch.demo.api.selectors import FieldSelector, extract_fields, parse_fields, parse_labels
from kwatch.demo.api.watchers import Watcher

JSON = dict[str, Any]
Resource = str | ResourceDef

DEFAULT_MANAGER = "kwatch-demo"
# Metadata only the server sets; a client's values are ignored on create and update.
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation", "name", "namespace")
_NOT_SPEC = ("metadata", "status", "apiVersion", "kind")


@dataclass(slots=True)
class Page:
    """One LIST response: entries plus the list metadata the server reports."""

    entries: list[Entry]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


def _spec_part(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


def _without_volatile(obj: JSON) -> JSON:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": meta}


def _int_param(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name}: {value!r}") from None


class Storage:
    def __init__(
        self,
        *,
        history_size: int = 2000,
        clock: Callable[[], float] = time.time,
        registry: Registry | None = None,
        watch_queue_size: int = 20_000,
    ) -> None:
        self.registry = registry or Registry()
        self.history_size = history_size
        self.clock = clock
        self.watch_queue_size = watch_queue_size
        self.rv = 0
        self.services = ServiceAllocations()
        self.gc = GarbageCollector(self)
        self._collections: dict[tuple[str, str], Collection] = {}
        for r in self.registry.resources:
            if r.view_of is None:
                self._collections[r.storage_id] = Collection(r, history_size)
        # uid -> where the object lives; owner uid -> its dependents (for the GC).
        self.uids: dict[str, tuple[tuple[str, str], str]] = {}
        self.dependents: dict[str, set[tuple[tuple[str, str], str]]] = {}

    # -- lookup and rendering ----------------------------------------------------------

    def resolve(self, resource: Resource, group: str = "") -> ResourceDef:
        if isinstance(resource, ResourceDef):
            return resource
        return self.registry.resolve(resource, group)

    def collection(self, rdef: ResourceDef) -> Collection:
        return self._collections[rdef.storage_id]

    def collections(self) -> Iterable[Collection]:
        return self._collections.values()

    def render(self, rdef: ResourceDef, entry: Entry) -> bytes:
        """The object's JSON bytes as `rdef`'s API version presents it."""
        if rdef.view_of is None:
            return entry.data
        if entry.alt is None:
            entry.alt = orjson.dumps(to_events_v1(entry.obj()))
        return entry.alt

    def to_json(self, rdef: ResourceDef, entry: Entry) -> JSON:
        result: JSON = orjson.loads(self.render(rdef, entry))
        return result

    def now(self) -> str:
        return rfc3339(self.clock())

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self._collections[("", "namespaces")].entries

    def _terminating(self, namespace: str) -> bool:
        entry = self._collections[("", "namespaces")].entries[object_key("", namespace)]
        return (entry.obj().get("status") or {}).get("phase") == "Terminating"

    def _namespace(self, rdef: ResourceDef, namespace: str | None, meta: JSON) -> str:
        if not rdef.namespaced:
            return ""
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return str(namespace or given or "default")

    def _key(self, rdef: ResourceDef, namespace: str | None, name: str) -> str:
        ns = (namespace or "default") if rdef.namespaced else ""
        return object_key(ns, name)

    def _existing(self, rdef: ResourceDef, namespace: str | None, name: str) -> Entry:
        entry = self.collection(rdef).get(self._key(rdef, namespace, name))
        if entry is None:
            raise not_found(rdef.plural, rdef.group, name)
        return entry

    def _canonical(self, rdef: ResourceDef, obj: JSON) -> JSON:
        """A private copy of `obj`, converted to the stored version."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        body: JSON = orjson.loads(orjson.dumps(obj))
        if rdef.view_of:
            body = to_core(body)
        if not isinstance(body.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        canon = self.collection(rdef).rdef
        body["apiVersion"], body["kind"] = canon.api_version, canon.kind
        return body

    # -- commit ------------------------------------------------------------------------

    def make_entry(self, canon: ResourceDef, key: str, obj: JSON, rv: int) -> Entry:
        meta = obj.get("metadata") or {}
        owners = tuple(str(o.get("uid", "")) for o in meta.get("ownerReferences") or [])
        return Entry(
            key,
            orjson.dumps(obj),
            rv,
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
            labels=dict(meta.get("labels") or {}),
            fields=extract_fields(canon, obj),
            owners=owners,
        )

    def commit(self, coll: Collection, type_: str, obj: JSON, prev: Entry | None) -> Entry:
        """Stamp the next resourceVersion on `obj`, store it and notify watchers."""
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.rv)
        key = object_key(str(meta.get("namespace") or ""), str(meta.get("name")))
        entry = self.make_entry(coll.rdef, key, obj, self.rv)
        sid = coll.rdef.storage_id
        if prev is not None:
            for owner in prev.owners:
                self.dependents.get(owner, set()).discard((sid, key))
        if type_ == "DELETED":
            self.uids.pop(entry.uid, None)
        else:
            self.uids[entry.uid] = (sid, key)
            for owner in entry.owners:
                self.dependents.setdefault(owner, set()).add((sid, key))
        coll.apply(Change(type_, entry, prev))
        return entry

    def entry_by_uid(self, uid: str) -> tuple[Collection, Entry] | None:
        where = self.uids.get(uid)
        return None if where is None else self.entry_by_uid_at(*where)

    def entry_by_uid_at(self, sid: tuple[str, str], key: str) -> tuple[Collection, Entry] | None:
        coll = self._collections[sid]
        entry = coll.get(key)
        return None if entry is None else (coll, entry)

    def check_not_too_large(self, rv: int) -> None:
        """A LIST (or watch-list) at a resourceVersion this server has not reached, e.g.
        one from before a restart, is a 504 "Too large resource version", as from a real
        server whose cache did not catch up (it waits 3 s first; nothing here could make
        the version appear meanwhile, so this answers at once)."""
        if rv > self.rv:
            raise ApiError(
                "Timeout",
                f"Timeout: Too large resource version: {rv}, current: {self.rv}",
                details={"causes": [{"reason": "ResourceVersionTooLarge",
                                     "message": "Too large resource version"}],
                         "retryAfterSeconds": 1},
            )

    # -- create ------------------------------------------------------------------------

    def create(
        self,
        resource: Resource,
        obj: JSON,
        namespace: str | None = None,
        group: str = "",
        *,
        manager: str = DEFAULT_MANAGER,
        dry_run: bool = False,
        operation: str = "Update",
    ) -> JSON:
        rdef = self.resolve(resource, group)
        return self.to_json(rdef, self.create_entry(rdef, obj, namespace, manager=manager,
                                                    dry_run=dry_run, operation=operation))

    def create_entry(
        self,
        rdef: ResourceDef,
        obj: JSON,
        namespace: str | None,
        *,
        manager: str,
        dry_run: bool = False,
        operation: str = "Update",
    ) -> Entry:
        coll = self.collection(rdef)
        canon = coll.rdef
        body = self._canonical(rdef, obj)
        meta: JSON = body.setdefault("metadata", {})
        ns = self._namespace(rdef, namespace, meta)
        if rdef.namespaced:
            if not self.namespace_exists(ns):
                raise not_found("namespaces", "", ns)
            if self._terminating(ns):
                # NamespaceLifecycle admission: nothing new may appear while the namespace
                # controller empties the namespace, or its deletion would never finish.
                raise namespace_terminating(rdef.plural, rdef.group,
                                            str(meta.get("name") or ""), ns)
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generated_name(str(meta["generateName"]))
        for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "selfLink", "managedFields"):
            meta.pop(f, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = self.now()
        if canon.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        defaults.apply_defaults(canon.kind, body)
        strategy.prepare_for_create(canon.kind, body)
        if canon.reset_status_on_create:
            body.pop("status", None)
        # The creator owns what it sent (and its defaults), not the status the server sets.
        fields = managed.object_fields(body)
        if canon.reset_status_on_create:
            body["status"] = defaults.initial_status(canon.kind, body)
        causes = validation.on_create(canon.plural, body)
        if causes:
            raise invalid(canon.kind, canon.group, str(meta.get("name") or ""), causes)
        key = object_key(ns, str(meta["name"]))
        if key in coll.entries:
            raise already_exists(rdef.plural, rdef.group, str(meta["name"]))
        if canon.kind == "Service":
            try:
                self.services.on_create(body.setdefault("spec", {}))
            except AllocationError as e:
                raise invalid("Service", "", str(meta["name"]),
                              [("spec.clusterIPs", f"Invalid value: {e}")]) from None
            if dry_run:
                self.services.on_delete(body["spec"])
        meta["managedFields"] = managed.record(
            None, fields, manager=manager, operation=operation,
            api_version=rdef.api_version, time=meta["creationTimestamp"])
        if dry_run:
            return self.make_entry(canon, key, body, 0)
        return self.commit(coll, "ADDED", body, None)

    def bulk_load(self, resource: Resource, group: str, objs: Iterable[JSON]) -> int:
        """Insert many complete objects fast (benchmarks, fixtures): no defaulting, no
        validation, no managedFields, status kept as given; AlreadyExists stops the load.

        With watchers open on the type, each object is an ADDED event as usual. Without,
        nothing is recorded: the type's history is compacted past the load (as after an
        etcd compaction), so a watch from before it gets 410 and relists.
        """
        rdef = self.resolve(resource, group)
        coll = self.collection(rdef)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # tens of thousands of fresh, acyclic objects: collections only cost
        try:
            return self._bulk_insert(rdef, coll, objs)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _bulk_insert(self, rdef: ResourceDef, coll: Collection, objs: Iterable[JSON]) -> int:
        canon = coll.rdef
        now = self.now()
        namespaces = set(self._collections[("", "namespaces")].entries)
        quiet = not coll.watchers
        batch: dict[str, Entry] = {}
        count = 0
        for src in objs:
            if rdef.view_of:
                obj = self._canonical(rdef, src)
            else:
                # Nothing below keeps `obj`, so copying the top level and metadata suffices.
                obj = {**src, "apiVersion": canon.api_version, "kind": canon.kind,
                       "metadata": dict(src.get("metadata") or {})}
            meta = obj["metadata"]
            if canon.namespaced:
                ns = str(meta.setdefault("namespace", "default"))
                if ns not in namespaces:
                    raise not_found("namespaces", "", ns)
            key = object_key(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            if key in coll.entries or key in batch:
                raise already_exists(rdef.plural, rdef.group, str(meta.get("name")))
            meta.setdefault("uid", new_uid())
            meta.setdefault("creationTimestamp", now)
            if canon.tracks_generation:
                meta.setdefault("generation", 1)
            count += 1
            if not quiet:
                self.commit(coll, "ADDED", obj, None)
                continue
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            entry = self.make_entry(canon, key, obj, self.rv)
            self.uids[entry.uid] = (canon.storage_id, key)
            for owner in entry.owners:
                self.dependents.setdefault(owner, set()).add((canon.storage_id, key))
            batch[key] = entry
        if quiet:
            coll.load(builtins.list(batch.values()), self.rv)
        return count

    # -- read --------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: str | None = None,
            group: str = "") -> JSON:
        rdef = self.resolve(resource, group)
        return self.to_json(rdef, self._existing(rdef, namespace, name))

    def get_entry(self, rdef: ResourceDef, namespace: str | None, name: str) -> Entry:
        return self._existing(rdef, namespace, name)

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        group: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> JSON:
        """The whole List object (kind, metadata.resourceVersion, items) like GET."""
        rdef = self.resolve(resource, group)
        page = self.list_page(rdef, namespace, parse_labels(label_selector),
                              parse_fields(field_selector, rdef))
        return {
            "kind": rdef.list_kind,
            "apiVersion": rdef.api_version,
            "metadata": {"resourceVersion": str(page.resource_version)},
            "items": [self.to_json(rdef, e) for e in page.entries],
        }

    def list_page(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> Page:
        coll = self.collection(rdef)
        ns = namespace if rdef.namespaced else None
        snapshot_rv: int | None = None
        start = ""
        if continue_token:
            snapshot_rv, start = paging.decode(continue_token)
            try:
                coll.check_rv(snapshot_rv)
            except TooOld:
                fresh = paging.encode(self.rv, start.rstrip("\x00")) if start else None
                raise expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results. Continuing with the provided token results in an inconsistent "
                    "list - objects that were created, modified, or deleted between the time "
                    "the first chunk was returned and now may show up in the list.",
                    {"continue": fresh} if fresh else None,
                ) from None
        elif resource_version_match == "Exact":
            snapshot_rv = _int_param(resource_version, "resourceVersion")
            if snapshot_rv is None:
                raise bad_request("resourceVersionMatch Exact requires a resourceVersion")
            self.check_not_too_large(snapshot_rv)
            try:
                coll.check_rv(snapshot_rv)
            except TooOld as e:
                raise expired(str(e)) from None
        elif resource_version:
            self.check_not_too_large(_int_param(resource_version, "resourceVersion") or 0)
        list_rv = snapshot_rv if snapshot_rv is not None else self.rv
        it: Iterator[Entry] = coll.snapshot(snapshot_rv, ns, start)
        out: builtins.list[Entry] = []
        token: str | None = None
        for entry in it:
            if labels is not None and not labels.matches(entry.labels):
                continue
            if fields is not None and not fields.matches(entry.fields):
                continue
            out.append(entry)
            if limit and len(out) >= limit:
                if next(it, None) is not None:
                    token = paging.encode(list_rv, entry.key)
                break
        remaining: int | None = None
        if token and labels is None and fields is None:
            # Counted on the current keys: exact unless the list changed since page one.
            lo, hi = coll.span(ns)
            remaining = hi - max(lo, bisect.bisect_left(coll.keys, out[-1].key + "\x00"))
        return Page(out, list_rv, token, remaining)

    # -- update and patch --------------------------------------------------------------

    def update(
        self,
        resource: Resource,
        obj: JSON,
        namespace: str | None = None,
        group: str = "",
        *,
        subresource: str | None = None,
        manager: str = DEFAULT_MANAGER,
        dry_run: bool = False,
    ) -> JSON:
        rdef = self.resolve(resource, group)
        name = str((obj.get("metadata") or {}).get("name") or "")
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.to_json(rdef, self.update_entry(rdef, ns, name, obj, manager=manager,
                                                    subresource=subresource, dry_run=dry_run))

    def update_entry(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        name: str,
        obj: JSON,
        *,
        manager: str,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Entry:
        body = self._canonical(rdef, obj)
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})")
        old = self._existing(rdef, namespace, name)
        if rdef.namespaced:
            self._namespace(rdef, namespace, meta)
        expected_rv = meta.get("resourceVersion")
        if expected_rv and str(expected_rv) != str(old.rv):
            raise conflict(rdef.plural, rdef.group, name, STALE)
        if meta.get("uid") and meta["uid"] != old.uid:
            raise precondition_failed(rdef.plural, rdef.group, name, "UID", meta["uid"], old.uid)
        return self.apply_update(rdef, old, body, manager=manager, subresource=subresource,
                                 dry_run=dry_run)

    def apply_update(
        self,
        rdef: ResourceDef,
        old_entry: Entry,
        new: JSON,
        *,
        manager: str,
        subresource: str | None = None,
        dry_run: bool = False,
        operation: str = "Update",
    ) -> Entry:
        """Turn a candidate object into the next stored version of `old_entry`."""
        coll = self.collection(rdef)
        canon = coll.rdef
        old = old_entry.obj()
        old_meta: JSON = old["metadata"]
        if subresource == "status":
            new = {**old_entry.obj(), "status": new.get("status")}
        elif subresource == "finalize":
            new = _finalized(old, new)
        elif subresource == "resize":
            new = _resized(old, new)
            admission.check_resize(self, new)
        elif canon.has_status:
            new["status"] = old.get("status")
        if new.get("status") is None:
            new.pop("status", None)
        meta: JSON = new.setdefault("metadata", {})
        for f in _SERVER_META:
            if f in old_meta:
                meta[f] = old_meta[f]
            else:
                meta.pop(f, None)
        meta.pop("managedFields", None)
        if old_meta.get("managedFields"):
            meta["managedFields"] = old_meta["managedFields"]
        meta.pop("resourceVersion", None)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        defaults.apply_defaults(canon.kind, new)
        # Before the no-op check: a client that drops a server-kept value changes nothing.
        if subresource != "finalize":  # whose whole point is changing spec.finalizers
            strategy.prepare_for_update(canon.kind, old, new)
        if canon.kind == "Service":
            self.services.on_update(old.get("spec") or {}, new.setdefault("spec", {}))
        # Subresource writes keep the spec and metadata rules by construction (status
        # and resize copy everything else from the stored object).
        causes = validation.on_update(canon.plural, old, new) if subresource is None else []
        if causes:
            raise invalid(canon.kind, canon.group, str(old_meta.get("name")), causes)
        if _without_volatile(new) == _without_volatile(old):
            return old_entry  # a no-op write: no new resourceVersion, no watch event
        if canon.tracks_generation and _spec_part(new) != _spec_part(old):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        changes = managed.object_changes(old, new)
        if changes:
            meta["managedFields"] = managed.record(
                old_meta.get("managedFields"), changes, manager=manager, operation=operation,
                api_version=rdef.api_version, time=self.now(),
                subresource=subresource if subresource in ("status", "scale", "resize") else None)
        if dry_run:
            return self.make_entry(canon, old_entry.key, new, old_entry.rv)
        # A namespace also waits for its spec finalizers (ShouldDeleteNamespaceDuringUpdate):
        # the finalize PUT removing the last one is what deletes it.
        spec_finalizers = (canon.kind == "Namespace"
                           and bool((new.get("spec") or {}).get("finalizers")))
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds") and not spec_finalizers):
            return self.remove(coll, new, old_entry)
        return self.commit(coll, "MODIFIED", new, old_entry)

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        group: str = "",
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        manager: str = DEFAULT_MANAGER,
        dry_run: bool = False,
    ) -> JSON:
        """`patch_type`: merge, json, strategic, apply (or the HTTP content type)."""
        rdef = self.resolve(resource, group)
        return self.to_json(rdef, self.patch_entry(
            rdef, namespace, name, patch, PATCH_TYPES.get(patch_type, patch_type),
            manager=manager, subresource=subresource, dry_run=dry_run))

    def patch_entry(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str,
        *,
        manager: str,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Entry:
        coll = self.collection(rdef)
        old = coll.get(self._key(rdef, namespace, name))
        if old is None:
            if patch_type == "apply":
                # Server-side apply creates what does not exist yet.
                body: JSON = orjson.loads(orjson.dumps(patch)) if isinstance(patch, dict) else {}
                body.setdefault("metadata", {}).setdefault("name", name)
                return self.create_entry(rdef, body, namespace, manager=manager,
                                         dry_run=dry_run, operation="Apply")
            raise not_found(rdef.plural, rdef.group, name)
        current = self.to_json(rdef, old)
        patched = apply_patch(current, patch, patch_type)
        if not isinstance(patched, dict):
            raise ApiError("Invalid", "the patched object is not a JSON object")
        pmeta = patched.get("metadata") or {}
        if str(pmeta.get("resourceVersion") or old.rv) != str(old.rv):
            raise conflict(rdef.plural, rdef.group, name, STALE)
        if pmeta.get("uid") and pmeta["uid"] != old.uid:
            raise ApiError("Invalid", f'{rdef.kind} "{name}" is invalid: metadata.uid: '
                           "field is immutable")
        return self.apply_update(rdef, old, self._canonical(rdef, patched), manager=manager,
                                 subresource=subresource, dry_run=dry_run,
                                 operation="Apply" if patch_type == "apply" else "Update")

    # -- delete ------------------------------------------------------------------------

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        group: str = "",
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: JSON | None = None,
        dry_run: bool = False,
    ) -> JSON:
        """Returns the object: gone, or still there with metadata.deletionTimestamp."""
        rdef = self.resolve(resource, group)
        entry, _ = self.delete_entry(rdef, namespace, name, grace=grace_period_seconds,
                                     propagation=propagation_policy,
                                     preconditions=preconditions, dry_run=dry_run)
        return self.to_json(rdef, entry)

    def delete_entry(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        name: str,
        *,
        grace: int | None = None,
        propagation: str | None = None,
        preconditions: JSON | None = None,
        dry_run: bool = False,
    ) -> tuple[Entry, bool]:
        """(object after the call, whether it is gone now); see deletion.py."""
        return deletion.delete_entry(self, rdef, namespace, name, grace=grace,
                                     propagation=propagation, preconditions=preconditions,
                                     dry_run=dry_run)

    def remove(self, coll: Collection, obj: JSON, prev: Entry) -> Entry:
        """Delete for good: the DELETED event carries the last state at a new RV."""
        gone = self.commit(coll, "DELETED", obj, prev)
        kind = coll.rdef.kind
        if kind == "Service":
            self.services.on_delete(obj.get("spec") or {})
        # A namespace's content is not purged here: the namespace controller deletes it
        # through the API (pods gracefully) before it finalizes the namespace.
        self.gc.on_removed(gone)
        return gone

    def delete_collection(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        *,
        grace: int | None = None,
        propagation: str | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Entry]:
        return deletion.delete_collection(self, rdef, namespace, labels, fields, grace=grace,
                                          propagation=propagation, dry_run=dry_run)

    # -- watch -------------------------------------------------------------------------

    def watch(
        self,
        rdef: ResourceDef,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        *,
        resource_version: str = "",
        send_initial_events: bool | None = None,
        allow_bookmarks: bool = False,
        view: tuple[str, Callable[[Entry], bytes]] | None = None,
    ) -> Watcher:
        """Register a watcher. Raises TooOld when `resource_version` was compacted.

        RV unset or "0": the current objects as ADDED, then changes. RV=N: every change
        after N. sendInitialEvents=true: current objects, then (with bookmarks allowed) a
        BOOKMARK annotated `k8s.io/initial-events-end`, then changes. `view` (name,
        render) overrides how objects are presented (kubectl's Table watches).
        """
        coll = self.collection(rdef)
        w = Watcher(
            namespace=namespace if rdef.namespaced and namespace else None,
            labels=labels, fields=fields, view=view[0] if view else rdef.api_version,
            render=view[1] if view else lambda e: self.render(rdef, e),
            max_pending=self.watch_queue_size)
        rv = _int_param(resource_version, "resourceVersion") or 0
        initial = send_initial_events if send_initial_events is not None else rv == 0
        if initial:
            if send_initial_events:
                # A watch-list must start at least as fresh as asked (never 410, though).
                self.check_not_too_large(rv)
            w.initial = [e for e in coll.snapshot(None, w.namespace, "") if w.matches(e)]
            w.last_rv = self.rv
            if send_initial_events and allow_bookmarks:
                w.initial_end_rv = self.rv
        elif resource_version in ("", "0"):
            w.last_rv = self.rv  # sendInitialEvents=false: from now on, no initial state
        else:
            # A plain watch from a version this server has not reached yet is accepted
            # and stays silent until the server passes it (as the real watch cache does).
            w.replay(coll.changes_after(rv) if rv <= self.rv else [])
            w.last_rv = max(w.last_rv, rv)
            w.after_rv = rv
        coll.watchers.add(w)
        return w

    def unwatch(self, rdef: ResourceDef, watcher: Watcher) -> None:
        self.collection(rdef).watchers.discard(watcher)

    def watchers(self) -> Iterator[Watcher]:
        for coll in self._collections.values():
            yield from coll.watchers

    def compact(self) -> None:
        """Drop every retained change: any resourceVersion before now is too old."""
        for coll in self._collections.values():
            coll.compact(self.rv)


def _finalized(old: JSON, new: JSON) -> JSON:
    """namespaces/finalize: only spec.finalizers changes (FinalizeREST's strategy)."""
    out: JSON = orjson.loads(orjson.dumps(old))
    out.setdefault("spec", {})["finalizers"] = list(
        (new.get("spec") or {}).get("finalizers") or [])
    return out


def _resized(old: JSON, new: JSON) -> JSON:
    """pods/resize: only the containers' resources change (in-place resize, 1.33+)."""
    out: JSON = orjson.loads(orjson.dumps(old))
    for field in ("containers", "initContainers"):
        wanted = {c.get("name"): c.get("resources") for c in (new.get("spec") or {}).get(field)
                  or []}
        for c in (out.get("spec") or {}).get(field) or []:
            if c.get("name") in wanted and wanted[c.get("name")] is not None:
                c["resources"] = wanted[c.get("name")]
    return out
