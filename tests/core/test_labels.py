from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwatch.core.labels import SelectorError, parse_selector

LABELS = {"app": "web", "tier": "front", "app.kubernetes.io/name": "shop"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=api", True),
        ("missing!=x", True),  # != matches when the key is absent, as in Kubernetes
        ("app in (api, web)", True),
        ("app in (api)", False),
        ("app notin (api)", True),
        ("missing notin (api)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app.kubernetes.io/name=shop", True),
        ("", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert parse_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    "text",
    ["app in (", "app in ()", "app=web,", "=web", "app in web", "app=web extra", "!", "a=b=c",
     "app notin (a", "-bad=1", "app=" + "x" * 64],
)
def test_invalid(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


label_key = st.from_regex(r"\A[a-z][a-z0-9]{0,8}\Z")
label_value = st.from_regex(r"\A[a-z0-9]{1,8}\Z")


@given(st.dictionaries(label_key, label_value, max_size=4), label_key, label_value)
def test_equality_agrees_with_dict_lookup(labels: dict[str, str], key: str, value: str) -> None:
    assert parse_selector(f"{key}={value}").matches(labels) == (labels.get(key) == value)
    assert parse_selector(f"{key}!={value}").matches(labels) == (labels.get(key) != value)
    assert parse_selector(key).matches(labels) == (key in labels)
    assert parse_selector(f"!{key}").matches(labels) == (key not in labels)
