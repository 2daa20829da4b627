"""Label and field selectors as the demo API server parses and applies them."""

from __future__ import annotations

import pytest

from kwatch.demo.api.errors import ApiError
from kwatch.demo.api.registry import Registry
from kwatch.demo.api.selectors import (
    extract_fields,
    label_selector_string,
    parse_fields,
    parse_labels,
)

REG = Registry()
PODS = REG.resolve("pods")
EVENTS_V1 = REG.resolve("events", "events.k8s.io")

LABELS = {"app": "web", "tier": "front", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the key, as in Kubernetes
        ("env in (prod,staging)", True),
        ("env in (dev)", False),
        ("env notin (dev,staging)", True),
        ("missing notin (a)", True),
        ("env notin (prod)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("app=web,tier=front", True),  # comma is AND
        ("app=web,tier=back", False),
        ("app=web, env in (prod), !missing", True),
    ],
)
def test_label_selector_operators(selector: str, matches: bool) -> None:
    sel = parse_labels(selector)
    assert sel is not None
    assert sel.matches(LABELS) is matches


@pytest.mark.parametrize("bad", ["app=", "app in (", "app in ()", "=web", "app=web,",
                                 "a b", "app===x", "-bad=x", "app=web=x"])
def test_invalid_label_selectors_are_400(bad: str) -> None:
    if bad == "app=":
        # An empty value is valid ("app" label set to ""), unlike the others.
        sel = parse_labels(bad)
        assert sel is not None and sel.matches({"app": ""}) and not sel.matches({"app": "x"})
        return
    with pytest.raises(ApiError) as err:
        parse_labels(bad)
    assert err.value.code == 400
    assert err.value.status()["reason"] == "BadRequest"


def test_empty_selectors_match_everything() -> None:
    assert parse_labels("") is None
    assert parse_labels("  ") is None
    assert parse_fields("", PODS) is None


def test_field_selectors_on_pods() -> None:
    obj = {"metadata": {"name": "web-1", "namespace": "default"},
           "spec": {"nodeName": "n1", "hostNetwork": True}, "status": {"phase": "Running"}}
    fields = extract_fields(PODS, obj)
    assert fields["spec.nodeName"] == "n1"
    assert fields["spec.hostNetwork"] == "true"
    assert fields["status.podIP"] == ""

    def matches(text: str) -> bool:
        sel = parse_fields(text, PODS)
        assert sel is not None
        return sel.matches(fields)

    assert matches("spec.nodeName=n1")
    assert matches("spec.nodeName==n1")
    assert not matches("spec.nodeName!=n1")
    assert matches("spec.nodeName!=n2,metadata.name=web-1,metadata.namespace=default")
    assert not matches("metadata.namespace=kube-system")
    assert matches("status.podIP=")  # unscheduled/unstarted pods: the field is empty
    assert matches("spec.hostNetwork=true,status.phase=Running")


def test_field_selector_values_can_escape_commas() -> None:
    sel = parse_fields(r"metadata.name=a\,b", PODS)
    assert sel is not None
    assert sel.matches({"metadata.name": "a,b"})


@pytest.mark.parametrize("bad", ["spec.containers=x", "metadata.labels=x", "nodeName"])
def test_unsupported_field_selectors_are_400(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_fields(bad, PODS)
    assert err.value.code == 400


def test_events_v1_field_names_map_onto_stored_core_events() -> None:
    core = REG.resolve("events")
    stored = {"metadata": {"name": "e1", "namespace": "default"},
              "involvedObject": {"kind": "Pod", "name": "web-1"},
              "reportingComponent": "kubelet", "source": {"component": "kubelet"},
              "type": "Normal"}
    fields = extract_fields(core, stored)
    assert fields["source"] == "kubelet"
    sel = parse_fields("regarding.name=web-1,reportingController=kubelet", EVENTS_V1)
    assert sel is not None and sel.matches(fields)
    sel = parse_fields("involvedObject.kind=Node", EVENTS_V1)
    assert sel is not None and not sel.matches(fields)


def test_label_selector_string_from_a_label_selector_object() -> None:
    assert label_selector_string(None) == ""
    text = label_selector_string({
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "x", "operator": "NotIn", "values": ["y"]},
            {"key": "k", "operator": "Exists"},
            {"key": "g", "operator": "DoesNotExist"},
        ],
    })
    assert text == "a=1,b=2,env in (dev,prod),x notin (y),k,!g"
    # and it round-trips through the parser
    sel = parse_labels(text)
    assert sel is not None
    assert sel.matches({"a": "1", "b": "2", "env": "dev", "k": ""})
    assert not sel.matches({"a": "1", "b": "2", "env": "dev", "k": "", "g": "1"})
