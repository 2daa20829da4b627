"""``kwatch demo``: an embedded demo cluster, and scenarios that narrate what it does.

    kwatch demo --list
    kwatch demo SCENARIO [--speed X] [--headless] [-o text|jsonl] [--record FILE] [--nodes N]
    kwatch demo --serve [SCENARIO] [--kubeconfig-out PATH] [--port PORT] [--speed X]

This package must not import the UI (an import-linter contract), so the TUI is handed
in by the top-level CLI as `open_tui`; without it a scenario runs headless.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kwatch.demo.scenarios import SCENARIOS
from kwatch.demo.scenarios.base import Scenario, ScenarioError
from kwatch.sources.errors import KwatchError
from kwatch.usage import ArgParser, UsageError

if TYPE_CHECKING:
    from kwatch.demo.runner import TuiOpener

MAX_SPEED = 100.0
MAX_NODES = 1000


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"must be greater than 0 and at most {MAX_SPEED:g}: {text!r}")
    return value


def build_demo_parser() -> ArgParser:
    p = ArgParser(
        prog="kwatch demo",
        description="Run kwatch against an embedded demo cluster: an in-process Kubernetes "
        "API server on 127.0.0.1 (real REST + watch), two controller-manager replicas, a "
        "scheduler, simulated kubelets and a traffic simulator, playing a narrated "
        "scenario.",
        epilog="'kwatch demo --list' shows the scenarios.",
    )
    p.add_argument("scenario", nargs="?", metavar="SCENARIO", help="the scenario to play")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--speed", type=_speed, metavar="X",
                   help="simulated seconds per wall second (default: the scenario's own; "
                   "1 with --serve alone)")
    p.add_argument("--headless", action="store_true",
                   help="print steps and narration instead of opening the TUI")
    p.add_argument("-o", "--output", choices=("text", "jsonl"), default="text",
                   help="headless output format (default: text)")
    p.add_argument("--record", metavar="FILE", help="record the session (JSON Lines, .gz ok)")
    p.add_argument("--nodes", type=int, default=3, metavar="N", help="simulated nodes (default 3)")
    p.add_argument("--serve", action="store_true",
                   help="run the cluster for other clients (kubectl, kwatch) until Ctrl-C, "
                   "playing SCENARIO if given")
    p.add_argument("--kubeconfig-out", metavar="PATH",
                   help="with --serve: write a kubeconfig for the cluster here")
    p.add_argument("--port", type=int, default=0, metavar="PORT",
                   help="with --serve: port on 127.0.0.1 (default: a free one)")
    p.add_argument("--control-plane", choices=("demo", "real"), default="demo",
                   help="'real': play the scenario on real kube-apiserver, "
                   "kube-controller-manager and kube-scheduler binaries "
                   "(scripts/build-controlplane.sh), the demo's kubelets as nodes; "
                   "real time, --speed is ignored")
    return p


def list_text() -> str:
    width = max(len(name) for name in SCENARIOS)
    return "\n".join(f"{s.name:<{width}}  {s.description}" for s in SCENARIOS.values())


def resolve_scenario(name: str) -> Scenario:
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise UsageError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    return scenario


def run_demo_command(argv: Sequence[str], *, open_tui: TuiOpener | None = None) -> int:
    args = build_demo_parser().parse_args(list(argv))
    if args.nodes < 0 or args.nodes > MAX_NODES:
        raise UsageError(f"--nodes must be between 0 and {MAX_NODES}")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if args.list:
        print(list_text())
        return 0
    if not args.serve:
        for flag, value in (("--kubeconfig-out", args.kubeconfig_out), ("--port", args.port)):
            if value:
                raise UsageError(f"{flag} only applies with --serve")
    elif args.record:
        # kwatch records what it watches; a served cluster is watched by other clients.
        raise UsageError("--record does not apply with --serve; run 'kwatch --kubeconfig "
                         "PATH --record FILE' against the served cluster")
    scenario = resolve_scenario(args.scenario) if args.scenario else None
    if scenario is not None and args.nodes < scenario.min_nodes:
        raise UsageError(f"scenario {scenario.name} needs --nodes {scenario.min_nodes} or more")
    if args.control_plane == "real":
        if scenario is None or args.serve:
            raise UsageError("--control-plane real plays a SCENARIO (not --serve)")
        from kwatch.demo.realplane import run_real_command

        return run_real_command(scenario, args, open_tui=open_tui)
    if args.serve:
        return asyncio.run(_serve(args, scenario))
    if scenario is None:
        raise UsageError(f"choose a scenario: {', '.join(SCENARIOS)} (or --list, --serve)")
    if not args.headless and open_tui is None:
        print("kwatch: the TUI is not available to 'kwatch demo' here; running headless",
              file=sys.stderr)
    opener = None if args.headless else open_tui
    return asyncio.run(_play(scenario, args, opener))


async def _play(scenario: Scenario, args: argparse.Namespace, open_tui: TuiOpener | None) -> int:
    from kwatch.demo.runner import run_scenario

    if args.output == "text" and open_tui is None:
        speed = args.speed or scenario.default_speed
        print(f"# kwatch demo {scenario.name}: {args.nodes} nodes, speed {speed:g}x "
              f"(times below are simulated seconds)", flush=True)
    try:
        # With the TUI the steps are on screen; the expectations and the summary are
        # printed once it closes.
        await run_scenario(scenario, speed=args.speed, nodes=args.nodes, output=args.output,
                           out=sys.stdout, record=args.record, open_tui=open_tui)
    except ScenarioError as e:
        raise KwatchError(f"scenario {scenario.name} stopped: {e}") from e
    return 0


async def _serve(args: argparse.Namespace, scenario: Scenario | None) -> int:
    from kwatch.demo.cluster import DemoCluster
    from kwatch.demo.runner import Narrator
    from kwatch.demo.scenarios.base import ScenarioContext
    from kwatch.headless import wait_until_stopped

    speed = args.speed or (scenario.default_speed if scenario is not None else 1.0)
    async with DemoCluster(speed=speed, nodes=args.nodes, port=args.port,
                           kubeconfig_path=args.kubeconfig_out) as cluster:
        where = (f"kubeconfig written to {args.kubeconfig_out}" if args.kubeconfig_out
                 else f"kubeconfig at {cluster.kubeconfig_path} (removed on exit)")
        print(f"kwatch demo cluster serving at {cluster.server.url} ({args.nodes} nodes, "
              f"speed {speed:g}x); {where}. Ctrl-C to stop.", file=sys.stderr, flush=True)
        stopped = asyncio.create_task(wait_until_stopped(None))
        if scenario is not None:
            narrator = Narrator(sys.stdout, args.output, cluster.clock.now, cluster.clock.now())
            ctx = ScenarioContext(cluster, narrator)
            play = asyncio.create_task(scenario.run(ctx))
            try:
                await asyncio.wait({stopped, play}, return_when=asyncio.FIRST_COMPLETED)
                if play.done() and play.exception() is not None:
                    print(f"kwatch: scenario {scenario.name} stopped: {play.exception()}",
                          file=sys.stderr)
                elif play.done():
                    narrator(f"Scenario {scenario.name} is over; the cluster keeps serving.")
            finally:
                play.cancel()
                await asyncio.gather(play, return_exceptions=True)
                await ctx.close()
        await stopped
    return 0
