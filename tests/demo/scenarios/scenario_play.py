"""Helpers for the scenario outcome tests: play a scenario headless, fast.

Each test runs a whole scenario on a fresh DemoCluster with kwatch watching it over
HTTP (exactly what `kwatch demo SCENARIO --headless` does), at a high speed so it takes
seconds. Waits inside the scenarios are bounded in simulated time *and* get a minimum of
wall time, so a loaded CI machine makes a test slower, not red.
"""

from __future__ import annotations

import asyncio

from kwatch.demo.runner import RunResult, run_scenario
from kwatch.demo.scenarios import SCENARIOS

SPEED = 20.0
WALL_LIMIT = 240.0  # a hung scenario fails the test instead of hanging CI


async def play(name: str, *, speed: float = SPEED, nodes: int = 3) -> RunResult:
    return await asyncio.wait_for(
        run_scenario(SCENARIOS[name], speed=speed, nodes=nodes, out=None), WALL_LIMIT)


def assert_as_expected(result: RunResult) -> None:
    failed = [f"{e.description}: {e.problem}" for e in result.expectations if not e.ok]
    assert not failed, "\n".join(failed)
