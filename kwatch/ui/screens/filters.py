"""Dialogs that change the view filter: label selector editor and namespace switcher."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from kwatch.core.labels import SelectorError, parse_selector
from kwatch.ui.actions import bindings

ALL_NAMESPACES = "*"  # dismiss value meaning "every namespace of the scope"


class SelectorDialog(ModalScreen[str]):
    """Edit the view's label selector; the error shows inline as you type.

    Returns the new selector text ("" clears it) or None when cancelled. An invalid
    selector cannot be applied: enter keeps the dialog open with the error.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in bindings("dialog") if b.action == "cancel"
    ]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Label selector for the view", classes="dialog-title")
            yield Static(
                "e.g.  app=web,tier in (front,api),!canary   — empty shows everything",
                classes="dialog-body",
            )
            yield Input(self.current, id="selector", placeholder="app=web")
            yield Label("", id="selector-error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def validate(self, text: str) -> str:
        """The error message for `text`, "" when valid."""
        try:
            parse_selector(text)
        except SelectorError as e:
            return str(e)
        return ""

    @on(Input.Changed, "#selector")
    def _changed(self, event: Input.Changed) -> None:
        error = self.validate(event.value)
        self.query_one("#selector-error", Label).update(error)
        event.input.set_class(bool(error), "-invalid")

    @on(Input.Submitted, "#selector")
    def _submitted(self, event: Input.Submitted) -> None:
        error = self.validate(event.value)
        if error:
            self.query_one("#selector-error", Label).update(error)
            event.input.set_class(True, "-invalid")
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class NamespaceDialog(ModalScreen[str]):
    """Pick one namespace (with object counts) or all of them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in bindings("dialog") if b.action == "cancel"
    ]

    def __init__(self, namespaces: list[tuple[str, int]], current: str | None) -> None:
        super().__init__()
        self.namespaces = namespaces
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option("All namespaces in scope", id=ALL_NAMESPACES)]
        options += [Option(f"{ns}  ({n:,} objects)", id=ns) for ns, n in self.namespaces]
        with Vertical(classes="dialog"):
            yield Label("Namespace", classes="dialog-title")
            yield OptionList(*options, id="namespaces")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        target = self.current or ALL_NAMESPACES
        for index in range(options.option_count):
            if options.get_option_at_index(index).id == target:
                options.highlighted = index
        options.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or ALL_NAMESPACES)

    def action_cancel(self) -> None:
        self.dismiss(None)
