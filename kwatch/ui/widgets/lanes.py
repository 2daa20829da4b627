"""Pod lifecycle lanes: one row per pod on a shared time axis, plus the axis header."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message

from kwatch.core.hazards import Hazard
from kwatch.core.store import Lane
from kwatch.ui.actions import bindings
from kwatch.ui.model.filters import ObjectFilter
from kwatch.ui.model.fmt import ellipsize
from kwatch.ui.model.lanes import (
    ZOOMS,
    Axis,
    LaneRow,
    axis_for,
    axis_spans,
    collect_lanes,
    lane_cells,
    legend,
)
from kwatch.ui.model.spans import Role, Span, cut
from kwatch.ui.state import ViewState
from kwatch.ui.widgets.linelist import LineList

# The second header line on wide screens (on narrow ones, `?` shows it).
LEGEND = legend()


def label_width(width: int) -> int:
    return max(12, min(30, width // 3))


class LaneAxis(LineList, can_focus=False):
    """The time axis (and legend) above the lanes; not a list anyone navigates."""

    HAS_CURSOR = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.axis = Axis(0.0, 1.0, 1)
        self.start = 0.0
        self.note = ""

    def show(self, axis: Axis, start: float, note: str) -> None:
        self.axis, self.start, self.note = axis, start, note
        self.set_item_count(2)

    def render_item(self, index: int, width: int) -> list[Span]:
        lw = label_width(width)
        if index == 1:
            return cut([(" " * lw, ""), *LEGEND], width)
        return [(f"{self.note:<{lw}.{lw}}", "muted"), *axis_spans(self.axis, self.start)]


class LanesView(LineList):
    BINDINGS: ClassVar[list[BindingType]] = [*bindings("lanes")]

    class Rezoomed(Message):
        """The time axis changed: the pane redraws its axis header."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[LaneRow] = []
        self._index: dict[str, int] = {}
        self.state: ViewState | None = None
        self.zoom_index = 0
        self.axis = Axis(0.0, 1.0, 1)
        self.empty_text = "No pods yet."

    @property
    def zoom(self) -> float | None:
        return ZOOMS[self.zoom_index]

    def axis_for_width(self, width: int) -> Axis:
        state = self.state
        if state is None:
            return self.axis
        bars = max(1, width - label_width(width))
        return axis_for(state.session.start, state.now, bars, self.zoom)

    def show(self, state: ViewState) -> None:
        self.state = state
        focus = state.focus_uids if state.focus_uid else None
        keep = ObjectFilter(state.filter, focus, state.store)
        previous = self.selected
        self.rows = collect_lanes(state.store, keep)
        self._index = {row.uid: i for i, row in enumerate(self.rows)}
        self.axis = self.axis_for_width(self.scrollable_content_region.width)
        self.set_item_count(len(self.rows))
        if previous is not None:
            self.select_uid(previous.uid)  # the cursor stays on its pod as lanes come and go

    @property
    def selected(self) -> LaneRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def select_uid(self, uid: str) -> None:
        """Follow the tree's selection (without taking the focus)."""
        index = self._index.get(uid)
        if index is not None:
            self.cursor = index

    def repaint_uids(self, uids: Collection[str]) -> None:
        self.refresh_items(i for uid in uids if (i := self._index.get(uid)) is not None)

    def _lane(self, row: LaneRow) -> Lane | None:
        if row.lane is not None:
            return row.lane
        return self.state.store.lane(row.uid) if self.state is not None else None

    def render_item(self, index: int, width: int) -> list[Span]:
        row = self.rows[index]
        state = self.state
        hazards: Sequence[Hazard] = state.hazards_of(row.uid) if state is not None else ()
        lw = label_width(width)
        mark = "⚠ " if hazards else ""
        label = ellipsize(mark + row.name, lw - 1).ljust(lw)
        role: Role = "hazard" if hazards else ("muted" if row.gone else "")
        lane = self._lane(row)
        if lane is None or state is None:
            return [(label, role)]
        return [(label, role), *lane_cells(lane, self.axis, state.now, hazards)]

    # -- actions -------------------------------------------------------------------
    def action_dismiss_lane(self) -> None:
        row = self.selected
        if row is None or self.state is None:
            return
        if not row.gone:
            self.notify("Only lanes of deleted pods can be dismissed.", severity="warning")
            return
        self.state.store.dismiss_lane(row.uid)
        self.show(self.state)

    def action_dismiss_gone(self) -> None:
        if self.state is None:
            return
        for row in self.rows:
            if row.gone:
                self.state.store.dismiss_lane(row.uid)
        self.show(self.state)

    def action_zoom(self, direction: str) -> None:
        step = 1 if direction == "+" else -1
        self.zoom_index = max(0, min(len(ZOOMS) - 1, self.zoom_index + step))
        if self.state is not None:
            self.show(self.state)
        self.post_message(self.Rezoomed())


class LanesPane(Vertical):
    """Axis header + lanes, under one border."""

    def compose(self) -> ComposeResult:
        yield LaneAxis(id="lane-axis")
        yield LanesView(id="lane-list")

    def show(self, state: ViewState) -> None:
        lanes = self.query_one(LanesView)
        lanes.show(state)
        self._show_axis(lanes)

    def repaint(self, uids: Collection[str] | None = None) -> None:
        """Same lanes with newer marks: those of `uids` on the current axis, or all of
        them on an axis moved to "now" (the clock tick does that once a second, so the
        lanes stay aligned with each other)."""
        lanes = self.query_one(LanesView)
        if uids is not None:
            lanes.repaint_uids(uids)
            return
        lanes.axis = lanes.axis_for_width(lanes.scrollable_content_region.width)
        lanes.refresh()
        self._show_axis(lanes)

    def _show_axis(self, lanes: LanesView) -> None:
        zoom = lanes.zoom
        span = "whole session" if zoom is None else f"last {zoom:g}s"
        start = lanes.state.session.start if lanes.state is not None else 0.0
        self.query_one(LaneAxis).show(lanes.axis, start, f"pod ({span})")

    def on_lanes_view_rezoomed(self) -> None:
        self._show_axis(self.query_one(LanesView))

    def on_resize(self) -> None:
        lanes = self.query_one(LanesView)
        if lanes.state is not None:
            self.show(lanes.state)
