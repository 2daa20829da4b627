"""The demo's scenarios (DESIGN §7), in teaching order: `SCENARIOS[name]`.

Each lives in its own module as `SCENARIO`; this registry fixes the order
`kwatch demo --list` shows them in: the creation path first, then the two labs (each
broken, then fixed), then the other controllers.
"""

from __future__ import annotations

from kwatch.demo.scenarios import (
    controller_failover,
    create_deployment,
    daemonset_ondelete,
    daemonset_rollingupdate,
    in_place_resize,
    node_failure,
    rolling_update,
    shutdown_grace_too_short,
    shutdown_with_prestop,
    shutdown_without_prestop,
    startup_with_probe,
    startup_without_probe,
    statefulset_ordering,
)
from kwatch.demo.scenarios.base import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        create_deployment.SCENARIO,
        rolling_update.SCENARIO,
        startup_without_probe.SCENARIO,
        startup_with_probe.SCENARIO,
        shutdown_without_prestop.SCENARIO,
        shutdown_with_prestop.SCENARIO,
        shutdown_grace_too_short.SCENARIO,
        statefulset_ordering.SCENARIO,
        daemonset_ondelete.SCENARIO,
        daemonset_rollingupdate.SCENARIO,
        node_failure.SCENARIO,
        controller_failover.SCENARIO,
        in_place_resize.SCENARIO,
    )
}


def names() -> list[str]:
    return list(SCENARIOS)


__all__ = ["SCENARIOS", "Scenario", "names"]
