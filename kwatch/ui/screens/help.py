"""The `?` screen: every key from the action registry, plus how to read the panes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from kwatch.ui.actions import ACTIONS, Group

_GROUP_ORDER: tuple[Group, ...] = ("View", "Filter", "Cluster", "Panes", "Navigate", "Dialogs")

LEGEND = """\
[b $text-accent]Reading the panes[/]
  [$text-success]●[/] ready   [$text-warning]◐[/] running, not ready   [$text-muted]○[/] pending   \
[$text-error]✕[/] terminating (grace period countdown)
  Lanes: [$text-muted]░[/] pending  [$text-accent]▒[/] scheduled  [$text-warning]▓[/] running, \
not ready  [$text-success]█[/] ready  [$text-error]▓[/] terminating  [$text-muted]·[/] gone
         [reverse]+[/] joined the endpoints  [reverse]-[/] left them  [reverse]t[/] endpoint \
terminating  [reverse]D[/] deletion requested  [reverse]x[/] container exited
  [$text-error]⚠[/] a hazard: an ordering that costs traffic (Hazards pane; its pod's detail)
  Times are seconds since the session started; ages and countdowns use the session's clock."""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static("kwatch — keys", classes="dialog-title")
            for group in _GROUP_ORDER:
                actions = [a for a in ACTIONS if a.group == group]
                yield Static(group, classes="help-group")
                with Grid(classes="help-keys"):
                    for a in actions:
                        yield Static(a.display_keys, classes="help-key", markup=False)
                        yield Static(a.description, classes="help-what", markup=False)
                        yield Static(a.help, classes="help-why", markup=False)
            yield Static(Content.from_markup(LEGEND), id="help-legend")

    def action_close(self) -> None:
        self.dismiss(None)
