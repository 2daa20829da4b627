"""Where to go in a recording, as a user types it: a time offset, a step, or the end.

90  90.5  90s  1m30s  1:30  0:01:30  +90   seconds since the recording started
#12  step 12  step:12                       the 12th controller step
start  end
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

_STEP = re.compile(r"^(?:#|step\s*:?\s*)(\d+)$", re.I)
_UNITS = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_CLOCK = re.compile(r"^(\d+):(\d{1,2}(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?$")


class TimeSpecError(ValueError):
    """Not a time, step or end (the message says what is accepted)."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: Literal["time", "step", "end"]
    seconds: float = 0.0  # kind "time": seconds since the recording's start
    step: int = 0  # kind "step": 1-based step number

    def describe(self) -> str:
        if self.kind == "end":
            return "the end"
        if self.kind == "step":
            return f"step {self.step}"
        return format_offset(self.seconds)


HELP = "a time (90, 1:30, 1m30s), a step (#12) or 'end'"


def parse_target(text: str) -> Target:
    spec = text.strip().lower()
    if spec in ("start", "begin", "beginning"):
        return Target("time", 0.0)
    if spec == "end":
        return Target("end")
    m = _STEP.match(spec)
    if m:
        return Target("step", step=int(m.group(1)))
    spec = spec.removeprefix("+")
    seconds: float | None = None
    try:
        seconds = float(spec)
    except ValueError:
        clock = _CLOCK.match(spec)
        units = _UNITS.match(spec) if spec else None
        if clock:
            a, b, c = clock.groups()
            seconds = (
                (float(a) * 3600 + float(b) * 60 + float(c)) if c else (float(a) * 60 + float(b))
            )
        elif units and any(units.groups()):
            h, mi, s = (float(g) if g else 0.0 for g in units.groups())
            seconds = h * 3600 + mi * 60 + s
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise TimeSpecError(f"{text.strip()!r} is not {HELP}")
    return Target("time", seconds)


def format_offset(seconds: float) -> str:
    """1:05.3 / 12.0s: short, and sortable by eye."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}:{rest:04.1f}"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}:{int(minutes):02d}:{rest:04.1f}"
