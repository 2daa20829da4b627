"""The replay TUI: transport keys, going backwards, seeking, bookmarks, notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from kwatch.replay.controller import CheckpointPolicy, ReplayController
from kwatch.replay.timespec import Target
from kwatch.sources.replay import NotesFile, read_recording
from kwatch.ui.replay_app import ReplayApp, run_replay_tui
from kwatch.ui.replay_screen import SeekDialog
from kwatch.ui.screens.dialogs import NoteDialog
from kwatch.ui.widgets.timeline import TimelineView
from kwatch.ui.widgets.transport import TransportBar, TransportView, transport_content

from .story import T0, fixed_story, record

SIZE = (160, 50)


@pytest.fixture
def rec_path(tmp_path: Path) -> Path:
    return record(
        tmp_path / "story.jsonl.gz",
        fixed_story(),
        notes=[(2.0, "pods are coming", True), (8.35, "deleted!", True)],
    )


def make_app(path: Path, start: Target | None = None) -> ReplayApp:
    recording = read_recording(path)
    ctl = ReplayController(
        recording,
        policy=CheckpointPolicy(every=2, cost_factor=0),
        notes_file=NotesFile(str(path), recording.start),
    )
    ctl.seek_target(start or Target("time", 0.0))
    return ReplayApp(ctl)


def shown_steps(app: ReplayApp) -> list[object]:
    return [e.step for e in app.state.timeline if e.step is not None]


def assert_view_matches(app: ReplayApp) -> None:
    ctl = app.controller
    assert shown_steps(app) == ctl.steps_until()
    hazards = ctl.pipeline.hazards.hazards
    assert set(app.state.hazards) == {h.key for h in hazards}
    timeline = app.query_one(TimelineView)
    assert len(timeline.entries) == len(app.state.timeline)


async def test_steps_forward_and_back_keep_the_view_exact(rec_path: Path) -> None:
    app = make_app(rec_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        ctl = app.controller
        assert not ctl.playing and ctl.steps_applied == 7  # the initial list's Synced steps
        assert_view_matches(app)
        for _ in range(11):  # one press per batch with steps (some have two)
            await pilot.press("full_stop")
        await pilot.pause()
        assert ctl.steps_applied == 20 and not ctl.playing
        assert_view_matches(app)
        assert app.state.hazards  # serving-while-dying was raised at step 20
        await pilot.press("comma")
        await pilot.pause()
        assert ctl.steps_applied == 19
        assert_view_matches(app)
        assert not app.state.hazards  # going back un-raises it
        assert "step 19/26" in str(app.transport.render())


async def test_goto_dialog_seeks_to_a_step_or_a_time(rec_path: Path) -> None:
    app = make_app(rec_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, SeekDialog)
        await pilot.press(*"later", "enter")
        assert isinstance(app.screen, SeekDialog)  # refused: says what is accepted
        app.screen.query_one(Input).value = "#22"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, SeekDialog)
        assert app.controller.steps_applied == 22
        assert_view_matches(app)
        app.seek(Target("time", 3.0))
        await pilot.pause()
        assert app.controller.offset == pytest.approx(3.0)
        assert_view_matches(app)


async def test_speed_keys_and_play_pause(rec_path: Path) -> None:
    app = make_app(rec_path)
    async with app.run_test(size=SIZE) as pilot:
        ctl = app.controller
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert ctl.speed == 4.0
        await pilot.press("left_square_bracket")
        assert ctl.speed == 2.0
        await pilot.press("space")
        assert ctl.playing
        await pilot.pause(0.4)
        assert ctl.offset > 0.3
        await pilot.press("space")
        assert not ctl.playing
        frozen = ctl.offset
        await pilot.pause(0.2)
        assert ctl.offset == frozen
        assert_view_matches(app)


async def test_bookmarks_jump_and_show_their_note(rec_path: Path) -> None:
    app = make_app(rec_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right_curly_bracket")
        await pilot.pause()
        assert app.controller.offset == pytest.approx(2.0)
        assert app.session.narration[-1].startswith("★ pods are coming")
        await pilot.press("right_curly_bracket")
        await pilot.pause()
        assert app.session.narration[-1].startswith("★ deleted!")
        await pilot.press("left_curly_bracket")
        await pilot.pause()
        assert app.controller.offset == pytest.approx(2.0)
        assert_view_matches(app)


async def test_b_adds_a_bookmark_kept_in_the_sidecar(rec_path: Path) -> None:
    app = make_app(rec_path, Target("time", 5.0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        assert isinstance(app.screen, NoteDialog)
        await pilot.press(*"watch the slice", "enter")
        await pilot.pause()
        assert app.session.narration[-1].startswith("★ watch the slice")
    notes = read_recording(rec_path).notes
    mine = [n for n in notes if n.sidecar]
    assert [n.text for n in mine] == ["watch the slice"] and mine[0].t == T0 + 5.0


async def test_clicking_the_progress_bar_seeks(rec_path: Path) -> None:
    app = make_app(rec_path)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.transport
        width = bar.content_region.width
        await pilot.click(TransportBar, offset=(width - 20, 0))
        await pilot.pause()
        assert app.controller.offset > app.controller.duration * 0.7
        assert_view_matches(app)


def test_transport_content_fits_and_shows_the_position(rec_path: Path) -> None:
    ctl = ReplayController(read_recording(rec_path))
    ctl.seek_step(12)
    view = TransportView.of(ctl)
    for width in (80, 160):
        lines = transport_content(view, width).plain.splitlines()
        assert len(lines) == 2 and all(len(line) <= width for line in lines)
        assert "step 12/26" in lines[1] and lines[0].count("★") == 2
        assert "‖" in lines[0] and "/ 10.7s" in lines[0]
    assert "space play" in transport_content(view, 160).plain


async def test_an_empty_recording_opens_and_every_key_is_harmless(tmp_path: Path) -> None:
    path = record(tmp_path / "empty.jsonl", [])
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("full_stop", "comma", "space", "right_curly_bracket", "left_curly_bracket"):
            await pilot.press(key)
        await pilot.pause(0.2)
        assert app.controller.total_steps == 0 and app.state.timeline == []
        assert "step 0/0" in str(app.transport.render())


async def test_starting_at_the_end_does_not_start_over(
    rec_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = read_recording(rec_path)
    ctl = ReplayController(recording)
    ctl.seek_target(Target("end"))
    ctl.play()  # play at the end starts over (a replay button)...
    assert ctl.position == 0

    async def quit_at_once(self: ReplayApp) -> None:
        return None

    monkeypatch.setattr(ReplayApp, "run_async", quit_at_once)
    ctl = ReplayController(recording)
    await run_replay_tui(ctl, start=Target("end"))  # ...but --start end stays there
    assert ctl.at_end and not ctl.playing
