"""`kwatch replay FILE --headless`: print the recording's steps as live --headless did.

The recording holds the KEvent batches kwatch observed, with their observation times;
feeding them in order to the same pipeline yields the same steps at the same times, and
the same StepPrinter formats them against the same start time — so the lines are the
ones the live (or demo) session printed. Notes are printed where they were taken.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

import orjson

from kwatch.core.steps import Step
from kwatch.headless import StepPrinter
from kwatch.replay.controller import apply_batch, new_pipeline
from kwatch.replay.timespec import Target
from kwatch.sources.replay import Note, Recording


def format_note(note: Note, start: float, output: str) -> str:
    if output == "jsonl":
        return orjson.dumps(
            {"note": note.text, "t": round(note.t - start, 3), "bookmark": note.bookmark}
        ).decode()
    mark = "★ " if note.bookmark else ""
    return f"# {mark}{note.text}"


class _From:
    """Passes steps on from a starting point (a time, or the n-th step) onwards."""

    def __init__(self, printer: StepPrinter, start: float, target: Target | None) -> None:
        self.printer = printer
        self.seen = 0
        self.since_t = start + target.seconds if target and target.kind == "time" else None
        self.since_step = target.step if target and target.kind == "step" else 0
        self.at_end = target is not None and target.kind == "end"
        self.printing = target is None

    def __call__(self, steps: Sequence[Step]) -> None:
        keep = []
        for step in steps:
            self.seen += 1
            if not self.printing and not self.at_end:
                if self.since_t is not None:
                    self.printing = step.t >= self.since_t
                else:
                    self.printing = self.seen >= self.since_step
            if self.printing:
                keep.append(step)
        self.printer(keep)


async def replay_headless(
    recording: Recording,
    *,
    output: str = "text",
    speed: float | None = None,
    start_at: Target | None = None,
    out: TextIO | None = None,
) -> int:
    """Print every step (from `start_at` on); with `speed`, at the recorded pace."""
    out = out if out is not None else sys.stdout
    pipeline = new_pipeline()
    gate = _From(StepPrinter(out, output, recording.start), recording.start, start_at)
    # Printed here, not from inside the pipeline: the pipeline logs and swallows
    # listener errors, and a closed pipe (`| head`) must end the replay quietly.
    steps: list[Step] = []
    pipeline.on_steps(steps.extend)
    notes = list(recording.notes)
    n = 0
    last = recording.start

    def notes_until(position: int) -> None:
        nonlocal n
        while n < len(notes) and notes[n].position <= position:
            if gate.printing:
                out.write(format_note(notes[n], recording.start, output) + "\n")
            n += 1

    for position, batch in enumerate(recording.batches):
        notes_until(position)
        if speed is not None and gate.printing and batch.t > last:
            await asyncio.sleep((batch.t - last) / speed)
        last = max(last, batch.t)
        apply_batch(pipeline, recording, batch)
        if steps:
            gate(steps)
            steps.clear()
    notes_until(len(recording.batches) + 1)
    out.flush()
    return 0
