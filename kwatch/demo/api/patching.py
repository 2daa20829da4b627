"""Apply a patch of any supported type: the one switch on the PATCH content type."""

from __future__ import annotations

from typing import Any

from kwatch.demo.api.errors import ApiError
from kwatch.demo.api.patch import PatchError, json_patch, merge_patch, patch_error
from kwatch.demo.api.strategic import strategic_merge

JSON = dict[str, Any]

PATCH_TYPES: dict[str, str] = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


def apply_patch(current: JSON, patch: Any, patch_type: str) -> Any:
    """`current` patched (not modified in place). Server-side apply ("apply") is
    approximated as a strategic merge of the applied configuration: fields a manager
    stops applying are not removed."""
    try:
        if patch_type == "merge":
            return merge_patch(current, patch)
        if patch_type == "json":
            return json_patch(current, patch)
        if patch_type in ("strategic", "apply"):
            return strategic_merge(current, patch)
    except PatchError as e:
        raise patch_error(e) from None
    raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format - "
                   f"accepted media types include: {', '.join(PATCH_TYPES)}")
