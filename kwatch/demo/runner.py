"""Play a scenario on a fresh DemoCluster while kwatch watches it, as a user's kwatch would.

kwatch does not peek into the demo in-process: it connects to the demo's API server
over HTTPS with the kubeconfig the cluster wrote, through the same `connect()` and
`WatchEngine` as `kwatch` against a real cluster, and feeds a `Pipeline` (and a
`Recorder` with --record). The one difference is the clock: the engine stamps events
with the demo's simulated clock, so step times and hazard windows are simulated seconds
at any --speed.

Headless, steps and narration are printed as they happen and a summary ends the run;
with a TUI opener the same Session is handed to the TUI while the scenario plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from kwatch.core.events import EventSink, fan_out
from kwatch.core.hazards import Hazard
from kwatch.core.pipeline import Pipeline
from kwatch.core.steps import Step
from kwatch.demo.cluster import CONTEXT, DemoCluster
from kwatch.demo.scenarios.base import (
    NAMESPACE,
    ExpectResult,
    Observed,
    Scenario,
    ScenarioContext,
    ScenarioError,
)
from kwatch.demo.traffic import Request
from kwatch.headless import StepPrinter
from kwatch.session import Session, TrafficCounters
from kwatch.sources.actions import KubeActions
from kwatch.sources.errors import KwatchError
from kwatch.sources.kube import WatchEngine
from kwatch.sources.kubeconfig import Connection, connect
from kwatch.sources.record import Recorder

SYNC_TIMEOUT = 30.0  # wall seconds for kwatch's first list of every kind
# After the script: let kwatch's watch catch up with the last changes before judging.
SETTLE_SIM = 2.0
SETTLE_MIN_WALL = 0.3
TIMEOUT_CHECK_SIM = 1.0  # how often time-based hazards (stuck terminating) are checked

TuiOpener = Callable[[Session], Awaitable[int]]


@dataclass
class RunResult:
    scenario: str
    speed: float
    traffic: TrafficCounters
    hazards: list[Hazard]
    steps: list[Step]
    expectations: list[ExpectResult]
    narration: list[str]
    requests: list[Request] = field(default_factory=list)  # each request, timestamped
    facts: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    sim_seconds: float = 0.0

    @property
    def as_expected(self) -> bool:
        return all(e.ok for e in self.expectations)

    def summary_json(self) -> dict[str, Any]:
        t = self.traffic
        return {
            "scenario": self.scenario,
            "requests": {"ok": t.ok, "refused": t.refused, "timeout": t.timeout},
            "hazards": [
                {"kind": h.kind, "namespace": h.namespace, "name": h.name,
                 "window_s": h.window_s}
                for h in self.hazards
            ],
            "steps": len(self.steps),
            "expected": self.as_expected,
            "expectations": [e.to_json() for e in self.expectations],
            "speed": self.speed,
            "simulated_seconds": round(self.sim_seconds, 1),
        }

    def summary_text(self) -> str:
        t = self.traffic
        counts: dict[str, int] = {}
        for h in self.hazards:
            counts[h.kind] = counts.get(h.kind, 0) + 1
        hazards = ",".join(f"{k}({n})" if n > 1 else k for k, n in counts.items())
        return (f"summary: scenario={self.scenario} requests ok={t.ok} refused={t.refused} "
                f"timeout={t.timeout} hazards=[{hazards}] steps={len(self.steps)} "
                f"expected={'met' if self.as_expected else 'NOT-met'}")


class Narrator:
    """Where narration goes: the output stream, the session (TUI), the recording."""

    def __init__(self, out: TextIO | None, output: str, clock: Callable[[], float],
                 start: float) -> None:
        self.out = out
        self.output = output
        self.clock = clock
        self.start = start
        self.lines: list[str] = []
        self.recorder: Recorder | None = None

    def __call__(self, text: str) -> None:
        now = self.clock()
        self.lines.append(text)
        if self.recorder is not None:
            self.recorder.note(text, t=now)
        if self.out is None:
            return
        if self.output == "jsonl":
            line = orjson.dumps({"narration": text, "t": round(now - self.start, 3)}).decode()
        else:
            line = f"# {text}"
        self.out.write(line + "\n")
        with contextlib.suppress(BrokenPipeError):
            self.out.flush()


class KwatchWatch:
    """kwatch's own watch of a cluster: kubeconfig → connection → engine → pipeline (+ tee).

    Used for the demo cluster (`for_demo`, simulated clock) and, by kwatch.demo.realplane,
    for a real control plane (wall clock).
    """

    def __init__(
        self,
        kubeconfig: str,
        namespaces: Sequence[str],
        *,
        context: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        source: str = "live",
        target: str = "the cluster",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespaces = list(namespaces)
        self.clock = clock
        self._sleep = sleep  # in the session's time: simulated seconds in the demo
        self.source = source
        self.target = target
        self.pipeline = Pipeline(suppress_initial_list_steps=True)
        self.steps: list[Step] = []
        self.hazards: dict[str, Hazard] = {}
        self.pipeline.on_steps(self.steps.extend)
        self.pipeline.on_hazards(self._on_hazards)
        self.recorder: Recorder | None = None
        self.engine: WatchEngine | None = None
        self._conn: Connection | None = None
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def for_demo(
        cls, cluster: DemoCluster, namespaces: Sequence[str] = (NAMESPACE,)
    ) -> KwatchWatch:
        return cls(cluster.kubeconfig_path, namespaces, context=CONTEXT, clock=cluster.clock.now,
                   sleep=cluster.clock.sleep, source="demo", target="the demo cluster")

    @property
    def connection(self) -> Connection | None:
        """kwatch's connection to the demo cluster (None until started)."""
        return self._conn

    def _on_hazards(self, hazards: Sequence[Hazard]) -> None:
        for h in hazards:
            self.hazards[h.key] = h  # a later revision replaces the earlier one

    async def start(self, *, record: str | None = None, start: float | None = None) -> None:
        sinks: list[EventSink] = [self.pipeline]
        if record:
            scope = {"namespaces": self.namespaces, "selector": None}
            self.recorder = Recorder(record, scope=scope, source=self.source,
                                     clock=start if start is not None else self.clock())
            sinks.insert(0, self.recorder)  # record first, as the live source does
        self._conn = await connect(self.kubeconfig, self.context)
        self.engine = WatchEngine(self._conn, fan_out(sinks), namespaces=self.namespaces,
                                  clock=self.clock)
        await self.engine.start()
        if not await self.engine.wait_synced(SYNC_TIMEOUT):
            raise KwatchError(f"kwatch could not list {self.target} within {SYNC_TIMEOUT:g} s")
        self._ticker = asyncio.create_task(self._check_timeouts(), name="kwatch-timeouts")

    async def _check_timeouts(self) -> None:
        # The UI does this on a timer; headless, stuck-terminating needs it too.
        while True:
            await self._sleep(TIMEOUT_CHECK_SIM)
            self.pipeline.check_timeouts(self.clock())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.engine is not None:
            await self.engine.stop()
        if self.recorder is not None:
            self.recorder.close()
        if self._conn is not None:
            await self._conn.close()

    def health(self) -> list[Any]:
        return list(self.engine.health.values()) if self.engine is not None else []


