"""ReplayApp: the live TUI (KwatchApp) over a replayed recording, plus a transport.

Everything the live TUI shows is read from the session's pipeline, and replay drives
that pipeline through kwatch.replay.controller, so the panes need no replay mode. This
subclass only adds:

* the transport bar (above the footer) and its keys — space play/pause, `.` / `,` next
  / previous controller step, `]` / `[` speed, `}` / `{` next / previous bookmark,
  `t` go to a time or a step, a click on the progress bar to seek;
* a timer that advances the controller while playing;
* notes: `b` (the live app's bookmark key) adds a bookmark at the current moment, kept
  in FILE.notes.jsonl; the newest note shows in the narration line;
* rebuilding the timeline after the controller restored a checkpoint (going
  backwards): the view state was built by appending steps as they came, and must now
  show exactly the steps up to the new position.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer

from kwatch.replay.controller import ReplayController
from kwatch.replay.timespec import Target, format_offset
from kwatch.session import Session
from kwatch.sources.replay import Note
from kwatch.ui.app import KwatchApp
from kwatch.ui.replay_screen import SeekDialog
from kwatch.ui.state import (
    DETAIL,
    ENDPOINTS,
    HAZARDS,
    LANES,
    STATUS,
    TIMELINE,
    TREE,
    Entry,
)
from kwatch.ui.widgets.timeline import TimelineView
from kwatch.ui.widgets.transport import TransportBar, TransportView

TICK_S = 0.05  # the replay clock's resolution while playing
ALL_PANES = (TREE, TIMELINE, LANES, ENDPOINTS, DETAIL, HAZARDS, STATUS)


def replay_session(ctl: ReplayController) -> Session:
    rec = ctl.recording
    return Session(
        pipeline=ctl.pipeline,
        source="replay",
        context=rec.name,
        scope=rec.header.scope_text(),
        start=ctl.start,
        clock=lambda: ctl.now,
        read_only=True,
        narration=[],
    )


def note_line(note: Note, start: float) -> str:
    mark = "★ " if note.bookmark else ""
    return f"{mark}{note.text}  ({format_offset(note.t - start)})"


class ReplayApp(KwatchApp):
    TITLE = "kwatch replay"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("full_stop", "replay_step(1)", "Next step", show=False),
        Binding("comma", "replay_step(-1)", "Previous step", show=False),
        Binding("right_square_bracket", "replay_speed(1)", "Faster", show=False),
        Binding("left_square_bracket", "replay_speed(-1)", "Slower", show=False),
        Binding("right_curly_bracket", "replay_bookmark(1)", "Next bookmark", show=False),
        Binding("left_curly_bracket", "replay_bookmark(-1)", "Previous bookmark", show=False),
        Binding("t", "replay_goto", "Go to", show=False),
    ]

    def __init__(self, controller: ReplayController, session: Session | None = None) -> None:
        self.controller = controller
        session = session if session is not None else replay_session(controller)
        session.add_note = self._add_note
        super().__init__(session)
        self._rewinds = controller.rewinds
        self._last_tick = time.monotonic()
        self.sub_title = controller.recording.name

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The live layout, with the transport bar slotted in just above the footer.
        for widget in super().compose():
            if isinstance(widget, Footer):
                yield TransportBar(TransportView.of(self.controller), id="transport")
            yield widget

    def on_mount(self) -> None:
        # (KwatchApp.on_mount runs too: Textual calls the handler of every base class.)
        self.rebuild_view()
        self._last_tick = time.monotonic()
        self.set_interval(TICK_S, self._tick, name="replay")

    @property
    def transport(self) -> TransportBar:
        return self.query_one(TransportBar)

    def _show_transport(self) -> None:
        # query, not query_one: the replay timer may fire while the app shuts down.
        view = TransportView.of(self.controller)
        for bar in self.query(TransportBar):
            bar.show(view)

    # -- the clock ---------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        if self.controller.advance(elapsed):
            # Playing: the pipeline's listeners mark what changed and the app's drain
            # timer redraws it (at most ~7 times a second, whatever the speed).
            self.moved(redraw=False)

    def moved(self, *, redraw: bool = True) -> None:
        """The controller moved (or changed state): bring the panes along.

        `redraw`: a user action — redraw everything now (the clock jumped, ages and the
        lanes' axis moved), not on the next timer.
        """
        ctl = self.controller
        if ctl.rewinds != self._rewinds:
            self.rebuild_view()
            return
        notes = [note_line(n, ctl.start) for n in ctl.visible_notes()]
        if notes != self.session.narration:
            self.session.narration[:] = notes
            self.state.mark(STATUS)
        self._show_transport()
        if redraw:
            self.state.mark(TREE, LANES, ENDPOINTS, DETAIL, STATUS)
            self.refresh_view()

    def rebuild_view(self) -> None:
        """Make the view state show exactly the steps and hazards up to the position."""
        ctl = self.controller
        self._rewinds = ctl.rewinds
        state = self.state
        state.drain()  # fold in whatever the re-applied batches queued, then replace it
        hazards = ctl.pipeline.hazards.hazards
        entries = [Entry(s.t, step=s) for s in ctl.steps_until()]
        entries += [Entry(h.t, hazard_key=h.key) for h in hazards]
        entries.sort(key=lambda e: e.t)  # stable: a hazard follows the step raising it
        state.timeline = entries[-state.max_timeline :]
        state.hazards = {h.key: h for h in hazards}
        state.hazard_uids = {}
        for h in hazards:
            state.hazard_uids.setdefault(h.uid, []).append(h.key)
        # The timeline pane appends what is new; make it start over.
        for timeline in self.query(TimelineView):
            timeline.entries.clear()
        self.session.narration[:] = [note_line(n, ctl.start) for n in ctl.visible_notes()]
        state.mark(*ALL_PANES)
        self._show_transport()
        if self.query(TransportBar):  # still mounted
            self.refresh_view()

    # -- transport actions -------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        # Replay's pause stops the replay clock; the view keeps following every move.
        self.controller.toggle()
        self._last_tick = time.monotonic()
        self.moved()

    def action_replay_step(self, direction: int) -> None:
        ctl = self.controller
        ctl.pause()
        moved = ctl.next_step() if direction > 0 else ctl.prev_step()
        if not moved:
            self.notify("At the last step." if direction > 0 else "At the start.", timeout=2)
        self.moved()

    def action_replay_speed(self, direction: int) -> None:
        ctl = self.controller
        if direction > 0:
            ctl.faster()
        else:
            ctl.slower()
        self.moved()

    def action_replay_bookmark(self, direction: int) -> None:
        ctl = self.controller
        note = ctl.next_bookmark() if direction > 0 else ctl.prev_bookmark()
        if note is None:
            self.notify(
                "No bookmark "
                + ("after" if direction > 0 else "before")
                + " this moment (b adds one).",
                timeout=2,
            )
        self.moved()

    def action_replay_goto(self) -> None:
        where = f"{format_offset(self.controller.offset)}, step {self.controller.steps_applied}"

        def done(target: Target | None) -> None:
            if target is not None:
                self.seek(target)

        self.push_screen(SeekDialog(where), done)

    def seek(self, target: Target) -> None:
        self.controller.seek_target(target)
        self.moved()

    def on_transport_bar_seek(self, message: TransportBar.Seek) -> None:
        ctl = self.controller
        ctl.seek_time(ctl.start + message.fraction * ctl.duration)
        self.moved()

    # -- notes -------------------------------------------------------------------------
    def _add_note(self, text: str, bookmark: bool) -> None:
        try:
            self.controller.add_note(text, bookmark)
        except OSError as e:
            path = self.controller.notes_file.path if self.controller.notes_file else "notes"
            self.notify(f"Could not save the note to {path}: {e.strerror or e}", severity="error")
        self.moved()


async def run_replay_tui(
    controller: ReplayController, *, start: Target | None = None, paused: bool = False
) -> int:
    """Open the TUI on the recording; play from `start` (default: the beginning)."""
    controller.seek_target(start or Target("time", 0.0))
    if not paused and not controller.at_end:  # (play at the end would start over)
        controller.play()
    app = ReplayApp(controller)
    await app.run_async()
    return app.return_code or 0
