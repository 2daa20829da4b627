"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Both work on plain dicts/lists and never modify their input: storage keeps committed
objects immutable so watch history can keep referring to them.
"""

from __future__ import annotations

import copy
from typing import Any

from kwatch.demo.api.errors import ApiError


class PatchError(ValueError):
    """The patch cannot be applied to this object (bad path, failed test): 422."""


class PatchFormatError(PatchError):
    """The patch document itself is malformed: 400."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchFormatError(f"invalid JSON pointer {pointer!r}: must start with '/'")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    idx = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if idx > limit:
        raise PatchError(f"array index {idx} out of bounds")
    return idx


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, dict):
            if tok not in cur:
                raise PatchError(f"path segment {tok!r} not found")
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(cur, tok, for_insert=False)]
        else:
            raise PatchError(f"cannot descend into {type(cur).__name__} at {tok!r}")
    return cur


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path segment {last!r} not found")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_insert=False)]
    raise PatchError(f"cannot index {type(parent).__name__}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_insert=True), value)
    else:
        raise PatchError(f"cannot add into {type(parent).__name__}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove missing key {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_insert=False))
    raise PatchError(f"cannot remove from {type(parent).__name__}")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace/move/copy/test, applied atomically to a copy."""
    if not isinstance(ops, list):
        raise PatchFormatError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchFormatError(f"malformed operation {op!r}")
        kind, path = op["op"], _split(str(op["path"]))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchFormatError(f"{kind} operation needs a value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # RFC 6902: the target location must exist
            if path:
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchFormatError(f"{kind} operation needs 'from'")
            src = _split(str(op["from"]))
            if kind == "move":
                if path[: len(src)] == src and path != src:
                    raise PatchError("cannot move a value into one of its children")
                doc, value = _remove(doc, src)
            else:
                value = copy.deepcopy(_get(doc, src))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test failed at {op['path']}")
        else:
            raise PatchFormatError(f"unknown operation {kind!r}")
    return doc


def patch_error(e: PatchError) -> ApiError:
    """kube-apiserver: an undecodable patch is 400, one that does not apply is 422."""
    if isinstance(e, PatchFormatError):
        return ApiError("BadRequest", str(e))
    return ApiError("Invalid", str(e))