async def settle(cluster: DemoCluster) -> None:
    """Give kwatch's watch time to see the script's last changes."""
    t0 = time.monotonic()
    await cluster.clock.sleep(SETTLE_SIM)
    await asyncio.sleep(max(0.0, SETTLE_MIN_WALL - (time.monotonic() - t0)))


async def run_scenario(
    scenario: Scenario,
    *,
    speed: float | None = None,
    nodes: int = 3,
    output: str = "text",
    out: TextIO | None = None,
    record: str | None = None,
    open_tui: TuiOpener | None = None,
) -> RunResult:
    """Run `scenario` on a new cluster; print steps, narration and the summary to `out`
    (None: print nothing). With `open_tui`, the TUI shows the session meanwhile and only
    the verdict is printed, once it closes."""
    speed = scenario.default_speed if speed is None else speed
    wall0 = time.monotonic()
    async with DemoCluster(speed=speed, nodes=nodes) as cluster:
        clock = cluster.clock
        start = clock.now()
        watch = KwatchWatch.for_demo(cluster)
        narrator = Narrator(None if open_tui else out, output, clock.now, start)
        printer: StepPrinter | None = None
        if out is not None and open_tui is None:
            printer = StepPrinter(out, output, start)
            watch.pipeline.on_steps(printer)
        ctx = ScenarioContext(cluster, narrator)
        try:
            await watch.start(record=record, start=start)
            narrator.recorder = watch.recorder
            if open_tui is None:
                await _play(scenario, ctx, cluster)
            else:
                session = _session(cluster, watch, narrator, start, record)
                await _play_with_tui(scenario, ctx, cluster, session, open_tui)
            await cluster.traffic.stop()
            observed = Observed(
                traffic=cluster.traffic.counters(),
                requests=list(cluster.traffic.requests),
                hazards=list(watch.hazards.values()),
                steps=list(watch.steps),
                facts=dict(ctx.facts),
            )
        finally:
            await ctx.close()
            await watch.stop()
        result = RunResult(
            scenario=scenario.name,
            speed=speed,
            traffic=observed.traffic,
            hazards=list(observed.hazards),
            steps=list(observed.steps),
            expectations=scenario.check(observed),
            narration=list(narrator.lines),
            requests=list(observed.requests),
            facts=dict(observed.facts),
            wall_seconds=time.monotonic() - wall0,
            sim_seconds=clock.now() - start,
        )
    if out is not None:
        _print_summary(result, output, out)
    return result


