"""metadata.managedFields bookkeeping for Update (and Apply) writes.

kwatch attributes each controller step to whoever changed the field ("the scheduler",
"the kubelet"), so the demo server records ownership like the real field manager does
for non-apply writes: the writer's entry gains every field it changed, other entries
lose those fields, and entries left empty are dropped. Field sets use the real FieldsV1
encoding: `f:<name>` for map keys, `k:{"type":"Ready"}` for items of keyed lists,
`v:"x"` for set members, `.` for "the item itself".
"""

from __future__ import annotations

from typing import Any

import orjson

from kwatch.demo.api.strategic import merge_key

JSON = dict[str, Any]
FieldSet = dict[str, Any]

# Server-owned metadata never appears in anyone's field set.
_SYSTEM_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_SET_LISTS = frozenset({"finalizers"})


def _item_key(key: str, item: JSON) -> str:
    return "k:" + orjson.dumps({key: item.get(key)}).decode()


def _fields_of_list(items: list[Any], parent: str, field: str) -> FieldSet:
    key = merge_key(parent, field)
    if key is not None and all(isinstance(i, dict) for i in items):
        return {_item_key(key, i): {".": {}, **fields_of(i, field)} for i in items}
    if field in _SET_LISTS:
        return {"v:" + orjson.dumps(v).decode(): {} for v in items}
    return {}  # an atomic list is owned as a whole


def fields_of(value: Any, parent: str = "") -> FieldSet:
    """Every field present in `value`."""
    if not isinstance(value, dict):
        return {}
    out: FieldSet = {}
    for name, v in value.items():
        if isinstance(v, list):
            out[f"f:{name}"] = _fields_of_list(v, parent, name)
        else:
            out[f"f:{name}"] = fields_of(v, name)
    return out


def _changed_list(old: Any, new: list[Any], parent: str, field: str) -> FieldSet:
    key = merge_key(parent, field)
    if (
        key is not None
        and isinstance(old, list)
        and all(isinstance(i, dict) for i in new)
        and all(isinstance(i, dict) for i in old)
    ):
        before = {orjson.dumps(i.get(key)): i for i in old}
        out: FieldSet = {}
        for item in new:
            prev = before.get(orjson.dumps(item.get(key)))
            if prev is None:
                out[_item_key(key, item)] = {".": {}, **fields_of(item, field)}
            elif prev != item:
                out[_item_key(key, item)] = changed_fields(prev, item, field)
        return out
    return _fields_of_list(new, parent, field)


def changed_fields(old: Any, new: Any, parent: str = "") -> FieldSet:
    """Fields of `new` that differ from `old` (added or modified, not removed)."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return fields_of(new, parent)
    out: FieldSet = {}
    for name, v in new.items():
        if name in old and old[name] == v:
            continue
        if isinstance(v, list):
            out[f"f:{name}"] = _changed_list(old.get(name), v, parent, name)
        elif isinstance(v, dict) and isinstance(old.get(name), dict):
            out[f"f:{name}"] = changed_fields(old[name], v, name)
        else:
            out[f"f:{name}"] = fields_of(v, name)
    return out


def object_fields(obj: JSON) -> FieldSet:
    """Field set of a whole object, without apiVersion/kind and server-owned metadata."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SYSTEM_META}
    body.pop("metadata", None)
    out = fields_of(body)
    if meta:
        out["f:metadata"] = fields_of(meta, "metadata")
    return out


def object_changes(old: JSON, new: JSON) -> FieldSet:
    body_old = {k: v for k, v in old.items() if k not in ("apiVersion", "kind", "metadata")}
    body_new = {k: v for k, v in new.items() if k not in ("apiVersion", "kind", "metadata")}
    out = changed_fields(body_old, body_new)
    meta_old = {k: v for k, v in (old.get("metadata") or {}).items() if k not in _SYSTEM_META}
    meta_new = {k: v for k, v in (new.get("metadata") or {}).items() if k not in _SYSTEM_META}
    meta = changed_fields(meta_old, meta_new, "metadata")
    if meta:
        out["f:metadata"] = meta
    return out


def union(a: FieldSet, b: FieldSet) -> FieldSet:
    out = dict(a)
    for k, v in b.items():
        out[k] = union(out[k], v) if k in out else v
    return out


def subtract(a: FieldSet, b: FieldSet) -> FieldSet:
    """`a` without the fields `b` now owns (a leaf in `b` claims the whole subtree)."""
    out: FieldSet = {}
    for k, v in a.items():
        if k not in b:
            out[k] = v
            continue
        claimed = b[k]
        if not claimed:
            continue
        if not v:
            out[k] = v  # `a` owns the field itself; `b` only touched its members
            continue
        rest = subtract(v, claimed)
        if rest:
            out[k] = rest
    return out


def record(
    entries: list[JSON] | None,
    changed: FieldSet,
    *,
    manager: str,
    operation: str,
    api_version: str,
    time: str,
    subresource: str | None = None,
) -> list[JSON]:
    """New managedFields list after `manager` wrote the fields in `changed`."""
    result: list[JSON] = []
    mine: JSON | None = None
    for entry in entries or []:
        same = (
            entry.get("manager") == manager
            and entry.get("operation") == operation
            and entry.get("subresource") == subresource
        )
        if same:
            mine = dict(entry)
            result.append(mine)
            continue
        rest = subtract(entry.get("fieldsV1") or {}, changed)
        if rest:
            result.append({**entry, "fieldsV1": rest})
    if mine is None:
        mine = {"manager": manager, "operation": operation}
        result.append(mine)
    fields = union(mine.get("fieldsV1") or {}, changed)
    mine.update(
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
    )
    if subresource:
        mine["subresource"] = subresource
    return result


def manager_from_user_agent(user_agent: str | None) -> str:
    """The real server's default manager: the User-Agent up to its first '/'."""
    if not user_agent:
        return "unknown"
    return user_agent.split("/", 1)[0].strip() or "unknown"
