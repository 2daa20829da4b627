"""``kwatch replay FILE`` and ``kwatch export FILE``: argument parsing and running.

Usage errors raise kwatch.cli.UsageError (exit 2); a file that cannot be replayed
raises KwatchError (exit 1, one line). Warnings about a recovered recording (cut-off
last line, kwatch killed while recording) go to stderr, and the replay goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

from kwatch.replay.controller import SPEEDS
from kwatch.replay.timespec import HELP, Target, TimeSpecError, parse_target
from kwatch.sources.replay import Recording, read_recording
from kwatch.usage import ArgParser, UsageError

FORMATS = ("md", "html", "svg", "cast")
_EXTENSIONS = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".svg": "svg",
    ".cast": "cast",
}
DEFAULT_SIZE = (160, 48)


def warn(message: str) -> None:
    print(f"kwatch: warning: {message}", file=sys.stderr)


def _speed(text: str) -> float:
    try:
        value = float(text.rstrip("x\u00d7"))  # "2x" works too
    except ValueError:
        raise UsageError(f"--speed: not a number: {text!r}") from None
    if not SPEEDS[0] <= value <= SPEEDS[-1]:
        raise UsageError(f"--speed must be between {SPEEDS[0]:g} and {SPEEDS[-1]:g} (got {text})")
    return value


def _target(flag: str, text: str | None) -> Target | None:
    if text is None:
        return None
    try:
        return parse_target(text)
    except TimeSpecError as e:
        raise UsageError(f"{flag}: {e}") from None


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size: expected WIDTHxHEIGHT, e.g. 160x48 (got {text!r})") from None
    if not (40 <= w <= 500 and 10 <= h <= 300):
        raise UsageError("--size: width 40-500 and height 10-300 cells")
    return w, h


def load(path: str, skip_bad: bool) -> Recording:
    recording = read_recording(path, skip_bad=skip_bad)
    for message in recording.warnings:
        warn(f"{path}: {message}")
    return recording


# -- kwatch replay ------------------------------------------------------------------------


def build_replay_parser() -> ArgParser:
    p = ArgParser(
        prog="kwatch replay",
        description="Replay a recording (kwatch --record FILE, kwatch demo --record FILE) in "
        "the TUI, with transport controls: play/pause, step to the next / previous "
        "controller step, speed 0.25x-16x, seek to a time or a step, bookmarks, notes.",
        epilog=f"T is {HELP}. Keys: space play/pause · . next step · , previous step · ] faster "
        "· [ slower · } next bookmark · { previous bookmark · t go to · b add a note "
        "(kept in FILE.notes.jsonl).",
    )
    p.add_argument("file", metavar="FILE", help="recording (.jsonl or .jsonl.gz)")
    p.add_argument(
        "--speed",
        metavar="X",
        help="playback speed, 0.25 to 16 (TUI default: 1; headless default: as fast as possible)",
    )
    p.add_argument("--start", metavar="T", help="start at T (a time, '#N' for step N, 'end')")
    p.add_argument("--paused", action="store_true", help="TUI: start paused")
    p.add_argument(
        "--headless",
        action="store_true",
        help="print the recorded steps, as live --headless printed them",
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "jsonl"),
        default="text",
        help="headless output format (default: text)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip corrupt lines instead of stopping (with a warning)",
    )
    return p


def run_replay_command(argv: Sequence[str]) -> int:
    args = build_replay_parser().parse_args(list(argv))
    speed = _speed(args.speed) if args.speed is not None else None
    start = _target("--start", args.start)
    recording = load(args.file, args.skip_bad)
    if args.headless:
        from kwatch.replay.headless import replay_headless

        try:
            return asyncio.run(
                replay_headless(recording, output=args.output, speed=speed, start_at=start)
            )
        except BrokenPipeError:
            # `kwatch replay F --headless | head`: the reader left; that is not an error.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    from kwatch.replay.controller import ReplayController
    from kwatch.sources.replay import NotesFile
    from kwatch.ui.replay_app import run_replay_tui

    controller = ReplayController(recording, notes_file=NotesFile(args.file, recording.start))
    controller.set_speed(speed if speed is not None else 1.0)
    return asyncio.run(run_replay_tui(controller, start=start, paused=args.paused))


# -- kwatch export ------------------------------------------------------------------------


def build_export_parser() -> ArgParser:
    p = ArgParser(
        prog="kwatch export",
        description="Export a recording: a Markdown or HTML transcript (steps, hazards, notes, "
        "pod lifecycle lanes), an SVG picture of the TUI at a moment, or an asciicast v2 "
        "of the step log.",
        epilog=f"T is {HELP}.",
    )
    p.add_argument("file", metavar="FILE", help="recording (.jsonl or .jsonl.gz)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="md, html, svg or cast (default: from OUT's extension, else md)",
    )
    p.add_argument(
        "--at",
        metavar="T",
        help="the moment to export (svg: the screen then; others: up to then; default: the end)",
    )
    p.add_argument("-o", "--out", metavar="OUT", help="output file (default: stdout)")
    p.add_argument(
        "--size",
        metavar="WxH",
        default=None,
        help="svg/cast terminal size in cells (default: 160x48 for svg, 120x40 for cast)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip corrupt lines instead of stopping (with a warning)",
    )
    return p


def _format(args_format: str | None, out: str | None) -> str:
    if args_format:
        return args_format
    if out:
        ext = os.path.splitext(out)[1].lower()
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        raise UsageError(f"cannot tell the format from {out!r}: pass --format md|html|svg|cast")
    return "md"


def run_export_command(argv: Sequence[str]) -> int:
    args = build_export_parser().parse_args(list(argv))
    fmt = _format(args.format, args.out)
    at = _target("--at", args.at) or Target("end")
    size = _size(args.size) if args.size else None
    recording = load(args.file, args.skip_bad)
    from kwatch.replay.exporting import export

    data = export(recording, fmt, at, size)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(data)
    else:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
