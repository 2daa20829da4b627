"""Play demo scenarios on a *real* control plane (``kwatch demo SCENARIO --control-plane real``).

The scenario script is the same one the embedded demo plays; what changes is who
answers it: the real kube-apiserver, kube-controller-manager and kube-scheduler
(built by scripts/build-controlplane.sh), with the demo's kubelet simulator as the
nodes (see kwatch.testing.realcluster). kwatch watches it exactly as it watches any
cluster: over HTTPS with a kubeconfig — the *read-only* one (get/list/watch only,
docs/rbac.yaml), to prove kwatch needs nothing more.

Differences from the embedded demo, all forced by the real binaries:

- time is real (speed 1): kube-controller-manager's periods, leases and grace periods
  run on the wall clock;
- node-failure waits the real node-monitor-grace-period (50 s by default, as the
  narration says), controller-failover runs a second kube-controller-manager process;
- pod-template-hash values differ from the demo's (they hash Go structs).

`play_scenario()` is the building block the tests use to play several scenarios at
once on one control plane, each in its own namespace; `run_real_command()` is the CLI.
Hooked into ``kwatch demo`` as ``--control-plane real`` (kwatch/demo/cli.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO, cast

from kwatch.core.hazards import Hazard
from kwatch.core.steps import Step
from kwatch.demo.client import ApiError
from kwatch.demo.cluster import DemoCluster
from kwatch.demo.runner import (
    SETTLE_MIN_WALL,
    SETTLE_SIM,
    KwatchWatch,
    Narrator,
    RunResult,
    TuiOpener,
    _print_summary,
)
from kwatch.demo.scenarios.base import (
    ExpectResult,
    Observed,
    Scenario,
    ScenarioContext,
    ScenarioError,
)
from kwatch.headless import StepPrinter
from kwatch.session import Session
from kwatch.sources.errors import KwatchError

if TYPE_CHECKING:
    from kwatch.testing.controlplane import ControlPlane
    from kwatch.testing.realcluster import RealCluster, ScenarioCluster

SYNC_TIMEOUT = 30.0
# Real defaults: kube-controller-manager's --node-monitor-grace-period and the kubelet's
# node status update frequency. The narration of node-failure quotes them.
NODE_MONITOR_GRACE_PERIOD = 50.0
HEARTBEAT_INTERVAL = 10.0
# Scenarios whose script needs more than the default plane.
EXTRA_CONTROLLER_MANAGERS = {"controller-failover": 1}
# Cluster-scoped steps (Nodes) and the leader Leases belong to every scenario's story.
SHARED_NAMESPACES = ("", "kube-system")
CONTROL_PLANE_CHOICES = ("demo", "real")


class RealWatch(KwatchWatch):
    """kwatch's own watch of a real cluster (read-only kubeconfig), wall clock."""

    def __init__(self, kubeconfig: str, namespaces: Sequence[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(kubeconfig, namespaces, clock=clock, source="live",
                         target="the control plane")

    def steps_for(self, namespace: str) -> list[Step]:
        keep = {namespace, *SHARED_NAMESPACES}
        return [s for s in self.steps if s.namespace in keep]

    def hazards_for(self, namespace: str) -> list[Hazard]:
        """The namespace's hazards, and a node's that stranded pods of it."""
        mine = f"{namespace}/"
        return [h for h in self.hazards.values() if h.namespace == namespace or (
            not h.namespace and any(str(p).startswith(mine) for p in h.details.get("pods", ())))]


def context_for(view: ScenarioCluster, narrate: Callable[[str], None],
                namespace: str) -> ScenarioContext:
    # Scenarios are typed against DemoCluster but only use what ScenarioCluster offers
    # (clock, client, kubelets, traffic, leader, managers); a Protocol in
    # kwatch.demo.scenarios.base would make this cast unnecessary.
    return ScenarioContext(cast(DemoCluster, view), narrate, namespace)


async def play_scenario(scenario: Scenario, view: ScenarioCluster, watch: RealWatch,
                        narrate: Callable[[str], None] | None = None) -> RunResult:
    """Play `scenario` in `view`'s namespace while `watch` (already started, with that
    namespace in scope) observes; judge its expectations on what kwatch saw there.

    A script that cannot go on (ScenarioError, or the API server refusing one of its
    requests) is not raised: it becomes a failed expectation, so the caller sees every
    scenario's verdict and the steps up to that point."""
    clock = view.clock
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        if narrate is not None:
            narrate(text)

    ctx = context_for(view, say, view.namespace)
    wall0, sim0 = time.monotonic(), clock.now()
    problem = ""
    try:
        try:
            await scenario.run(ctx)
        except ScenarioError as e:
            problem = f"the script stopped: {e}"
        except ApiError as e:
            # The real API server refused something the script expects to work: that
            # is a finding about the scenario (or the demo it was written against).
            problem = f"the API server refused a step of the script: {e}"
        await asyncio.sleep(max(SETTLE_SIM, SETTLE_MIN_WALL))  # let the watch catch up
        await view.traffic.stop()
        observed = Observed(
            traffic=view.traffic.counters(),
            requests=list(view.traffic.requests),
            hazards=watch.hazards_for(view.namespace),
            steps=watch.steps_for(view.namespace),
            facts=dict(ctx.facts),
        )
    finally:
        await ctx.close()
    expectations = scenario.check(observed)
    if problem:
        expectations.insert(0, ExpectResult("the script ran to its end", False, problem))
    return RunResult(
        scenario=scenario.name, speed=1.0, traffic=observed.traffic,
        hazards=list(observed.hazards), steps=list(observed.steps),
        expectations=expectations, narration=lines, requests=list(observed.requests),
        facts=dict(observed.facts), wall_seconds=time.monotonic() - wall0,
        sim_seconds=clock.now() - sim0,
    )


# --------------------------------------------------------------------------- the CLI


def run_real_command(scenario: Scenario, args: argparse.Namespace,
                     open_tui: TuiOpener | None = None) -> int:
    """``kwatch demo SCENARIO --control-plane real``: uses args.nodes, args.output,
    args.record, args.headless (and ignores args.speed: the binaries run in real time)."""
    from kwatch.testing.controlplane import ControlPlane, ControlPlaneError, find_binaries

    if find_binaries() is None:
        from kwatch.testing.controlplane import missing_binaries_reason

        raise KwatchError(missing_binaries_reason(), 1)
    if getattr(args, "speed", None) not in (None, 1.0):
        print("kwatch: --speed is ignored with --control-plane real (real time)",
              file=sys.stderr)
    opener = None if getattr(args, "headless", False) else open_tui
    print(f"# kwatch demo {scenario.name} on a real control plane: starting etcd, "
          "kube-apiserver, kube-controller-manager, kube-scheduler ...", file=sys.stderr,
          flush=True)
    try:
        # Started (and stopped) from this thread, which outlives it: the binaries die
        # with the thread that forked them (PR_SET_PDEATHSIG).
        with ControlPlane(node_monitor_grace_period=NODE_MONITOR_GRACE_PERIOD) as plane:
            asyncio.run(run_on_plane(
                plane, scenario, nodes=int(args.nodes), output=str(args.output),
                out=sys.stdout, record=getattr(args, "record", None), open_tui=opener))
    except ControlPlaneError as e:
        raise KwatchError(f"the control plane failed: {e}", 1) from e
    # Like the embedded demo: the verdict is in the printed summary; the exit status
    # says the run itself worked.
    return 0


async def run_on_plane(plane: ControlPlane, scenario: Scenario, *, nodes: int = 3,
                       output: str = "text", out: TextIO | None = None,
                       record: str | None = None,
                       open_tui: TuiOpener | None = None,
                       heartbeat_interval: float = HEARTBEAT_INTERVAL) -> RunResult:
    """One scenario on a started control plane, narrated like `kwatch demo`."""
    from kwatch.testing.realcluster import RealCluster

    namespace = "default"
    async with RealCluster(
        plane, nodes=nodes, heartbeat_interval=heartbeat_interval,
        extra_controller_managers=EXTRA_CONTROLLER_MANAGERS.get(scenario.name, 0),
    ) as cluster:
        view = await cluster.scenario_view(namespace)
        start = cluster.clock.now()
        watch = RealWatch(cluster.readonly_kubeconfig_path, [namespace])
        narrator = Narrator(None if open_tui else out, output, cluster.clock.now, start)
        if out is not None and open_tui is None:
            watch.pipeline.on_steps(StepPrinter(out, output, start))
        await watch.start(record=record, start=start)
        narrator.recorder = watch.recorder
        try:
            if open_tui is None:
                result = await play_scenario(scenario, view, watch, narrator)
            else:
                result = await _with_tui(scenario, cluster, view, watch, narrator, start,
                                         record, open_tui)
        finally:
            await watch.stop()
    if out is not None:
        _print_summary(result, output, out)
    return result


async def _with_tui(scenario: Scenario, cluster: RealCluster, view: ScenarioCluster,
                    watch: RealWatch, narrator: Narrator, start: float,
                    record: str | None, open_tui: TuiOpener) -> RunResult:
    recorder = watch.recorder

    def add_note(text: str, bookmark: bool) -> None:
        if recorder is not None:
            recorder.note(text, t=cluster.clock.now(), bookmark=bookmark)

    session = Session(
        pipeline=watch.pipeline, source="live", context="kwatch-real-control-plane",
        scope=view.namespace, start=start, clock=cluster.clock.now, read_only=True,
        health=watch.health, traffic=view.traffic.counters, actions=None,
        recording_path=record, add_note=add_note if recorder is not None else None,
        narration=narrator.lines)
    task = asyncio.create_task(play_scenario(scenario, view, watch, narrator))
    try:
        await open_tui(session)
    finally:
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await task
    # The TUI was closed before the script's end: say so instead of judging half a story.
    return RunResult(
        scenario=scenario.name, speed=1.0, traffic=view.traffic.counters(), hazards=[],
        steps=list(watch.steps_for(view.namespace)), narration=list(narrator.lines),
        expectations=[ExpectResult("the scenario ran to its end", False,
                                   "the TUI was closed first")])


__all__ = [
    "CONTROL_PLANE_CHOICES",
    "RealWatch",
    "context_for",
    "play_scenario",
    "run_on_plane",
    "run_real_command",
]
