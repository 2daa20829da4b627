"""Command line: ``kwatch`` (live), ``kwatch demo``, following kubectl's flag conventions.

Every failure a user can cause ends in one line on stderr and a non-zero exit:
2 for usage errors, 1 for runtime errors. No tracebacks.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kwatch import __version__
from kwatch.core.labels import SelectorError, parse_selector
from kwatch.usage import ArgParser, UsageError

if TYPE_CHECKING:
    from kwatch.session import Session

EXIT_RUNTIME = 1
EXIT_USAGE = 2


@dataclass
class Scope:
    namespaces: list[str] | None = None  # None: all namespaces
    label_selector: str | None = None
    all_namespaces: bool = False

    def describe(self) -> str:
        ns = "all namespaces" if self.namespaces is None else ",".join(self.namespaces)
        return ns + (f" -l {self.label_selector}" if self.label_selector else "")

    def as_json(self) -> dict[str, object]:
        return {"namespaces": self.namespaces, "selector": self.label_selector}


@dataclass
class LiveOptions:
    kubeconfig: str | None
    context: str | None
    scope: Scope
    explicit_namespace: bool
    headless: bool
    output: str
    duration: float | None
    record: str | None
    read_only: bool
    extra: dict[str, object] = field(default_factory=dict)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def add_scope_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG "
                   "paths merged, then ~/.kube/config, then in-cluster)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context to use")
    p.add_argument("-n", "--namespace", action="append", metavar="NS", dest="namespaces",
                   help="namespace to watch (repeatable, or comma-separated)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces")
    p.add_argument("-l", "--selector", metavar="SELECTOR",
                   help="label selector, e.g. 'app=web,tier in (front,api)'")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true",
                   help="print one line per controller step instead of the TUI")
    p.add_argument("-o", "--output", choices=("text", "jsonl"), default="text",
                   help="headless output format (default: text)")
    p.add_argument("--duration", type=_positive_seconds, metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--record", metavar="FILE", help="record the session (JSON Lines, .gz ok)")


def build_live_parser() -> ArgParser:
    p = ArgParser(
        prog="kwatch",
        description="See Kubernetes controllers work: ownership, rollouts, readiness, "
        "graceful termination and EndpointSlice membership, live.",
        epilog="Subcommands: 'kwatch demo --help' (embedded demo cluster), "
        "'kwatch replay --help' (replay a recording), 'kwatch export --help'.",
    )
    add_scope_flags(p)
    add_output_flags(p)
    p.add_argument("--read-only", action="store_true",
                   help="refuse every action that would change the cluster")
    p.add_argument("--version", action="version", version=f"kwatch {__version__}")
    return p


def resolve_scope(ns_args: list[str] | None, all_ns: bool, selector: str | None) -> Scope:
    if ns_args and all_ns:
        raise UsageError("-n/--namespace and -A/--all-namespaces cannot be used together")
    namespaces: list[str] | None = None
    if ns_args:
        namespaces = [n.strip() for arg in ns_args for n in arg.split(",") if n.strip()]
        if not namespaces:
            raise UsageError("-n/--namespace needs a namespace name")
    if selector is not None:
        try:
            parse_selector(selector)
        except SelectorError as e:
            raise UsageError(f"invalid label selector {selector!r}: {e}") from None
    return Scope(namespaces=namespaces, label_selector=selector or None, all_namespaces=all_ns)


def parse_live(argv: Sequence[str]) -> LiveOptions:
    args = build_live_parser().parse_args(list(argv))
    scope = resolve_scope(args.namespaces, args.all_namespaces, args.selector)
    return LiveOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        scope=scope,
        explicit_namespace=bool(args.namespaces) or args.all_namespaces,
        headless=args.headless,
        output=args.output,
        duration=args.duration,
        record=args.record,
        read_only=args.read_only,
    )


def _fail(message: str, code: int) -> int:
    # One line, no traceback: the user can act on it.
    print(f"kwatch: error: {message}", file=sys.stderr)
    return code


async def _open_tui(session: Session) -> int:
    # Imported lazily: --headless runs never load Textual.
    from kwatch.ui.app import run_tui

    return await run_tui(session)


def configure_logging() -> None:
    """Library logs go to $KWATCH_LOG_FILE if set, else nowhere.

    Why: stderr belongs to the one-line error contract and, in the TUI, to the screen;
    Python's last-resort handler would otherwise print every warning there.
    """
    path = os.environ.get("KWATCH_LOG_FILE")
    if path:
        logging.basicConfig(
            filename=path, level=logging.DEBUG,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging()
    from kwatch.sources.errors import KwatchError

    try:
        if argv and argv[0] == "demo":
            from kwatch.demo.cli import run_demo_command

            return run_demo_command(argv[1:], open_tui=_open_tui)
        if argv and argv[0] == "replay":
            from kwatch.replay.cli import run_replay_command

            return run_replay_command(argv[1:])
        if argv and argv[0] == "export":
            from kwatch.replay.cli import run_export_command

            return run_export_command(argv[1:])
        options = parse_live(argv)
        from kwatch.live import run_live

        return asyncio.run(run_live(options))
    except UsageError as e:
        return _fail(str(e), EXIT_USAGE)
    except KwatchError as e:
        return _fail(e.message, e.exit_code)
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        return _fail(str(e), EXIT_RUNTIME)
