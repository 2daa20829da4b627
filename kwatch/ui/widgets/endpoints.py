"""The endpoints pane: every Service's endpoints with their conditions and pods."""

from __future__ import annotations

from collections.abc import Collection

from kwatch.ui.model.endpoints import EndpointLine, endpoint_lines, endpoint_spans
from kwatch.ui.model.filters import ObjectFilter
from kwatch.ui.model.spans import Span
from kwatch.ui.state import ViewState
from kwatch.ui.widgets.linelist import LineList


class EndpointsView(LineList):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[EndpointLine] = []
        self.hazard_uids: Collection[str] = ()
        self.empty_text = "No EndpointSlices in view."

    def show(self, state: ViewState) -> None:
        keep = ObjectFilter(state.filter, None, state.store)
        self.lines = endpoint_lines(state.store, keep)
        self.hazard_uids = state.hazard_uids
        self.set_item_count(len(self.lines))

    @property
    def selected(self) -> EndpointLine | None:
        return self.lines[self.cursor] if 0 <= self.cursor < len(self.lines) else None

    def render_item(self, index: int, width: int) -> list[Span]:
        return endpoint_spans(self.lines[index], width, self.hazard_uids)
