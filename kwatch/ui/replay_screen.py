"""The replay's "go to" dialog: a time, a step or the end, validated as the CLI's --start."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input

from kwatch.replay.timespec import HELP, Target, TimeSpecError, parse_target
from kwatch.ui.screens.dialogs import Dialog


class SeekDialog(Dialog[Target]):
    """Returns the Target typed, or None when cancelled."""

    def __init__(self, where: str) -> None:
        super().__init__("Go to", f"Now at {where}. Type {HELP}.", "Go")

    def compose_fields(self) -> ComposeResult:
        yield Input(id="target", placeholder="1:30 · 90 · #12 · end")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def result(self) -> Target | None:
        try:
            return parse_target(self.query_one(Input).value)
        except TimeSpecError as e:
            self.show_error(str(e))
            return None
