"""Strategic merge patch for the built-in kinds' common lists.

The real server reads merge keys from the Go struct tags of every type. The demo keeps a
small table instead, keyed by (parent field, list field) so that `ports` merges by
`containerPort` inside a container but by `port` in a Service spec. Lists not in the
table are replaced wholesale, as atomic lists are in Kubernetes.

Directives supported: `$patch: replace|delete` (on maps and list items),
`$deleteFromPrimitiveList/<field>`, `$retainKeys`; `$setElementOrder/<field>` is accepted
and ignored (ordering only).
"""

from __future__ import annotations

import copy
from typing import Any

from kwatch.demo.api.patch import PatchFormatError

_BY_FIELD: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "taints": "key",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
_CONTAINER_FIELDS = frozenset({"containers", "initContainers", "ephemeralContainers"})
# Primitive lists whose patch strategy is "merge" (set union), e.g. metadata.finalizers.
_PRIMITIVE_MERGE = frozenset({"finalizers"})


def merge_key(parent: str, field: str) -> str | None:
    """Merge key of list `field` found under `parent` (the enclosing field name)."""
    if field == "ports":
        if parent in _CONTAINER_FIELDS:
            return "containerPort"
        return "port" if parent == "spec" else None
    if field == "addresses":
        return "type" if parent == "status" else None  # Node status, not EndpointSlice
    return _BY_FIELD.get(field)


def _strip(value: Any) -> Any:
    """Drop directives from a value that is inserted as-is (a new list item)."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (k.startswith("$") or k.startswith("$setElementOrder/"))
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _merge_list(current: Any, patch: list[Any], parent: str, field: str) -> list[Any]:
    key = merge_key(parent, field)
    if key is not None and all(isinstance(i, dict) for i in patch):
        if any(i.get("$patch") == "replace" for i in patch):
            return [_strip(i) for i in patch if i.get("$patch") != "replace"]
        out: list[Any] = list(current) if isinstance(current, list) else []
        for item in patch:
            if key not in item:
                raise PatchFormatError(f"list item in {field} has no merge key {key!r}")
            pos = next(
                (n for n, e in enumerate(out) if isinstance(e, dict) and e.get(key) == item[key]),
                None,
            )
            if item.get("$patch") == "delete":
                out = [e for e in out if not (isinstance(e, dict) and e.get(key) == item[key])]
            elif pos is None:
                out.append(_strip(item))
            else:
                out[pos] = strategic_merge(out[pos], item, field)
        return out
    if field in _PRIMITIVE_MERGE:
        merged = list(current) if isinstance(current, list) else []
        merged.extend(v for v in patch if v not in merged)
        return merged
    return _strip(copy.deepcopy(patch))  # type: ignore[no-any-return]


def strategic_merge(original: Any, patch: Any, parent: str = "") -> Any:
    """Apply a strategic merge patch to `original` (not modified)."""
    if not isinstance(patch, dict):
        raise PatchFormatError("a strategic merge patch must be a JSON object")
    if patch.get("$patch") == "replace":
        return _strip(patch)
    out: dict[str, Any] = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    for name, value in patch.items():
        if name in ("$patch", "$retainKeys") or name.startswith("$setElementOrder/"):
            continue
        if name.startswith("$deleteFromPrimitiveList/"):
            target = name.split("/", 1)[1]
            drop = value if isinstance(value, list) else []
            out[target] = [v for v in out.get(target) or [] if v not in drop]
            continue
        if value is None:
            out.pop(name, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                out.pop(name, None)
            else:
                out[name] = strategic_merge(out.get(name), value, name)
        elif isinstance(value, list):
            out[name] = _merge_list(out.get(name), value, parent, name)
        else:
            out[name] = value
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out
