"""The transport model: replay at T equals live at T, however the user moved around."""

from __future__ import annotations

import bisect
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwatch.core.pipeline import Pipeline
from kwatch.core.steps import Step
from kwatch.replay.controller import SPEEDS, CheckpointPolicy, ReplayController
from kwatch.replay.snapshot import restore, store_picture, take
from kwatch.replay.timespec import Target
from kwatch.sources.replay import NotesFile, read_recording

from .story import T0, Batches, fixed_story, record, stories

DENSE = CheckpointPolicy(every=3, cost_factor=0)  # many checkpoints: exercise restores


def live_at(batches: Batches, t: float) -> tuple[Pipeline, list[Step]]:
    """What a live session had at time t: every batch observed by then, in order."""
    pipeline = Pipeline(suppress_initial_list_steps=True)
    steps: list[Step] = []
    pipeline.on_steps(steps.extend)
    for batch in batches:
        if max(ev.t for ev in batch) > t:
            break
        pipeline(batch)
    return pipeline, steps


def assert_same(ctl: ReplayController, live: Pipeline, live_steps: list[Step]) -> None:
    assert store_picture(ctl.pipeline.store) == store_picture(live.store)
    assert ctl.pipeline.hazards.hazards == live.hazards.hazards
    assert ctl.steps_until() == live_steps
    mine, theirs = ctl.pipeline.stats, live.stats
    for counter in ("events", "changes", "steps", "hazards", "batches", "suppressed", "per_kind"):
        assert getattr(mine, counter) == getattr(theirs, counter), counter


moves = st.lists(
    st.one_of(
        st.tuples(st.just("seek"), st.integers(0, 200)),
        st.tuples(st.just("time"), st.floats(0, 1)),
        st.tuples(st.just("step"), st.integers(0, 200)),
        st.tuples(st.sampled_from(["next", "prev", "next_bm", "prev_bm", "end"]), st.none()),
        st.tuples(st.just("play"), st.floats(0.01, 30)),
    ),
    max_size=12,
)


def move(ctl: ReplayController, op: str, arg: object) -> None:
    if op == "seek":
        assert isinstance(arg, int)
        ctl.seek(arg)
    elif op == "time":
        assert isinstance(arg, float)
        ctl.seek_time(ctl.start + arg * ctl.duration)
    elif op == "step":
        assert isinstance(arg, int)
        ctl.seek_step(arg)
    elif op == "next":
        ctl.next_step()
    elif op == "prev":
        ctl.prev_step()
    elif op == "next_bm":
        ctl.next_bookmark()
    elif op == "prev_bm":
        ctl.prev_bookmark()
    elif op == "end":
        ctl.seek_target(Target("end"))
    elif op == "play":
        assert isinstance(arg, float)
        ctl.play()
        ctl.set_speed(4)
        ctl.advance(arg)
        ctl.pause()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=stories(), path=moves, at=st.floats(0, 1), on_batch=st.booleans())
