"""SVG snapshots of key moments, at 80x24 and 160x50 (pytest --snapshot-update to accept).

Every input is deterministic: fixture KEvents with fixed uids and times, a session clock
stopped at the moment, and the pipeline's events/s measured on that same clock.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from .fixtures import SCENARIOS, app_at, select

MOMENTS = [
    ("rolling-update", "mid"),  # old pods terminating with a preStop, new ones joining
    ("rolling-update", "done"),
    ("shutdown-without-prestop", "dying"),  # the serving-while-dying hazard, measured
]
SIZES = [(80, 24), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(("scenario", "moment"), MOMENTS, ids=lambda v: str(v))
def test_key_moment(
    snap_compare: object, scenario: str, moment: str, size: tuple[int, int]
) -> None:
    story = SCENARIOS[scenario]()
    app = app_at(story, moment)

    async def run_before(pilot: Pilot[int]) -> None:
        await select(pilot, story.selected[moment])

    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_chrome(snap_compare: object, size: tuple[int, int]) -> None:
    """A demo's screen: status bar with traffic counters, the narration line under it,
    and the control plane's leader Lease at the top of the tree."""
    from core.builders import Cluster, lease

    from kwatch.session import TrafficCounters

    story = SCENARIOS["shutdown-without-prestop"]()
    traffic = TrafficCounters(ok=1963, refused=33, timeout=16, target="svc web")
    narration = ["web's pods have no preStop: a deleted pod gets SIGTERM while proxies "
                 "may still route to it — watch the 503s and timeouts."]  # fmt: skip
    app = app_at(story, "dying", traffic=traffic, narration=narration)
    t = story.moments["dying"] - 1.0
    identity = "controlplane-1_0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    kcm = lease("kube-controller-manager", identity, transitions=1, t=t)
    app.session.pipeline([Cluster(t).added(kcm)])

    async def run_before(pilot: Pilot[int]) -> None:
        await select(pilot, story.selected["dying"])

    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]
