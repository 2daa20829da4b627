"""The hazards pane: every hazard raised so far, with its measured window.

Two lines per hazard (what and how long; when and which pod), so the window and the
pod's name both fit a third of a wide screen. The full explanation is in the detail
pane of the pod (enter selects it).
"""

from __future__ import annotations

from kwatch.core.hazards import Hazard
from kwatch.ui.model.fmt import rel
from kwatch.ui.model.spans import Span, fit
from kwatch.ui.model.timeline import hazard_window
from kwatch.ui.state import ViewState
from kwatch.ui.widgets.linelist import LineList


def hazard_spans(h: Hazard, line: int, width: int, start: float) -> list[Span]:
    if line == 0:
        return fit(
            [("⚠ ", "hazard"), (h.kind, "hazard")],
            [(f" {hazard_window(h)}", "hazard" if h.open else "warn")],
            width,
        )
    right: list[Span] = []
    if h.details.get("exited_while_routable"):
        right.append((" exited while routable", "bad"))
    return fit([(f"  {rel(h.t, start)} ", "muted"), (h.name, "bold")], right, width)


class HazardsView(LineList):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hazards: list[Hazard] = []
        self.start = 0.0
        self.empty_text = "No hazards so far."

    def show(self, state: ViewState) -> None:
        self.start = state.session.start
        self.hazards = sorted(state.hazards.values(), key=lambda h: h.t)
        self.set_item_count(2 * len(self.hazards))

    @property
    def selected(self) -> Hazard | None:
        index = self.cursor // 2
        return self.hazards[index] if 0 <= index < len(self.hazards) else None

    def render_item(self, index: int, width: int) -> list[Span]:
        return hazard_spans(self.hazards[index // 2], index % 2, width, self.start)
