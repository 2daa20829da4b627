"""Merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwatch.demo.api.patch import PatchError, PatchFormatError, json_patch, merge_patch
from kwatch.demo.api.strategic import strategic_merge

# -- merge patch -----------------------------------------------------------------------


def test_merge_patch_merges_maps_deletes_nulls_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2, 3], "keep": True}
    original = copy.deepcopy(target)
    out = merge_patch(target, {"a": {"b": None, "d": 4}, "l": [9], "new": {"x": None}})
    assert out == {"a": {"c": 2, "d": 4}, "l": [9], "keep": True, "new": {}}
    assert target == original  # inputs are never modified


def test_merge_patch_with_a_non_object_replaces_the_document() -> None:
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert merge_patch({"a": 1}, {}) == {"a": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=2), json_values, max_size=4)


@settings(max_examples=60, deadline=None)
@given(json_objects, json_objects)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


# -- JSON patch ------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"metadata": {"labels": {"a": "1"}, "annotations": {"x/y": "z"}},
           "spec": {"list": [1, 2, 3]}}
    out = json_patch(doc, [
        {"op": "test", "path": "/metadata/labels/a", "value": "1"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "replace", "path": "/metadata/labels/a", "value": "one"},
        {"op": "remove", "path": "/metadata/annotations/x~1y"},
        {"op": "add", "path": "/spec/list/-", "value": 4},
        {"op": "add", "path": "/spec/list/0", "value": 0},
        {"op": "copy", "from": "/spec/list/1", "path": "/spec/first"},
        {"op": "move", "from": "/metadata/labels/b", "path": "/spec/moved"},
    ])
    assert out == {"metadata": {"labels": {"a": "one"}, "annotations": {}},
                   "spec": {"list": [0, 1, 2, 3, 4], "first": 1, "moved": "2"}}
    assert doc["spec"]["list"] == [1, 2, 3]


def test_json_patch_failures_leave_the_document_alone() -> None:
    doc = {"a": {"b": 1}}
    with pytest.raises(PatchError) as err:
        json_patch(doc, [{"op": "add", "path": "/a/c", "value": 2},
                         {"op": "test", "path": "/a/b", "value": 99}])
    assert not isinstance(err.value, PatchFormatError)  # a failed test is 422, not 400
    assert doc == {"a": {"b": 1}}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "replace", "path": "/a/missing", "value": 1}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(PatchError):
        json_patch({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 1}])


@pytest.mark.parametrize("ops", [
    {"op": "add"},
    [{"op": "add", "path": "a", "value": 1}],
    [{"op": "frobnicate", "path": "/a"}],
    [{"path": "/a"}],
    [{"op": "move", "path": "/a"}],
])
def test_malformed_json_patches_are_format_errors(ops: Any) -> None:
    with pytest.raises(PatchFormatError):
        json_patch({"a": 1}, ops)


# -- strategic merge patch ---------------------------------------------------------------

POD = {
    "metadata": {"name": "p", "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "app:1", "args": ["--x"],
             "ports": [{"containerPort": 80, "name": "http"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "side:1"},
        ],
        "volumes": [{"name": "v1", "emptyDir": {}}],
    },
    "status": {"conditions": [{"type": "Ready", "status": "False"},
                              {"type": "PodScheduled", "status": "True"}]},
}


def test_strategic_merges_lists_by_their_merge_keys() -> None:
    out = strategic_merge(POD, {
        "spec": {"containers": [{"name": "app", "image": "app:2",
                                 "env": [{"name": "B", "value": "two"},
                                         {"name": "C", "value": "3"}],
                                 "ports": [{"containerPort": 80, "protocol": "TCP"},
                                           {"containerPort": 443}]}],
                 "volumes": [{"name": "v2", "configMap": {"name": "cm"}}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    })
    app, sidecar = out["spec"]["containers"]
    assert app["image"] == "app:2" and app["args"] == ["--x"]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"},
                          {"name": "C", "value": "3"}]
    assert app["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"},
                            {"containerPort": 443}]
    assert sidecar == {"name": "sidecar", "image": "side:1"}
    assert [v["name"] for v in out["spec"]["volumes"]] == ["v1", "v2"]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}]
    assert POD["spec"]["containers"][0]["image"] == "app:1"  # input untouched


def test_strategic_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_strategic_atomic_lists_are_replaced() -> None:
    out = strategic_merge(POD, {"spec": {"containers": [{"name": "app", "args": ["--y"]}]}})
    assert out["spec"]["containers"][0]["args"] == ["--y"]


def test_strategic_directives() -> None:
    out = strategic_merge(POD, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [{"name": "sidecar", "$patch": "delete"}],
            "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}],
        },
        "status": {"$patch": "replace", "phase": "Running"},
    })
    assert out["metadata"]["finalizers"] == []
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    assert out["spec"]["volumes"] == [{"name": "only", "emptyDir": {}}]
    assert out["status"] == {"phase": "Running"}
    assert "$setElementOrder/containers" not in out["spec"]


def test_strategic_finalizers_merge_as_a_set_and_nulls_delete() -> None:
    out = strategic_merge(POD, {"metadata": {"finalizers": ["b", "a"]},
                                "spec": {"volumes": None}})
    assert out["metadata"]["finalizers"] == ["a", "b"]
    assert "volumes" not in out["spec"]


def test_strategic_map_delete_directive_and_retain_keys() -> None:
    out = strategic_merge({"spec": {"strategy": {"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": 1}}}},
                          {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = strategic_merge({"a": {"b": 1}, "c": 2}, {"a": {"$patch": "delete"}})
    assert out == {"c": 2}


def test_strategic_item_without_merge_key_is_a_format_error() -> None:
    with pytest.raises(PatchFormatError):
        strategic_merge(POD, {"spec": {"containers": [{"image": "x"}]}})
