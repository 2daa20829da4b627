"""The example recordings (scripts/make_examples.py): one per demo scenario.

Each was made by `kwatch demo SCENARIO --headless --output jsonl --record …`, and the
step lines that demo printed live are kept next to it: replaying must print them again,
byte for byte, and going backwards through the recording must land on the same states.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kwatch.replay.controller import CheckpointPolicy, ReplayController
from kwatch.replay.headless import replay_headless
from kwatch.replay.snapshot import store_picture
from kwatch.replay.timespec import Target
from kwatch.replay.transcript import transcript_at
from kwatch.sources.replay import read_recording

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECORDINGS = sorted(EXAMPLES.glob("*.jsonl.gz"))


def name_of(path: Path) -> str:
    return path.name.removesuffix(".jsonl.gz")


pytestmark = pytest.mark.skipif(not RECORDINGS, reason="no examples: run scripts/make_examples.py")


@pytest.mark.parametrize("path", RECORDINGS, ids=name_of)
async def test_replay_prints_what_the_demo_printed(path: Path) -> None:
    recording = read_recording(path)
    assert recording.warnings == [] and recording.closed
    assert recording.header.source == "demo"
    out = io.StringIO()
    await replay_headless(recording, output="jsonl", out=out)
    replayed = [line for line in out.getvalue().splitlines() if '"actor"' in line]
    expected = (EXAMPLES / f"{name_of(path)}.steps.jsonl").read_text().splitlines()
    assert replayed == expected


@pytest.mark.parametrize("path", RECORDINGS, ids=name_of)
def test_going_back_lands_on_the_same_state(path: Path) -> None:
    recording = read_recording(path)
    ctl = ReplayController(recording, policy=CheckpointPolicy(every=50, cost_factor=0))
    middle = ctl.total_batches // 2
    ctl.seek(middle)
    forward = store_picture(ctl.pipeline.store)
    hazards = ctl.pipeline.hazards.hazards
    ctl.seek(ctl.total_batches)
    ctl.seek(middle)
    assert store_picture(ctl.pipeline.store) == forward
    assert ctl.pipeline.hazards.hazards == hazards


@pytest.mark.parametrize("path", RECORDINGS[:2], ids=name_of)
def test_transcripts_of_real_recordings(path: Path) -> None:
    transcript = transcript_at(read_recording(path), Target("end"))
    assert transcript.steps and transcript.lanes and transcript.notes  # demo narration
