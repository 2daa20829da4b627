"""LineList: the base of every big pane, drawn with Textual's line API.

Why not DataTable / Tree: those build a widget-side model of every row, which at
50,000 pods costs seconds and megabytes per refresh. A ScrollView asks only for the
lines on screen (`render_line`), so a pane's cost is its height, not its data. A
subclass says how many items it has (`set_item_count`) and how one reads
(`render_item`, as spans with roles); this class owns the cursor, scrolling, and the
mapping of roles to component-class styles (kwatch.tcss, theme variables only).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kwatch.ui.actions import bindings
from kwatch.ui.model.spans import ROLES, Span


class LineList(ScrollView, can_focus=True):
    """A focusable list of one-line items with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings("list")]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "list--cursor",
        "list--cursor-blurred",
        *(f"kw--{role}" for role in ROLES),
    }

    cursor: var[int] = var(0)
    # Lists without a selection (the timeline) scroll instead of moving a cursor.
    HAS_CURSOR: ClassVar[bool] = True

    class CursorMoved(Message):
        """The cursor moved to `index` (posted by the list, handled by the app)."""

        def __init__(self, source: LineList, index: int) -> None:
            self.source = source
            self.index = index
            super().__init__()

        @property
        def control(self) -> LineList:
            return self.source

    class Activated(Message):
        """Enter on an item of a list without its own enter action."""

        def __init__(self, source: LineList, index: int) -> None:
            self.source = source
            self.index = index
            super().__init__()

        @property
        def control(self) -> LineList:
            return self.source

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._count = 0
        self.empty_text = ""
        self._styles: dict[str, Style] | None = None  # role → style, until CSS changes

    # -- what subclasses provide ---------------------------------------------------
    def render_item(self, index: int, width: int) -> list[Span]:
        raise NotImplementedError

    # -- size & data ---------------------------------------------------------------
    def set_item_count(self, count: int) -> None:
        """Declare a new item count and redraw (call after the model changed)."""
        self._count = count
        self.virtual_size = Size(self.scrollable_content_region.width, count)
        if self.HAS_CURSOR and count and self.cursor >= count:
            self.cursor = count - 1
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self._count)

    # -- drawing -------------------------------------------------------------------
    def _role_styles(self) -> dict[str, Style]:
        """Styles of the roles (and "" for the pane's own), computed once per theme.

        Why cached: render_line runs for every visible line of every frame; resolving
        nine component styles each time was a measurable part of a frame.
        """
        styles = self._styles
        if styles is None:
            # Not partial: translucent backgrounds ($error 20%) must be blended with
            # the pane's own background to be legible.
            styles = {role: self.get_component_rich_style(f"kw--{role}") for role in ROLES}
            styles[""] = self.rich_style
            self._styles = styles
        return styles

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None  # a new theme, focus, or CSS: recompute

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        styles = self._role_styles()
        base = styles[""]
        index = self.scroll_offset.y + y
        if index >= self._count:
            if index == 0 and self.empty_text:
                muted = self.get_component_rich_style("kw--muted")
                return Strip([Segment(f" {self.empty_text}"[:width], muted)]).extend_cell_length(
                    width, base
                )
            return Strip.blank(width, base)
        segments = [Segment(text, styles[role]) for text, role in self.render_item(index, width)]
        if self.HAS_CURSOR and index == self.cursor:
            # Over the roles' own colours (post_style), like DataTable's cursor.
            if self.has_focus:
                cursor = self.get_component_rich_style("list--cursor")
            else:  # a quiet background only: the focused pane's cursor is the one to see
                blurred = self.get_component_rich_style("list--cursor-blurred")
                cursor = Style(bgcolor=blurred.bgcolor)
            segments = list(Segment.apply_style(segments, post_style=cursor))
        return Strip(segments).crop_extend(0, width, base)

    def refresh_items(self, indexes: Iterable[int]) -> None:
        """Redraw these items if they are on screen (the others draw when scrolled to)."""
        top = round(self.scroll_y)
        bottom = top + self.scrollable_content_region.height
        for index in indexes:
            if top <= index < bottom:
                self.refresh_line(index)

    def on_focus(self) -> None:
        self.refresh_line(self.cursor)

    def on_blur(self) -> None:
        self.refresh_line(self.cursor)

    # -- cursor ----------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        if not self.HAS_CURSOR:
            return
        self.refresh_line(old)
        self.refresh_line(new)
        self.scroll_cursor_visible()
        self.post_message(self.CursorMoved(self, new))

    def scroll_cursor_visible(self) -> None:
        height = self.scrollable_content_region.height
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif height and self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def move_cursor(self, delta: int) -> None:
        if not self.HAS_CURSOR:
            self.scroll_to(y=self.scroll_y + delta, animate=False, immediate=True)
            return
        if self._count:
            self.cursor = max(0, min(self._count - 1, self.cursor + delta))

    def action_cursor_down(self) -> None:
        self.move_cursor(1)

    def action_cursor_up(self) -> None:
        self.move_cursor(-1)

    def action_page_down(self) -> None:
        self.move_cursor(max(1, self.scrollable_content_region.height - 1))

    def action_page_up(self) -> None:
        self.move_cursor(-max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.move_cursor(-self._count)

    def action_last(self) -> None:
        self.move_cursor(self._count)

    def action_activate(self) -> None:
        if self.HAS_CURSOR and self._count:
            self.post_message(self.Activated(self, self.cursor))
