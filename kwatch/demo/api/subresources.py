"""The `scale`, `binding` and `eviction` subresources.

`scale` presents a workload as an autoscaling/v1 Scale (what `kubectl scale` and the HPA
use); `binding` is how a scheduler assigns a pod to a node; `eviction` is a delete that
a PodDisruptionBudget could refuse (the demo has no PDBs, so it never does).
"""

from __future__ import annotations

from typing import Any

from kwatch.demo.api.errors import (
    STALE,
    ApiError,
    bad_request,
    conflict,
    precondition_failed,
    success_status,
)
from kwatch.demo.api.patching import apply_patch
from kwatch.demo.api.registry import ResourceDef
from kwatch.demo.api.selectors import label_selector_string
from kwatch.demo.api.storage import Storage

JSON = dict[str, Any]


def _scale_of(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str) -> JSON:
    entry = storage.get_entry(rdef, namespace, name)
    obj = entry.obj()
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": label_selector_string((obj.get("spec") or {}).get("selector")),
        },
    }


def get_scale(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str) -> JSON:
    return _scale_of(storage, rdef, namespace, name)


def _set_replicas(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str,
                  scale: JSON, manager: str, dry_run: bool) -> JSON:
    entry = storage.get_entry(rdef, namespace, name)
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError("Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                       f"Invalid value: {replicas!r}: must be greater than or equal to 0")
    expected = (scale.get("metadata") or {}).get("resourceVersion")
    if expected and str(expected) != str(entry.rv):
        raise conflict(rdef.plural, rdef.group, name, STALE)
    obj = entry.obj()
    obj.setdefault("spec", {})["replicas"] = replicas
    storage.apply_update(rdef, entry, obj, manager=manager, subresource="scale",
                         dry_run=dry_run)
    result = _scale_of(storage, rdef, namespace, name)
    if dry_run:
        result["spec"]["replicas"] = replicas
    return result


def update_scale(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str,
                 scale: JSON, *, manager: str, dry_run: bool = False) -> JSON:
    if not isinstance(scale, dict):
        raise bad_request("the body of the request must be a Scale object")
    meta = scale.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name "
                          f"on the URL ({name})")
    return _set_replicas(storage, rdef, namespace, name, scale, manager, dry_run)


def patch_scale(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str,
                patch: Any, patch_type: str, *, manager: str, dry_run: bool = False) -> JSON:
    current = _scale_of(storage, rdef, namespace, name)
    patched = apply_patch(current, patch, patch_type)
    if not isinstance(patched, dict):
        raise ApiError("Invalid", "the patched Scale is not a JSON object")
    return _set_replicas(storage, rdef, namespace, name, patched, manager, dry_run)


def bind(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str,
         binding: JSON) -> JSON:
    """Set spec.nodeName and the PodScheduled condition, as the real BindingREST does
    (straight to storage: no managedFields entry, no generation bump)."""
    if not isinstance(binding, dict):
        raise bad_request("the body of the request must be a Binding object")
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise ApiError("Invalid", f'Binding "{name}" is invalid: target.name: Required value')
    bmeta = binding.get("metadata") or {}
    if bmeta.get("name") and bmeta["name"] != name:
        raise bad_request(f"the name of the object ({bmeta['name']}) does not match the name "
                          f"on the URL ({name})")
    coll = storage.collection(rdef)
    entry = storage.get_entry(rdef, namespace, name)
    pod = entry.obj()
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    if bmeta.get("uid") and bmeta["uid"] != entry.uid:
        raise precondition_failed("pods/binding", "", name, "UID", bmeta["uid"], entry.uid)
    if meta.get("deletionTimestamp"):
        raise conflict("pods/binding", "", name,
                       f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise conflict("pods/binding", "", name,
                       f"pod {name} is already assigned to node \"{spec['nodeName']}\"")
    spec["nodeName"] = node
    if bmeta.get("annotations"):
        meta.setdefault("annotations", {}).update(bmeta["annotations"])
    status = pod.setdefault("status", {})
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                  "lastTransitionTime": storage.now()})
    status["conditions"] = conds
    storage.commit(coll, "MODIFIED", pod, entry)
    body = success_status()
    body["code"] = 201
    return body


def evict(storage: Storage, rdef: ResourceDef, namespace: str | None, name: str,
          eviction: JSON) -> JSON:
    if not isinstance(eviction, dict):
        raise bad_request("the body of the request must be an Eviction object")
    opts = eviction.get("deleteOptions") or {}
    grace = opts.get("gracePeriodSeconds")
    storage.delete_entry(rdef, namespace, name, grace=int(grace) if grace is not None else None,
                         preconditions=opts.get("preconditions"),
                         dry_run=bool(opts.get("dryRun")))
    body = success_status()
    body["code"] = 201
    return body
