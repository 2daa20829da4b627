"""The replay transport bar: play state, speed, a progress bar with bookmarks, position.

    ▶ 2x  ━━━━━━━━━━━━━━━●──────★─────────────────  1:02.3 / 5:00.0
    step 12/80 · batch 40/200 · ★ 3      space play · , . step · [ ] speed · { } ★ · t go to

What it shows is a `TransportView` (plain data, built from the controller), rendered
by `transport_content` — a pure function, testable without an app. A click on the
progress bar asks the app to seek there (`TransportBar.Seek`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.content import Content
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget

from kwatch.replay.controller import ReplayController
from kwatch.replay.timespec import format_offset

HINTS = "space play · , . step · [ ] speed · { } bookmark · t go to · b note"


@dataclass(frozen=True, slots=True)
class TransportView:
    playing: bool
    speed: float
    offset: float  # seconds since the recording's start
    duration: float
    step: int  # steps shown (the newest one's number)
    steps: int
    position: int  # batches applied
    batches: int
    bookmarks: tuple[float, ...]  # offsets
    at_end: bool

    @classmethod
    def of(cls, ctl: ReplayController) -> TransportView:
        return cls(
            playing=ctl.playing,
            speed=ctl.speed,
            offset=ctl.offset,
            duration=ctl.duration,
            step=ctl.steps_applied,
            steps=ctl.total_steps,
            position=ctl.position,
            batches=ctl.total_batches,
            bookmarks=tuple(n.t - ctl.start for n in ctl.bookmarks),
            at_end=ctl.at_end,
        )


def speed_text(speed: float) -> str:
    return f"{speed:g}x"


def _prefix(view: TransportView) -> str:
    # ⏸ is missing from many terminal fonts; these three are in all of them.
    icon = "▶" if view.playing else ("■" if view.at_end else "‖")
    return f" {icon} {speed_text(view.speed):>5}  "


def _suffix(view: TransportView) -> str:
    return f"  {format_offset(view.offset)} / {format_offset(view.duration)} "


def bar_width(view: TransportView, width: int) -> int:
    return max(10, width - len(_prefix(view)) - len(_suffix(view)))


def bar_cells(view: TransportView, width: int) -> list[tuple[str, str]]:
    """(character, role) cells: played ━, to come ─, the head ●, bookmarks ★."""
    span = view.duration if view.duration > 0 else 1.0

    def col(offset: float) -> int:
        return max(0, min(width - 1, round(offset / span * (width - 1))))

    head = col(view.offset)
    cells = [("━", "played") if i < head else ("─", "rest") for i in range(width)]
    for b in view.bookmarks:
        cells[col(b)] = ("★", "bookmark")
    cells[head] = ("●", "head")
    return cells


_ROLE_STYLE = {
    "played": "$accent",
    "rest": "$text-muted",
    "bookmark": "$warning",
    "head": "b $accent",
}


def transport_content(view: TransportView, width: int) -> Content:
    state = "$success" if view.playing else "$warning"
    bar = "".join(
        f"[{_ROLE_STYLE[role]}]{ch}[/]" for ch, role in bar_cells(view, bar_width(view, width))
    )
    line1 = f"[b {state}]{escape(_prefix(view))}[/]{bar}[b]{escape(_suffix(view))}[/]"
    marks = len(view.bookmarks)
    info = f" step [b]{view.step}[/]/{view.steps} · batch {view.position}/{view.batches}" + (
        f" · [$warning]★ {marks}[/]" if marks else ""
    )
    info_len = Content.from_markup(info).cell_length
    hints = HINTS if info_len + len(HINTS) + 4 <= width else ""
    pad = " " * max(1, width - info_len - len(hints) - 1)
    line2 = f"{info}{pad}[$text-muted]{escape(hints)}[/]"
    return Content.from_markup(f"{line1}\n{line2}")


class TransportBar(Widget):
    DEFAULT_CSS = """
    TransportBar {
        height: 2;
        background: $panel;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set()

    class Seek(Message):
        """The user clicked the progress bar at `fraction` (0..1) of the recording."""

        def __init__(self, fraction: float) -> None:
            self.fraction = fraction
            super().__init__()

    def __init__(self, view: TransportView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view

    def show(self, view: TransportView) -> None:
        if view != self.view:
            self.view = view
            self.refresh()

    def render(self) -> Content:
        return transport_content(self.view, self.content_region.width or 80)

    def on_click(self, event: events.Click) -> None:
        if event.y != 0:
            return
        width = self.content_region.width or 80
        left = len(_prefix(self.view))
        bar = bar_width(self.view, width)
        x = event.x - left
        if 0 <= x < bar:
            self.post_message(self.Seek(x / max(1, bar - 1)))
