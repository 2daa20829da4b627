"""Modal dialogs for the teaching actions: each says exactly what will change.

Nothing here talks to the cluster: a dialog returns the user's answer (dismiss value)
and the app performs the action. That keeps "asks first" testable on its own.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, Select, Static

from kwatch.ui.actions import bindings

_T = TypeVar("_T")


class Dialog(ModalScreen[_T]):
    """A centred box with a title, a body and Confirm / Cancel buttons."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings("dialog")]

    def __init__(self, title: str, body: str, confirm_label: str, *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body", markup=False)
            yield from self.compose_fields()
            yield Label("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    self.confirm_label, variant="error" if self.danger else "primary", id="confirm"
                )
                yield Button("Cancel", id="cancel")

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def result(self) -> _T | None:
        """The dismiss value for Confirm, or None to stay open (invalid input)."""
        raise NotImplementedError

    def show_error(self, message: str) -> None:
        self.query_one(".dialog-error", Label).update(message)

    @on(Button.Pressed, "#confirm")
    def _confirm_button(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_button(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_confirm()

    def action_confirm(self) -> None:
        value = self.result()
        if value is not None:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(Dialog[bool]):
    """Yes/no: returns True, or None when cancelled."""

    def result(self) -> bool:
        return True


class ScaleDialog(Dialog[int]):
    def __init__(self, title: str, body: str, current: int) -> None:
        super().__init__(title, body, "Scale")
        self.current = current

    def compose_fields(self) -> ComposeResult:
        yield Input(
            str(self.current),
            type="integer",
            validators=[Number(minimum=0, maximum=10_000)],
            id="replicas",
            placeholder="replicas",
        )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def result(self) -> int | None:
        field = self.query_one("#replicas", Input)
        validation = field.validate(field.value)
        if validation is not None and not validation.is_valid:
            self.show_error("replicas: a whole number from 0 to 10000")
            return None
        try:
            return int(field.value)
        except ValueError:
            self.show_error("replicas: a whole number from 0 to 10000")
            return None


class ImageDialog(Dialog[tuple[str, str]]):
    """Container + new image; returns (container, image)."""

    def __init__(self, title: str, body: str, containers: list[tuple[str, str]]) -> None:
        super().__init__(title, body, "Set image")
        self.containers = containers  # (name, current image)

    def compose_fields(self) -> ComposeResult:
        names = [(f"{n}  ({img})", n) for n, img in self.containers]
        yield Select(names, value=names[0][1], allow_blank=False, id="container")
        yield Input(self.containers[0][1], id="image", placeholder="image, e.g. nginx:1.27")

    def on_mount(self) -> None:
        self.query_one("#image", Input).focus()

    @on(Select.Changed, "#container")
    def _container_changed(self, event: Select.Changed) -> None:
        for name, image in self.containers:
            if name == event.value:
                self.query_one("#image", Input).value = image

    def result(self) -> tuple[str, str] | None:
        container = self.query_one("#container", Select).value
        image = self.query_one("#image", Input).value.strip()
        if not image or " " in image:
            self.show_error("image: a non-empty reference without spaces")
            return None
        return str(container), image


class NoteDialog(Dialog[str]):
    """A bookmark note for the recording."""

    def compose_fields(self) -> ComposeResult:
        yield Input(id="note", placeholder="what just happened?")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def result(self) -> str | None:
        text = self.query_one(Input).value.strip()
        if not text:
            self.show_error("write a short note")
            return None
        return text
