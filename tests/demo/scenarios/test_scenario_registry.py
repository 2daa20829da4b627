"""The scenario registry: what `kwatch demo --list` offers."""

from __future__ import annotations

from kwatch.demo.scenarios import SCENARIOS, names

EXPECTED = [
    "create-deployment", "rolling-update", "startup-without-probe", "startup-with-probe",
    "shutdown-without-prestop", "shutdown-with-prestop", "shutdown-grace-too-short",
    "statefulset-ordering",
    "daemonset-ondelete", "daemonset-rollingupdate", "node-failure", "controller-failover",
    "in-place-resize",
]


def test_every_scenario_of_the_design_is_registered_in_teaching_order() -> None:
    assert names() == EXPECTED


def test_scenarios_are_complete() -> None:
    for name, s in SCENARIOS.items():
        assert s.name == name
        assert s.description and "\n" not in s.description
        assert 0 < s.default_speed <= 100
        assert s.acts and all(a.say.strip() for a in s.acts)
        assert s.expect, f"{name} has no expected outcome"
        assert s.min_nodes >= 1
