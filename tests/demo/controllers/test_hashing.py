"""pod-template-hash: stable, short, safe alphabet, collision-count aware."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kwatch.demo.controllers.hashing import (
    POD_TEMPLATE_HASH_LABEL,
    SAFE_ALPHABET,
    compute_hash,
    equal_ignore_hash,
    fnv32a,
    safe_encode,
)

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web", "tier": "front"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [
        {"containerPort": 80}]}], "terminationGracePeriodSeconds": 30},
}


def test_fnv32a_matches_the_reference_vectors() -> None:
    # Published FNV-1a 32-bit test vectors.
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_digits_onto_the_vowel_free_alphabet() -> None:
    # '0' is byte 48 → 48 % 27 = 21 → '4'; '9' is 57 → 3 → 'f'.
    assert safe_encode("0") == SAFE_ALPHABET[48 % 27] == "4"
    assert safe_encode("9") == "f"
    assert set(safe_encode("0123456789")) <= set(SAFE_ALPHABET)


def test_hash_is_short_safe_and_stable() -> None:
    h = compute_hash(TEMPLATE)
    assert 1 <= len(h) <= 10  # the decimal digits of a uint32, encoded one by one
    assert set(h) <= set(SAFE_ALPHABET)
    assert not set(h) & set("aeiou013")
    assert compute_hash(TEMPLATE) == h


def test_hash_changes_with_the_template_and_the_collision_count() -> None:
    h = compute_hash(TEMPLATE)
    changed = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "containers": [
        {"name": "app", "image": "nginx:1.26"}]}}
    restarted = {**TEMPLATE, "metadata": {**TEMPLATE["metadata"], "annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}
    assert compute_hash(changed) != h
    assert compute_hash(restarted) != h
    assert compute_hash(TEMPLATE, 1) != h
    assert compute_hash(TEMPLATE, 1) != compute_hash(TEMPLATE, 2)
    # collisionCount 0 is "no collision yet", as a nil pointer is in Go.
    assert compute_hash(TEMPLATE, 0) == h


def test_empty_values_do_not_change_the_hash() -> None:
    # `{}` vs absent is how a template may come back from the server; same template.
    padded = {**TEMPLATE, "metadata": {**TEMPLATE["metadata"], "annotations": {}}}
    assert compute_hash(padded) == compute_hash(TEMPLATE)


@given(st.permutations(list(TEMPLATE["metadata"]["labels"].items())))
def test_hash_ignores_key_order(items: list[tuple[str, str]]) -> None:
    shuffled = {"spec": TEMPLATE["spec"], "metadata": {"labels": dict(items)}}
    assert compute_hash(shuffled) == compute_hash(TEMPLATE)


@given(st.dictionaries(st.text("abcxyz", min_size=1, max_size=5),
                       st.text("abc123", max_size=5), max_size=4))
def test_equal_ignore_hash_ignores_only_the_hash_label(extra: dict[str, str]) -> None:
    labeled = {**TEMPLATE, "metadata": {"labels": {
        **TEMPLATE["metadata"]["labels"], POD_TEMPLATE_HASH_LABEL: "5d8f9c"}}}
    assert equal_ignore_hash(labeled, TEMPLATE)
    other = {**TEMPLATE, "metadata": {"labels": {**TEMPLATE["metadata"]["labels"], **extra}}}
    assert equal_ignore_hash(other, TEMPLATE) == (
        other["metadata"]["labels"] == TEMPLATE["metadata"]["labels"])
