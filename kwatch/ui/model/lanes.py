"""Pod lifecycle lanes on a shared time axis, as character cells.

Each column covers `(t1 - t0) / width` seconds; its cell shows the pod's state at the
end of the column (Pending ░, Scheduled ▒, Running-not-ready ▓, Ready █, Terminating ▓,
Gone ·) and, on top, the most important mark inside the column: D deletion requested,
x container exited, - left the endpoints, t endpoint terminating, + joined. Columns
inside a hazard's measured window take the hazard role, so the dangerous stretch of a
lane is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from kwatch.core.hazards import Hazard
from kwatch.core.store import Lane, LaneEntry, LaneMark, Store
from kwatch.ui.model.spans import Role, Span

# Zoom levels of the time axis: None = the whole session, else the last N seconds.
ZOOMS: tuple[float | None, ...] = (None, 600.0, 120.0, 60.0, 30.0, 10.0)


class State(IntEnum):
    NONE = 0
    PENDING = 1
    SCHEDULED = 2
    NOT_READY = 3
    READY = 4
    TERMINATING = 5
    GONE = 6


CELL: dict[State, Span] = {
    State.NONE: (" ", ""),
    State.PENDING: ("░", "muted"),
    State.SCHEDULED: ("▒", "accent"),
    State.NOT_READY: ("▓", "warn"),
    State.READY: ("█", "ok"),
    State.TERMINATING: ("▓", "bad"),
    State.GONE: ("·", "muted"),
}

MARKS: dict[LaneMark, str] = {
    LaneMark.DELETION_REQUESTED: "D",
    LaneMark.CONTAINER_TERMINATED: "x",
    LaneMark.ENDPOINT_LEFT: "-",
    LaneMark.ENDPOINT_TERMINATING: "t",
    LaneMark.ENDPOINT_JOINED: "+",
}
_PRIORITY = {mark: i for i, mark in enumerate(MARKS)}  # lower wins

_STATE_NAMES = {
    State.PENDING: "pending",
    State.SCHEDULED: "scheduled",
    State.NOT_READY: "running-not-ready",
    State.READY: "ready",
    State.TERMINATING: "terminating",
    State.GONE: "gone",
}
_MARK_NAMES = {  # in the order they happen to a pod
    LaneMark.ENDPOINT_JOINED: "joined",
    LaneMark.DELETION_REQUESTED: "deleted",
    LaneMark.ENDPOINT_TERMINATING: "endpoint terminating",
    LaneMark.CONTAINER_TERMINATED: "exited",
    LaneMark.ENDPOINT_LEFT: "left",
}


def legend() -> list[Span]:
    """Each state's cell and each mark, named, drawn with the lanes' own roles."""
    out: list[Span] = []
    for state, name in _STATE_NAMES.items():
        out += [CELL[state], (f"{name} ", "")]
    out.append(("  ", ""))
    for mark, name in _MARK_NAMES.items():
        out += [(MARKS[mark], "marker"), (f"{name} ", "")]
    return out


def _next_state(state: State, mark: LaneMark) -> State:
    if state is State.GONE:
        return state
    if mark is LaneMark.GONE:
        return State.GONE
    if mark is LaneMark.DELETION_REQUESTED:
        return State.TERMINATING
    if state is State.TERMINATING:
        return state  # once deleting, readiness changes do not bring it back
    if mark is LaneMark.PENDING:
        return max(state, State.PENDING)
    if mark is LaneMark.SCHEDULED:
        return max(state, State.SCHEDULED)
    if mark in (LaneMark.RUNNING, LaneMark.NOT_READY, LaneMark.CONTAINER_TERMINATED):
        return State.NOT_READY
    if mark is LaneMark.READY:
        return State.READY
    return state


def state_at(entries: Sequence[LaneEntry], t: float) -> State:
    state = State.NONE
    for e in entries:
        if e.t > t:
            break
        state = _next_state(state, e.mark)
    return state


@dataclass(frozen=True, slots=True)
class Axis:
    t0: float
    t1: float
    width: int

    @property
    def step(self) -> float:
        return (self.t1 - self.t0) / self.width if self.width > 0 else 1.0

    def column(self, t: float) -> int:
        return int((t - self.t0) / self.step) if self.step > 0 else 0


def axis_for(start: float, now: float, width: int, zoom: float | None) -> Axis:
    t0 = start if zoom is None else max(start, now - zoom)
    t1 = max(now, t0 + 1.0)
    return Axis(t0, t1, max(1, width))


def lane_cells(
    lane: Lane, axis: Axis, upto: float, hazards: Sequence[Hazard] = ()
) -> list[Span]:
    """One span per column. Marks after `upto` (the view's frozen "now") are ignored."""
    entries = sorted((e for e in lane.entries if e.t <= upto), key=lambda e: e.t)
    windows = [
        (h.t, upto if h.open or h.window_s is None else h.t + h.window_s) for h in hazards
    ]
    cells: list[Span] = []
    state = State.NONE
    i = 0
    n = len(entries)
    step = axis.step
    for col in range(axis.width):
        start = axis.t0 + col * step
        end = start + step
        mark: LaneMark | None = None
        while i < n and entries[i].t < end:
            e = entries[i]
            state = _next_state(state, e.mark)
            if e.t >= start and e.mark in MARKS and (
                mark is None or _PRIORITY[e.mark] < _PRIORITY[mark]
            ):
                mark = e.mark
            i += 1
        if start > upto:
            cells.append((" ", ""))
            continue
        char, role = CELL[state]
        if mark is not None:
            char, role = MARKS[mark], "marker"
        if state is not State.NONE and any(a < end and start <= b for a, b in windows):
            role = "hazard" if mark is None else "marker"
        elif col == 0 and entries and entries[0].t < axis.t0 and state is not State.NONE:
            char = "◂"  # the lane began before the axis
        cells.append((char, role))
    return _merge(cells)


def _merge(cells: list[Span]) -> list[Span]:
    """Join neighbouring cells of one role: fewer segments to style and draw."""
    out: list[Span] = []
    for char, role in cells:
        if out and out[-1][1] == role:
            out[-1] = (out[-1][0] + char, role)
        else:
            out.append((char, role))
    return out


def axis_spans(axis: Axis, start: float) -> list[Span]:
    """Tick labels ("+10s") across the axis, relative to the session start."""
    width = axis.width
    span = axis.t1 - axis.t0
    if width < 8 or span <= 0:
        return [(" " * width, "")]
    # A tick step that leaves ~12 columns per label, at a round number of seconds.
    target = span * 12 / width
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
                 if s >= target), 7200.0)  # fmt: skip
    chars = [" "] * width
    roles: list[Role] = [""] * width
    first = (axis.t0 - start) // step * step + start
    t = first
    while t <= axis.t1:
        col = axis.column(t)
        if 0 <= col < width:
            d = t - start
            label = f"+{d:g}s" if d < 120 else f"+{d / 60:g}m"
            chars[col] = "┆"
            roles[col] = "muted"
            for k, ch in enumerate(label, start=1):
                if col + k < width:
                    chars[col + k] = ch
                    roles[col + k] = "muted"
        t += step
    return _merge(list(zip(chars, roles, strict=True)))


@dataclass(frozen=True, slots=True)
class LaneRow:
    """One lane in the pane: a recorded lane, or a pod met mid-life (seeded on draw)."""

    uid: str
    namespace: str
    name: str
    start: float
    lane: Lane | None  # None: ask the store for a lane seeded from the pod's timestamps
    gone: bool = False


def collect_lanes(store: Store, keep: Callable[[str, str, str], bool]) -> list[LaneRow]:
    """Every recorded lane (deleted pods' too) plus one per pod without a recorded lane,
    oldest first, as `keep(namespace, name, uid)` allows."""
    rows: list[LaneRow] = []
    recorded = store.lanes
    for lane in recorded.values():
        if keep(lane.namespace, lane.name, lane.uid):
            start = lane.entries[0].t if lane.entries else 0.0
            rows.append(LaneRow(lane.uid, lane.namespace, lane.name, start, lane, lane.gone))
    for pod in store.rows("Pod").values():
        if pod.uid not in recorded and keep(pod.namespace, pod.name, pod.uid):
            rows.append(LaneRow(pod.uid, pod.namespace, pod.name, pod.created or 0.0, None))
    rows.sort(key=lambda r: (r.start, r.name))
    return rows
