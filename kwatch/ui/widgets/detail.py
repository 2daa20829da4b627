"""The detail pane: a scrollable description of the selected object."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static


class DetailView(VerticalScroll):
    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._markup = ""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    def show(self, markup: str, title: str, same_object: bool) -> None:
        self.border_title = title
        if markup != self._markup:  # most redraws change nothing here: skip the layout
            self._markup = markup
            self.query_one("#detail-body", Static).update(Content.from_markup(markup))
        if not same_object:
            self.scroll_home(animate=False)
