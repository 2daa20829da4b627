"""What a text export shows: a recording replayed up to a moment, as plain data.

The Markdown, HTML and asciicast exporters all render a `Transcript`: steps, hazards
and notes up to the moment, and every pod's lifecycle lane as the store has it then.
Built by replaying through the same controller the TUI uses, so an export shows what
the replay shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from kwatch.core.hazards import Hazard
from kwatch.core.steps import Step
from kwatch.core.store import Lane, LaneEntry, LaneMark
from kwatch.replay.controller import ReplayController
from kwatch.replay.timespec import Target, format_offset
from kwatch.sources.replay import Note, Recording


@dataclass(frozen=True, slots=True)
class LaneLine:
    uid: str
    namespace: str
    name: str
    node: str
    gone: bool
    entries: tuple[LaneEntry, ...]  # in time order


@dataclass(frozen=True, slots=True)
class Transcript:
    title: str
    file: str
    source: str
    scope: str
    kwatch: str
    start: float
    at: float  # the moment exported (epoch seconds)
    duration: float  # of the whole recording
    complete: bool  # exported up to the end
    closed: bool  # the recorder was closed cleanly
    steps: tuple[Step, ...]
    total_steps: int
    hazards: tuple[Hazard, ...]
    notes: tuple[Note, ...]
    lanes: tuple[LaneLine, ...]

    def offset(self, t: float) -> str:
        return f"+{t - self.start:.3f}s"

    @property
    def started(self) -> str:
        return datetime.fromtimestamp(self.start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def moment(self) -> str:
        return format_offset(self.at - self.start)

    def summary(self) -> str:
        upto = "" if self.complete else f" (exported up to {self.moment})"
        return (
            f"{_count(len(self.steps), 'step')}, {_count(len(self.hazards), 'hazard')}, "
            f"{_count(len(self.notes), 'note')}; recording {format_offset(self.duration)} "
            f"long{upto}"
        )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _lane(lane: Lane) -> LaneLine:
    entries = tuple(sorted(lane.entries, key=lambda e: e.t))
    return LaneLine(lane.uid, lane.namespace, lane.name, lane.node, lane.gone, entries)


def transcript_at(recording: Recording, target: Target) -> Transcript:
    ctl = ReplayController(recording)
    ctl.seek_target(target)
    lanes = sorted(
        (_lane(lane) for lane in ctl.pipeline.store.lanes.values()),
        key=lambda ln: (ln.entries[0].t if ln.entries else ctl.start, ln.namespace, ln.name),
    )
    header = recording.header
    return Transcript(
        title=header.title or os.path.basename(recording.path),
        file=os.path.basename(recording.path),
        source=header.source,
        scope=header.scope_text(),
        kwatch=header.kwatch,
        start=ctl.start,
        at=ctl.now,
        duration=ctl.duration,
        complete=ctl.at_end,
        closed=recording.closed,
        steps=tuple(ctl.steps_until()),
        total_steps=ctl.total_steps,
        hazards=tuple(ctl.pipeline.hazards.hazards),
        notes=tuple(ctl.visible_notes()),
        lanes=tuple(lanes),
    )


# -- lanes as text ---------------------------------------------------------------------------

MARK_CHAR: dict[LaneMark, str] = {
    LaneMark.PENDING: "P",
    LaneMark.SCHEDULED: "S",
    LaneMark.RUNNING: "R",
    LaneMark.READY: "Y",
    LaneMark.NOT_READY: "N",
    LaneMark.DELETION_REQUESTED: "D",
    LaneMark.ENDPOINT_JOINED: "+",
    LaneMark.ENDPOINT_READY: "e",
    LaneMark.ENDPOINT_NOT_READY: "n",
    LaneMark.ENDPOINT_TERMINATING: "t",
    LaneMark.ENDPOINT_LEFT: "-",
    LaneMark.CONTAINER_TERMINATED: "x",
    LaneMark.GONE: "G",
}
_MARK_RANK: dict[LaneMark, int] = {
    mark: rank
    for rank, mark in enumerate(
        (
            LaneMark.ENDPOINT_READY,
            LaneMark.ENDPOINT_NOT_READY,
            LaneMark.ENDPOINT_JOINED,
            LaneMark.ENDPOINT_TERMINATING,
            LaneMark.ENDPOINT_LEFT,
            LaneMark.PENDING,
            LaneMark.SCHEDULED,
            LaneMark.RUNNING,
            LaneMark.NOT_READY,
            LaneMark.READY,
            LaneMark.CONTAINER_TERMINATED,
            LaneMark.GONE,
            LaneMark.DELETION_REQUESTED,
        )
    )
}
LANE_LEGEND = (
    "P pending · S scheduled · R container running · Y ready · N not ready · "
    "D deletion requested · x container exited · G gone · endpoint: + joined, e ready, "
    "n not ready, t terminating, - left · fill: . pending, : scheduled, ~ running, "
    "= ready, ! terminating"
)


class Phase:
    """The fill between marks: what state the pod was in."""

    PENDING = "."
    SCHEDULED = ":"
    RUNNING = "~"
    READY = "="
    TERMINATING = "!"
    NONE = " "


def phase_after(mark: LaneMark, current: str) -> str:
    if current == Phase.TERMINATING and mark is not LaneMark.GONE:
        return current  # once deletion was requested, the pod is terminating till gone
    return {
        LaneMark.PENDING: Phase.PENDING,
        LaneMark.SCHEDULED: Phase.SCHEDULED,
        LaneMark.RUNNING: Phase.RUNNING,
        LaneMark.READY: Phase.READY,
        LaneMark.NOT_READY: Phase.RUNNING,
        LaneMark.DELETION_REQUESTED: Phase.TERMINATING,
        LaneMark.GONE: Phase.NONE,
    }.get(mark, current)


def lane_segments(lane: LaneLine, t0: float, t1: float) -> list[tuple[float, float, str]]:
    """(from, to, phase) spans of the lane between t0 and t1 (for drawing)."""
    spans: list[tuple[float, float, str]] = []
    phase = Phase.NONE
    last = t0
    for e in lane.entries:
        if e.t > last and phase != Phase.NONE:
            spans.append((last, min(e.t, t1), phase))
        last = max(last, e.t)
        phase = phase_after(e.mark, phase)
    if phase != Phase.NONE and t1 > last:
        spans.append((last, t1, phase))
    return spans


def lane_ascii(lane: LaneLine, t0: float, t1: float, width: int) -> str:
    """One line of `width` cells: phases as fill characters, marks as letters."""
    span = max(t1 - t0, 1e-9)

    def col(t: float) -> int:
        return max(0, min(width - 1, int((t - t0) / span * (width - 1) + 0.5)))

    cells = [" "] * width
    for a, b, phase in lane_segments(lane, t0, t1):
        for i in range(col(a), col(b) + 1):
            cells[i] = phase
    # Where marks share a cell, the more telling one wins (drawn last).
    for e in sorted(lane.entries, key=lambda e: _MARK_RANK.get(e.mark, 0)):
        cells[col(e.t)] = MARK_CHAR.get(e.mark, "?")
    return "".join(cells)


def lane_marks_text(lane: LaneLine, start: float) -> str:
    """Pending +1.000s → Scheduled +1.200s (0.20s) → …"""
    parts = []
    prev: float | None = None
    for e in lane.entries:
        gap = f" (+{e.t - prev:.2f}s)" if prev is not None else ""
        detail = f" {e.detail}" if e.detail else ""
        approx = "≈" if not e.observed else ""
        parts.append(f"{e.mark.value}{detail} {approx}+{e.t - start:.3f}s{gap}")
        prev = e.t
    return " → ".join(parts)