def test_replay_at_t_equals_live_at_t(
    batches: Batches, path: list[tuple[str, object]], at: float, on_batch: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        file = record(
            Path(tmp) / "r.jsonl.gz", batches, notes=[(2.0, "first", True), (9.0, "second", True)]
        )
        ctl = ReplayController(read_recording(file), policy=DENSE)
    for op, arg in path:
        move(ctl, op, arg)
    times = [max(ev.t for ev in b) for b in batches]
    # Exactly on a batch's time (the boundary) or anywhere in between.
    t = times[int(at * (len(times) - 1))] if on_batch else T0 + at * (times[-1] - T0)
    ctl.seek_time(t)
    live, steps = live_at(batches, t)
    assert ctl.position == bisect.bisect_right(times, t)
    assert_same(ctl, live, steps)


@settings(max_examples=25, deadline=None)
@given(batches=stories(max_ops=25))
def test_checkpoint_restore_is_exact_and_reusable(batches: Batches) -> None:
    pipeline = Pipeline()
    half = len(batches) // 2
    for batch in batches[:half]:
        pipeline(batch)
    checkpoint = take(pipeline, half)
    expected = store_picture(pipeline.store)
    for batch in batches[half:]:
        pipeline(batch)
    for _ in range(2):  # a checkpoint survives being restored
        restore(pipeline, checkpoint)
        assert store_picture(pipeline.store) == expected


# -- the transport, move by move --------------------------------------------------------


@pytest.fixture
def ctl(tmp_path: Path) -> ReplayController:
    file = record(
        tmp_path / "story.jsonl",
        fixed_story(),
        notes=[(2.0, "pods are coming", True), (8.35, "deleted!", True), (4.0, "narration", False)],
    )
    return ReplayController(read_recording(file), policy=DENSE, notes_file=NotesFile(str(file), T0))


def test_stepping_forward_and_back_one_step_batch_at_a_time(ctl: ReplayController) -> None:
    seen = []
    while ctl.next_step():
        seen.append(ctl.steps_applied)
    assert seen == sorted(set(seen)) and seen[-1] == ctl.total_steps
    back = []
    while ctl.prev_step():
        back.append(ctl.steps_applied)
    assert back == [*reversed(seen[:-1]), 0]
    assert ctl.position == 0 and ctl.steps_applied == 0


def test_step_back_shows_the_previous_step_as_newest(ctl: ReplayController) -> None:
    ctl.seek_step(12)
    newest = ctl.steps_until()[-1]
    ctl.next_step()
    ctl.prev_step()
    assert ctl.steps_until()[-1] == newest
    assert ctl.now == ctl.time_at(ctl.position)


def test_seek_by_time_step_and_end(ctl: ReplayController) -> None:
    ctl.seek_offset(5.0)
    assert ctl.offset == pytest.approx(5.0)
    assert all(s.t <= T0 + 5.0 for s in ctl.steps_until())
    ctl.seek_step(9)
    assert ctl.steps_applied >= 9 and ctl.steps_until()[8] == ctl.index.steps[8]
    ctl.seek_target(Target("end"))
    assert ctl.at_end and ctl.steps_applied == ctl.total_steps
    ctl.seek_offset(-50)  # clamped to the start: the initial list (at +0s) is applied
    assert ctl.position == 1 and ctl.now == ctl.start
    ctl.seek_offset(1e9)
    assert ctl.position == ctl.total_batches


def test_playing_moves_the_clock_at_the_chosen_speed(ctl: ReplayController) -> None:
    ctl.play()
    ctl.advance(1.0)
    assert ctl.offset == pytest.approx(1.0)
    ctl.set_speed(4.0)
    ctl.advance(0.5)
    assert ctl.offset == pytest.approx(3.0)
    assert all(s.t <= ctl.now for s in ctl.steps_until())
    ctl.pause()
    assert not ctl.advance(5.0) and ctl.offset == pytest.approx(3.0)
    ctl.play()
    ctl.set_speed(16)
    while ctl.playing:
        ctl.advance(1.0)
    assert ctl.at_end and ctl.steps_applied == ctl.total_steps
    ctl.play()  # at the end, play starts over
    assert ctl.position == 0 and ctl.playing


def test_speed_steps_stay_between_a_quarter_and_sixteen(ctl: ReplayController) -> None:
    for _ in range(10):
        ctl.faster()
    assert ctl.speed == 16.0
    for _ in range(10):
        ctl.slower()
    assert ctl.speed == 0.25
    ctl.set_speed(3)
    assert ctl.speed in SPEEDS


def test_bookmarks_jump_both_ways_and_notes_show_from_their_moment(
    ctl: ReplayController,
) -> None:
    assert [n.text for n in ctl.bookmarks] == ["pods are coming", "deleted!"]
    first = ctl.next_bookmark()
    assert first is not None and first.text == "pods are coming"
    assert ctl.now == pytest.approx(T0 + 2.0)
    assert [n.text for n in ctl.visible_notes()] == ["pods are coming"]
    second = ctl.next_bookmark()
    assert second is not None and second.text == "deleted!"
    assert ctl.next_bookmark() is None
    assert [n.text for n in ctl.visible_notes()] == ["pods are coming", "narration", "deleted!"]
    back = ctl.prev_bookmark()
    assert back is not None and back.text == "pods are coming"
    assert ctl.prev_bookmark() is None


def test_a_note_added_during_replay_lands_in_the_sidecar(
    ctl: ReplayController, tmp_path: Path
) -> None:
    ctl.seek_offset(6.0)
    ctl.add_note("watch the slice now", bookmark=True)
    ctl.seek(0)
    assert ctl.next_bookmark() is not None  # the recording's first
    reread = read_recording(tmp_path / "story.jsonl")
    texts = [(n.text, n.sidecar) for n in reread.notes]
    assert ("watch the slice now", True) in texts
    mine = next(n for n in reread.notes if n.sidecar)
    assert mine.t == pytest.approx(T0 + 6.0)
    again = ReplayController(reread)
    again.seek_offset(6.0)
    assert "watch the slice now" in [n.text for n in again.visible_notes()]


def test_checkpoints_are_bounded(tmp_path: Path) -> None:
    batches = fixed_story()
    file = record(tmp_path / "r.jsonl", batches)
    ctl = ReplayController(
        read_recording(file), policy=CheckpointPolicy(every=1, max_count=4, cost_factor=0)
    )
    assert len(ctl.index.checkpoints) <= 5
    ctl.seek(len(batches))
    ctl.seek(1)
    live, steps = live_at(batches, max(ev.t for ev in batches[0]))
    assert_same(ctl, live, steps)
