"""The controller-step timeline: newest at the bottom, following live unless scrolled."""

from __future__ import annotations

from collections.abc import Mapping

from kwatch.core.hazards import Hazard
from kwatch.ui.model.filters import ObjectFilter
from kwatch.ui.model.spans import Span
from kwatch.ui.model.timeline import entry_ok, entry_spans
from kwatch.ui.state import Entry, ViewState
from kwatch.ui.widgets.linelist import LineList


class TimelineView(LineList):
    HAS_CURSOR = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self.start = 0.0
        self.hazards: Mapping[str, Hazard] = {}
        self.hazard_uids: Mapping[str, list[str]] = {}
        self._filter: ObjectFilter | None = None
        self._filter_key: object = None
        self._consumed: Entry | None = None  # last source entry already considered
        self.following = True  # stick to the newest line until the user scrolls away
        self.empty_text = "No controller steps yet."

    def show(self, state: ViewState) -> None:
        """Append what is new in `state.timeline` (or refilter when the filter changed)."""
        self.start = state.session.start
        self.hazards = state.hazards
        self.hazard_uids = state.hazard_uids
        focus = state.focus_uids if state.focus_uid else None
        key = (state.filter, state.focus_uid, len(state.focus_uids))
        source = state.timeline
        if key != self._filter_key or self._filter is None:
            self._filter_key = key
            self._filter = ObjectFilter(state.filter, focus, state.store)
            new = source
            self.entries = []
        else:
            new = self._unseen(source)
        keep = self._filter
        hazards = state.hazards
        self.entries.extend(e for e in new if entry_ok(keep, e, hazards))
        self._consumed = source[-1] if source else None
        overflow = len(self.entries) - state.max_timeline
        if overflow > 0:
            del self.entries[:overflow]
        self.set_item_count(len(self.entries))
        self._follow()

    def _follow(self) -> None:
        if self.following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Growth never moves scroll_y, so only the user (or _follow) lands here.
        self.following = round(new_value) >= self.max_scroll_y

    def on_resize(self) -> None:
        # (LineList.on_resize runs too: Textual calls the handler of every base class.)
        self.call_after_refresh(self._follow)

    def _unseen(self, source: list[Entry]) -> list[Entry]:
        """Entries after the last one consumed (found from the end: appends are small)."""
        last = self._consumed
        if last is None:
            return source
        for i in range(len(source) - 1, -1, -1):
            if source[i] is last:
                return source[i + 1 :]
        return source  # it was trimmed away: everything kept came after it

    def render_item(self, index: int, width: int) -> list[Span]:
        return entry_spans(self.entries[index], width, self.start, self.hazards, self.hazard_uids)
