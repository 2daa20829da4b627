"""The validation rules a demo client can actually trip over.

Not a full validator: names, a pod's containers, what a pod update may change, no new
finalizers on an object being deleted, immutable Service IPs. Each check returns
(field, message) causes that storage turns into a 422 Invalid Status.
"""

from __future__ import annotations

import copy
from typing import Any

from kwatch.demo.api.meta import name_problem

JSON = dict[str, Any]
Causes = list[tuple[str, str]]

_POD_UPDATE_RULE = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def on_create(plural: str, obj: JSON) -> Causes:
    causes: Causes = []
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif problem := name_problem(plural, name):
        causes.append(("metadata.name", f'Invalid value: "{name}": {problem}'))
    if plural == "pods":
        spec = obj.get("spec") or {}
        if not spec.get("containers"):
            causes.append(("spec.containers", "Required value"))
        for i, c in enumerate(spec.get("containers") or []):
            if not c.get("name"):
                causes.append((f"spec.containers[{i}].name", "Required value"))
            if not c.get("image"):
                causes.append((f"spec.containers[{i}].image", "Required value"))
    return causes


def _mutable_pod_fields_masked(spec: JSON) -> JSON:
    masked = copy.deepcopy(spec)
    for field in ("containers", "initContainers"):
        for c in masked.get(field) or []:
            c.pop("image", None)
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                  "schedulingGates"):
        masked.pop(field, None)
    return masked


def on_update(plural: str, old: JSON, new: JSON) -> Causes:
    """Rules for a write to the main resource (subresource writes are not checked)."""
    causes: Causes = []
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if old_meta.get("deletionTimestamp"):
        added = [f for f in new_meta.get("finalizers") or []
                 if f not in (old_meta.get("finalizers") or [])]
        if added:
            causes.append(("metadata.finalizers", "Forbidden: no new finalizers can be added "
                           f"if the object is being deleted, found new finalizers {added}"))
    if plural == "pods":
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if _mutable_pod_fields_masked(old_spec) != _mutable_pod_fields_masked(new_spec):
            causes.append(("spec", _POD_UPDATE_RULE))
    if plural == "services":
        old_ip = (old.get("spec") or {}).get("clusterIP")
        new_ip = (new.get("spec") or {}).get("clusterIP")
        if old_ip and new_ip and old_ip != new_ip:
            causes.append(("spec.clusterIP", f'Invalid value: "{new_ip}": field is immutable'))
    return causes