async def _play(scenario: Scenario, ctx: ScenarioContext, cluster: DemoCluster) -> None:
    await scenario.run(ctx)
    await settle(cluster)


async def _play_with_tui(scenario: Scenario, ctx: ScenarioContext, cluster: DemoCluster,
                         session: Session, open_tui: TuiOpener) -> None:
    async def play() -> None:
        try:
            await _play(scenario, ctx, cluster)
        except ScenarioError as e:
            # Say it where the user is looking; the CLI reports it again after the TUI.
            ctx.narrate(f"Scenario {scenario.name} stopped: {e}")
            raise
        ctx.narrate(f"Scenario {scenario.name} is over; explore, or press q to quit.")

    task = asyncio.create_task(play(), name=f"scenario-{scenario.name}")
    try:
        await open_tui(session)
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _session(cluster: DemoCluster, watch: KwatchWatch, narrator: Narrator, start: float,
             record: str | None) -> Session:
    recorder = watch.recorder

    def add_note(text: str, bookmark: bool) -> None:
        if recorder is not None:
            recorder.note(text, t=cluster.clock.now(), bookmark=bookmark)

    conn = watch.connection
    return Session(
        pipeline=watch.pipeline,
        source="demo",
        context=CONTEXT,
        scope=NAMESPACE,
        start=start,
        clock=cluster.clock.now,
        # The demo cluster is a sandbox: the teaching actions (delete a pod mid-lab, scale,
        # restart, set image) are the point, each still behind a confirmation.
        read_only=conn is None,
        health=watch.health,
        traffic=cluster.traffic.counters,
        actions=KubeActions(conn) if conn is not None else None,
        recording_path=record,
        add_note=add_note if recorder is not None else None,
        narration=narrator.lines,  # the same list: narration appears as it is spoken
    )


def _print_summary(result: RunResult, output: str, out: TextIO) -> None:
    if output == "jsonl":
        out.write(orjson.dumps({"summary": result.summary_json()}).decode() + "\n")
    else:
        for e in result.expectations:
            mark = "as expected" if e.ok else f"NOT as expected: {e.problem}"
            out.write(f"# expect: {e.description}: {mark}\n")
        out.write(result.summary_text() + "\n")
    with contextlib.suppress(BrokenPipeError):
        out.flush()
