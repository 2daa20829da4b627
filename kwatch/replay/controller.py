"""The replay transport: a position in a recording, and everything that moves it.

The model is a *position*: how many of the recording's batches have been applied to the
session's pipeline. The store at position N is, by construction, the store a live
session had after its N-th batch — the same batches, applied in the same order, to the
same kind of pipeline. Every transport action (play, pause, speed, step to the next /
previous controller step, seek to a time or a step, jump between bookmarks) only picks
a target position and goes there:

* forwards: apply the batches in between (views hear their steps as they would live);
* backwards, or far forwards: restore the nearest checkpoint at or before the target,
  then apply forwards from it (`rewinds` counts these: views then rebuild, because the
  pipeline's history was replaced rather than extended).

An index pass at load time applies the whole recording once to a scratch pipeline: it
learns every step (and the position it appears at), the time of every position, and
takes the checkpoints (spaced and bounded by a `CheckpointPolicy`).

`now` is the replay's clock: the recorded observation time at the position (or between
positions while playing), so ages and lanes read like they did live.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kwatch.core.pipeline import Pipeline
from kwatch.core.steps import Step
from kwatch.replay.snapshot import Checkpoint, restore, take
from kwatch.replay.timespec import Target
from kwatch.sources.errors import KwatchError
from kwatch.sources.replay import Batch, Note, NotesFile, Recording

SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# Forwards, a checkpoint is worth restoring only this many batches ahead (a restore
# makes the views rebuild; applying a few batches is cheaper).
FORWARD_JUMP = 100


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """How densely the index pass takes checkpoints.

    A checkpoint costs a copy of the store's indexes (time and memory grow with the
    number of objects); going backwards costs a restore plus re-applying the events
    since the checkpoint. So checkpoints are spaced by events (`every`, at least), by
    time (applying the events since the last one took `cost_factor` times as long as
    taking it: checkpoints never cost more than half the pass, and re-applying costs
    about as much as restoring), and bounded in number and in rows held: past either
    bound every other one is dropped and the spacing doubles.
    """

    every: int = 2000  # events between checkpoints, at least
    max_count: int = 64
    cost_factor: float = 2.0  # 0: ignore time (tests, for dense checkpoints)
    row_budget: int = 2_000_000  # rows summed over all checkpoints


PipelineFactory = Callable[[], Pipeline]


def new_pipeline() -> Pipeline:
    """The pipeline live sessions use (kwatch.live, kwatch.demo.runner)."""
    return Pipeline(suppress_initial_list_steps=True)


def apply_batch(pipeline: Pipeline, recording: Recording, batch: Batch) -> None:
    """Apply one recorded batch; a batch the core cannot digest is a clear error."""
    try:
        pipeline(batch.events)
    except Exception as e:  # a hand-edited recording: name the line, no traceback
        raise KwatchError(
            f"{recording.path}: line {batch.line}: kwatch cannot replay this event "
            f"({type(e).__name__}: {e})",
            1,
        ) from None


@dataclass
class ReplayIndex:
    times: list[float]  # times[i]: the clock once batch i is applied (never decreasing)
    steps: list[Step]  # every step of the recording, in order
    step_pos: list[int]  # the position at which steps[j] appears
    checkpoints: list[Checkpoint]  # by position, the first at position 0


def build_index(
    recording: Recording,
    factory: PipelineFactory = new_pipeline,
    policy: CheckpointPolicy = CheckpointPolicy(),
) -> ReplayIndex:
    total = recording.events
    every = max(1, policy.every, -(-total // max(1, policy.max_count)))
    pipeline = factory()
    steps: list[Step] = []
    step_pos: list[int] = []
    position = 0

    def heard(new: Sequence[Step]) -> None:
        steps.extend(new)
        step_pos.extend([position] * len(new))

    pipeline.on_steps(heard)
    times: list[float] = []
    checkpoints = [take(pipeline, 0)]
    clock = recording.start
    since = 0  # events since the last checkpoint
    applying = 0.0  # seconds spent applying them
    taking = 0.0  # seconds the last checkpoint took
    for i, batch in enumerate(recording.batches):
        if since >= every and applying >= policy.cost_factor * taking:
            t0 = time.perf_counter()
            checkpoints.append(take(pipeline, i))
            taking = time.perf_counter() - t0
            since, applying = 0, 0.0
            rows = sum(pipeline.store.counts().values())
            if len(checkpoints) > policy.max_count or rows * len(checkpoints) > policy.row_budget:
                checkpoints = checkpoints[::2]  # keeps the one at position 0
                every *= 2
        position = i + 1
        t0 = time.perf_counter()
        apply_batch(pipeline, recording, batch)
        applying += time.perf_counter() - t0
        since += len(batch.events)
        clock = max(clock, batch.t)
        times.append(clock)
    return ReplayIndex(times, steps, step_pos, checkpoints)


class ReplayController:
    """Transport over one recording, driving `pipeline` (the session's)."""

    def __init__(
        self,
        recording: Recording,
        *,
        factory: PipelineFactory = new_pipeline,
        policy: CheckpointPolicy = CheckpointPolicy(),
        notes_file: NotesFile | None = None,
    ) -> None:
        self.recording = recording
        self.index = build_index(recording, factory, policy)
        self.pipeline = factory()
        self.notes: list[Note] = sorted(recording.notes, key=_note_key)
        self.notes_file = notes_file
        self.position = 0
        self.now = recording.start
        self.playing = False
        self.speed = 1.0
        self.rewinds = 0  # times the pipeline was restored from a checkpoint
        self._checkpoint_at = [c.position for c in self.index.checkpoints]

    # -- what the recording is ---------------------------------------------------------

    @property
    def start(self) -> float:
        return self.recording.start

    @property
    def end(self) -> float:
        times = self.index.times
        last_note = max((n.t for n in self.notes), default=self.start)
        return max(self.recording.end_t, times[-1] if times else self.start, last_note)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def total_batches(self) -> int:
        return len(self.recording.batches)

    @property
    def total_steps(self) -> int:
        return len(self.index.steps)

    @property
    def steps_applied(self) -> int:
        """How many of the recording's steps the pipeline has produced at this position."""
        return bisect.bisect_right(self.index.step_pos, self.position)

    @property
    def offset(self) -> float:
        return self.now - self.start

    @property
    def at_end(self) -> bool:
        return self.position >= self.total_batches and self.now >= self.end

    def time_at(self, position: int) -> float:
        return self.index.times[position - 1] if position > 0 else self.start

    def steps_until(self, position: int | None = None) -> list[Step]:
        upto = self.position if position is None else position
        return self.index.steps[: bisect.bisect_right(self.index.step_pos, upto)]

    def visible_notes(self) -> list[Note]:
        here = (self.position, self.now)
        return [n for n in self.notes if n.position < self.position or _note_key(n) <= here]

    @property
    def bookmarks(self) -> list[Note]:
        return [n for n in self.notes if n.bookmark]

    # -- moving ------------------------------------------------------------------------

    def seek(self, position: int, *, now: float | None = None) -> None:
        """Go to `position` (clamped); the clock goes to its time, or to `now`."""
        target = max(0, min(position, self.total_batches))
        self._goto(target)
        lower = self.time_at(target)
        upper = self.time_at(target + 1) if target < self.total_batches else self.end
        self.now = lower if now is None else max(lower, min(now, upper))

    def seek_time(self, t: float) -> None:
        """Go to the moment `t` (epoch seconds): every batch observed by then applied."""
        t = max(self.start, min(t, self.end))
        self.seek(bisect.bisect_right(self.index.times, t), now=t)

    def seek_offset(self, seconds: float) -> None:
        self.seek_time(self.start + seconds)

    def seek_step(self, number: int) -> None:
        """Make step `number` (1-based) the newest one shown; 0 goes to the start."""
        if number <= 0 or not self.index.steps:
            self.seek(0)
            return
        self.seek(self.index.step_pos[min(number, self.total_steps) - 1])

    def seek_target(self, target: Target) -> None:
        if target.kind == "end":
            self.seek(self.total_batches, now=self.end)
        elif target.kind == "step":
            self.seek_step(target.step)
        else:
            self.seek_offset(target.seconds)

    def next_step(self) -> bool:
        """Apply up to and including the next batch that produced steps."""
        j = self.steps_applied
        if j >= self.total_steps:
            return False
        self.seek(self.index.step_pos[j])
        return True

    def prev_step(self) -> bool:
        """Go back to where the previous step was the newest (the start if none)."""
        j = self.steps_applied
        if j == 0:
            if self.position == 0:
                return False
            self.seek(0)
            return True
        newest = self.index.step_pos[j - 1]
        k = bisect.bisect_left(self.index.step_pos, newest)  # first step of that batch
        self.seek(self.index.step_pos[k - 1] if k > 0 else 0)
        return True

    def next_bookmark(self) -> Note | None:
        here = (self.position, self.now)
        for note in self.bookmarks:
            if _note_key(note) > here:
                self.seek(note.position, now=note.t)
                return note
        return None

    def prev_bookmark(self) -> Note | None:
        here = (self.position, self.now)
        for note in reversed(self.bookmarks):
            if _note_key(note) < here:
                self.seek(note.position, now=note.t)
                return note
        return None

    # -- playing -----------------------------------------------------------------------

    def play(self) -> None:
        if self.at_end:
            self.seek(0)
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def set_speed(self, speed: float) -> None:
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))

    def faster(self) -> None:
        self.set_speed(SPEEDS[min(len(SPEEDS) - 1, SPEEDS.index(self.speed) + 1)])

    def slower(self) -> None:
        self.set_speed(SPEEDS[max(0, SPEEDS.index(self.speed) - 1)])

    def advance(self, wall_seconds: float) -> bool:
        """Move the clock by wall_seconds * speed while playing; True if anything moved."""
        if not self.playing or wall_seconds <= 0:
            return False
        self.now = min(self.now + wall_seconds * self.speed, self.end)
        target = bisect.bisect_right(self.index.times, self.now)
        if target > self.position:
            self._goto(target)
        if self.now >= self.end:
            self.playing = False
        return True

    # -- notes -------------------------------------------------------------------------

    def add_note(self, text: str, bookmark: bool = True) -> Note:
        """A note at this moment, kept in the sidecar (OSError if it cannot be written)."""
        note = Note(self.now, text, bookmark, self.position, sidecar=True)
        if self.notes_file is not None:
            self.notes_file.append(note)
        bisect.insort(self.notes, note, key=_note_key)
        return note

    # -- the pipeline ----------------------------------------------------------------------

    def _goto(self, target: int) -> None:
        if target == self.position:
            return
        i = bisect.bisect_right(self._checkpoint_at, target) - 1
        checkpoint = self.index.checkpoints[i]
        if target < self.position or checkpoint.position > self.position + FORWARD_JUMP:
            restore(self.pipeline, checkpoint)
            self.position = checkpoint.position
            self.rewinds += 1
        batches = self.recording.batches
        while self.position < target:
            apply_batch(self.pipeline, self.recording, batches[self.position])
            self.position += 1


def _note_key(note: Note) -> tuple[int, float]:
    return (note.position, note.t)
