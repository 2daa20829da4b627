"""Label and field selectors as the API server applies them to list and watch.

Label selectors reuse kwatch's own parser (kwatch.core.labels), so the server and the
client agree on one grammar. Field selectors only support what the real registries
support: `=`, `==`, `!=` on a per-kind set of fields; anything else is a 400.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kwatch.core.labels import Selector, SelectorError, parse_selector
from kwatch.demo.api.errors import bad_request
from kwatch.demo.api.registry import ResourceDef

JSON = dict[str, Any]

# Field selector names whose value lives somewhere else in the object.
_FIELD_PATHS: dict[str, str] = {"source": "source.component"}


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negate


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self.requirements)


def parse_labels(text: str | None) -> Selector | None:
    """None for "match everything"; 400 BadRequest Status for a malformed selector."""
    if not text or not text.strip():
        return None
    try:
        sel = parse_selector(text)
    except SelectorError as e:
        raise bad_request(f"unable to parse requirement: {e}") from None
    return None if sel.empty else sel


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` not preceded by a backslash (field values may escape ',' and '=')."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            if value[i + 1] not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence in {value!r}")
            out.append(value[i + 1])
            i += 2
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


def parse_fields(text: str | None, rdef: ResourceDef) -> FieldSelector | None:
    if not text or not text.strip():
        return None
    reqs: list[FieldRequirement] = []
    for raw in _split_unescaped(text, ","):
        term = raw.strip()
        if not term:
            continue
        op = next((o for o in ("!=", "==", "=") if o in term), None)
        if op is None:
            raise bad_request(f"invalid field selector: {term!r} has no operator")
        name, _, value = term.partition(op)
        name = name.strip()
        if name not in rdef.field_labels:
            raise bad_request(f'field label not supported: {name}')
        for prefix, target in rdef.field_aliases:
            if name.startswith(prefix):
                name = target + name[len(prefix) :]
                break
        reqs.append(FieldRequirement(name, _unescape(value), negate=op == "!="))
    return FieldSelector(tuple(reqs)) if reqs else None


def _lookup(obj: JSON, path: tuple[str, ...]) -> Any:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def field_text(value: Any) -> str:
    """How the registries turn a field into the string a selector compares against."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def _field_paths(rdef: ResourceDef) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(selector name, path in the stored object) for each field `rdef` can select on."""
    out = []
    for name in sorted(rdef.field_labels):
        if any(name.startswith(p) for p, _ in rdef.field_aliases):
            continue  # a view's alias; the stored (canonical) field is extracted instead
        out.append((name, tuple(_FIELD_PATHS.get(name, name).split("."))))
    return tuple(out)


def extract_fields(rdef: ResourceDef, obj: JSON) -> dict[str, str]:
    """The selectable fields of `obj` (computed once per write, reused by every watcher)."""
    return {name: field_text(_lookup(obj, path)) for name, path in _field_paths(rdef)}


def label_selector_string(selector: JSON | None) -> str:
    """A metav1.LabelSelector as the string form (Scale's status.selector)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
