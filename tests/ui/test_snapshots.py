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
