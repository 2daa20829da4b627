"""The ownership tree pane (line API over the flattened TreeLine model)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import ClassVar

from textual.binding import BindingType
from textual.message import Message

from kwatch.core.rows import Row
from kwatch.ui.actions import bindings
from kwatch.ui.model.spans import Span
from kwatch.ui.model.tree import MORE, TreeLine, TreeState
from kwatch.ui.model.tree_text import tree_line_spans
from kwatch.ui.widgets.linelist import LineList


class OwnershipTree(LineList):
    BINDINGS: ClassVar[list[BindingType]] = [*bindings("tree")]

    class StateChanged(Message):
        """Expansion or group limits changed: the app rebuilds the lines."""

    def __init__(self, state: TreeState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.lines: Sequence[TreeLine] = ()
        self._index: dict[str, int] = {}
        self.now = 0.0
        self.hazard_uids: Collection[str] = ()
        # How to get an object's newest row; None draws the rows the lines were built
        # with (a paused, frozen picture).
        self.resolve: Callable[[str], Row | None] | None = None
        self.empty_text = "Nothing in view yet (waiting for the first list, or filtered out)."

    @property
    def selected(self) -> TreeLine | None:
        if 0 <= self.cursor < len(self.lines):
            return self.lines[self.cursor]
        return None

    def show(self, lines: Sequence[TreeLine], now: float, hazard_uids: Collection[str]) -> None:
        """New lines; the cursor stays on the same object while it exists, else on the
        same row (the next object takes the place of a deleted one)."""
        previous = self.selected
        self.lines = lines
        self._index = {line.key: i for i, line in enumerate(lines)}
        self.now = now
        self.hazard_uids = hazard_uids
        target = self.cursor
        if previous is not None:
            target = self._index.get(previous.key, target)
        self.set_item_count(len(lines))
        target = max(0, min(target, len(lines) - 1))
        if target != self.cursor:
            self.cursor = target  # watch_cursor announces the move
        elif previous is None or self.selected is None or self.selected.key != previous.key:
            self.post_message(self.CursorMoved(self, self.cursor))

    def select_key(self, key: str) -> bool:
        index = self._index.get(key)
        if index is None:
            return False
        self.cursor = index
        return True

    def repaint(
        self, now: float, hazard_uids: Collection[str], uids: Collection[str] | None = None
    ) -> None:
        """Same lines, newer rows (looked up as each visible line is drawn): the lines
        of `uids`, or every visible line."""
        self.now = now
        self.hazard_uids = hazard_uids
        if uids is None:
            self.refresh()
        else:
            self.refresh_items(i for uid in uids if (i := self._index.get(uid)) is not None)

    def render_item(self, index: int, width: int) -> list[Span]:
        line = self.lines[index]
        row = self.resolve(line.row.uid) if self.resolve and line.row is not None else None
        return tree_line_spans(line, width, self.now, self.hazard_uids, row)

    # -- expansion -----------------------------------------------------------------
    def _changed(self) -> None:
        self.post_message(self.StateChanged())

    def action_toggle_node(self) -> None:
        line = self.selected
        if line is None:
            return
        if line.kind == MORE:
            self.state.show_more(line.group_key)
        elif line.expandable:
            self.state.toggle(line.key)
        else:
            return
        self._changed()

    def action_expand(self) -> None:
        line = self.selected
        if line is not None and line.expandable and not line.expanded:
            self.state.toggle(line.key)
            self._changed()

    def action_collapse(self) -> None:
        line = self.selected
        if line is None:
            return
        if line.expandable and line.expanded:
            self.state.toggle(line.key)
            self._changed()
        elif line.parent >= 0:
            self.cursor = line.parent
