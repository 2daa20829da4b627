"""Headless output: one line per controller step, as text or JSON Lines."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import orjson

from kwatch.core.steps import Step


def _fmt_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else repr(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping | list | tuple):
        return orjson.dumps(value).decode()
    return str(value)


def format_details(details: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_fmt_value(v)}" for k, v in details.items())


def format_step_text(step: Step, start: float) -> str:
    obj = f"{step.kind} {step.namespace}/{step.name}" if step.namespace else (
        f"{step.kind} {step.name}"
    )
    line = f"+{step.t - start:9.3f}s  {step.actor:<24} {step.step:<24} {obj}"
    details = format_details(step.details)
    return f"{line}  {details}" if details else line


def step_json(step: Step, start: float) -> bytes:
    """Stable keys: t (seconds since start), actor, step, kind, namespace, name, details."""
    return orjson.dumps(
        {
            "t": round(step.t - start, 3),
            "actor": step.actor,
            "step": step.step,
            "kind": step.kind,
            "namespace": step.namespace,
            "name": step.name,
            "details": dict(step.details),
        },
        default=str,
    )


class StepPrinter:
    """Pipeline listener that writes steps to a text stream and flushes per batch."""

    def __init__(self, out: TextIO, output: str, start: float) -> None:
        self.out = out
        self.output = output
        self.start = start
        self.count = 0

    def __call__(self, steps: Sequence[Step]) -> None:
        if not steps:
            return
        for step in steps:
            if self.output == "jsonl":
                self.out.write(step_json(step, self.start).decode() + "\n")
            else:
                self.out.write(format_step_text(step, self.start) + "\n")
        self.count += len(steps)
        with contextlib.suppress(BrokenPipeError):
            self.out.flush()


async def wait_until_stopped(duration: float | None) -> None:
    """Return after `duration` seconds, or on SIGINT/SIGTERM, whichever is first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
