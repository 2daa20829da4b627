"""pod-template-hash: a short, stable name for a pod template.

The deployment controller names each ReplicaSet `<deployment>-<hash>` and stamps the hash
on the RS's selector, template and pods, so the pods of two revisions never overlap.
Like the real controller (controller.ComputeHash) this is FNV-32a over a canonical dump
of the template, with `collisionCount` mixed in so that a name collision can be escaped
by bumping the count, rendered with the vowel-free alphabet of `rand.SafeEncodeString`
(no accidental words, no ambiguous 0/1/3). The dump differs from Go's, so values differ
from a real cluster's; what matters is that they are stable and collision-count aware.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import orjson

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"

# k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3, to avoid bad words and confusion.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes, h: int = _FNV32_OFFSET) -> int:
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: map each byte onto the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def compute_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The pod-template-hash of `template` (a PodTemplateSpec as JSON).

    Sorted keys and dropped empty values make the dump independent of field order and of
    `{}` vs absent, so the same template always hashes the same however it was written.
    """
    h = fnv32a(orjson.dumps(_normalise(template), option=orjson.OPT_SORT_KEYS))
    if collision_count:
        # Go writes the uint32 count into the hasher after the template (little endian).
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))


def without_hash_label(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `template` without the pod-template-hash label (for comparisons)."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(template))
    labels = (copy.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
        if not labels:
            copy["metadata"].pop("labels")
    return copy


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two pod templates are equal apart from pod-template-hash (EqualIgnoreHash).

    This is how the deployment controller recognises its "new" ReplicaSet — including an
    old one whose template the user copied back (`kubectl rollout undo`).
    """
    return bool(_normalise(without_hash_label(a)) == _normalise(without_hash_label(b)))


def _normalise(value: Any) -> Any:
    """Drop empty maps/lists/None, which Go's omitempty serialises away anyway."""
    if isinstance(value, dict):
        out = {k: _normalise(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value
