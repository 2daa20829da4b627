"""Reading recordings: batches as recorded, recovery, clear errors, fuzzing, playing."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwatch.cli import main
from kwatch.core.events import EventType, KEvent
from kwatch.sources.errors import KwatchError
from kwatch.sources.record import Recorder
from kwatch.sources.replay import NOTES_FORMAT, Note, NotesFile, play, read_recording

T0 = 1_700_000_000.0


def pod_event(i: int, t: float | None = None) -> KEvent:
    obj = {
        "kind": "Pod",
        "metadata": {
            "name": f"p{i}",
            "namespace": "default",
            "uid": f"u{i}",
            "resourceVersion": str(i),
        },
    }
    return KEvent(T0 + i if t is None else t, "Pod", EventType.ADDED, obj, str(i))


def make(path: Path, *, close: bool = True) -> Path:
    rec = Recorder(path, scope={"namespaces": ["default"]}, clock=T0)
    rec([pod_event(1)])
    rec([pod_event(2), pod_event(3), KEvent(T0 + 3, "Pod", EventType.LISTED, {})])
    rec.note("bookmark here", t=T0 + 3.5, bookmark=True)
    rec([pod_event(4)])
    rec.note("narration", t=T0 + 4.5)
    rec([pod_event(5)])
    if close:
        rec.close(t=T0 + 6)
    return path


def plain_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return zlib.decompressobj(31).decompress(data) if data[:2] == b"\x1f\x8b" else data


def error_of(path: Path, **kw: bool) -> str:
    with pytest.raises(KwatchError) as info:
        read_recording(path, **kw)
    assert info.value.exit_code == 1
    assert "\n" not in info.value.message
    return info.value.message


# -- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_batches_notes_and_header_come_back_as_recorded(tmp_path: Path, name: str) -> None:
    r = read_recording(make(tmp_path / name))
    assert r.warnings == [] and r.closed
    assert [len(b.events) for b in r.batches] == [1, 3, 1, 1]
    assert r.batches[1].events[2].type is EventType.LISTED
    assert [b.events[0].t for b in r.batches] == [T0 + 1, T0 + 2, T0 + 4, T0 + 5]
    assert [(n.text, n.bookmark, n.position) for n in r.notes] == [
        ("bookmark here", True, 2),
        ("narration", False, 3),
    ]
    assert r.header.scope_text() == "default" and r.end_t == T0 + 6 and r.events == 6


def test_version_1_batch_end_lines_are_still_read(tmp_path: Path) -> None:
    header = {
        "format": "kwatch-recording",
        "version": 1,
        "kwatch": "0.1.0",
        "source": "live",
        "scope": {},
        "start": T0,
    }
    ev = {"k": "Pod", "e": "ADDED", "obj": {"metadata": {"name": "a", "namespace": "d"}}}
    lines = [
        header,
        {"o": 1, **ev},
        {"o": 2, **ev},
        {"o": 2, **ev},
        {"o": 2, "batch_end": 2},
        {"o": 3, "note": "n", "bookmark": False},
        {"o": 4, **ev},
    ]
    path = tmp_path / "v1.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    r = read_recording(path)
    assert [len(b.events) for b in r.batches] == [1, 2, 1]
    assert r.notes[0].position == 2


def test_unknown_line_types_are_skipped_for_forward_compatibility(tmp_path: Path) -> None:
    path = make(tmp_path / "r.jsonl")
    data = path.read_bytes().replace(b'{"o":3.5,', b'{"o":3.4,"future":"thing"}\n{"o":3.5,', 1)
    path.write_bytes(data)
    assert read_recording(path).warnings == []


# -- recovery ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_a_cut_off_last_line_is_recovered_with_a_warning(tmp_path: Path, name: str) -> None:
    full = plain_bytes(make(tmp_path / "full.jsonl", close=False))
    cut = full[: full.rindex(b'"p5"') + 2]  # in the middle of the last event
    path = tmp_path / name
    path.write_bytes(gzip.compress(cut) if name.endswith(".gz") else cut)
    r = read_recording(path)
    assert [ev.name for b in r.batches for ev in b.events if ev.name] == ["p1", "p2", "p3", "p4"]
    assert any("cut off" in w for w in r.warnings)


def test_an_unfinished_gzip_stream_is_read_to_its_last_flush(tmp_path: Path) -> None:
    path = make(tmp_path / "r.jsonl.gz", close=False)  # never closed: no gzip trailer
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())  # what a naive reader would hit
    r = read_recording(path)
    assert r.events == 6 and any("not closed" in w for w in r.warnings)


def test_a_batch_cut_short_is_replayed_as_a_batch_with_a_warning(tmp_path: Path) -> None:
    full = plain_bytes(make(tmp_path / "full.jsonl"))
    lines = full.splitlines(keepends=True)
    cut = b"".join(lines[:4])  # header, p1, the batch line, p2 (of 3)
    (tmp_path / "cut.jsonl").write_bytes(cut)
    r = read_recording(tmp_path / "cut.jsonl")
    assert [len(b.events) for b in r.batches] == [1, 1]
    assert any("cut short" in w for w in r.warnings)


def test_a_second_gzip_member_is_read_too(tmp_path: Path) -> None:
    full = plain_bytes(make(tmp_path / "full.jsonl", close=False))
    lines = full.splitlines(keepends=True)
    (tmp_path / "two.gz").write_bytes(
        gzip.compress(b"".join(lines[:3])) + gzip.compress(b"".join(lines[3:]))
    )
    assert read_recording(tmp_path / "two.gz").events == 6


# -- clear errors --------------------------------------------------------------------------


def test_a_corrupt_line_names_its_number_and_skip_bad_skips_it(tmp_path: Path) -> None:
    path = make(tmp_path / "r.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[3].startswith(b'{"o":2.0,"k":"Pod"') and b'"p4"' in lines[7]
    lines[3] = b'{"o": 2, "k": "Pod", "e": "ADDED", "obj": {"metad\n'
    lines[7] = b'{"o": 4, "k": "Pod", "e": "EXPLODED"}\n'
    path.write_bytes(b"".join(lines))
    message = error_of(path)
    assert "line 4" in message and "--skip-bad" in message
    r = read_recording(path, skip_bad=True)
    assert any("skipped 2 bad lines (first: line 4" in w for w in r.warnings)
    assert [[ev.name for ev in b.events] for b in r.batches] == [["p1"], ["p3", ""], ["p5"]]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\n\n", "not a kwatch recording"),
        (b"hello world\n", "not a kwatch recording"),
        (b'{"format": "something-else"}\n', "not a kwatch recording"),
        (b"\x00\x01\x02binary", "not a kwatch recording"),
        (b'{"format":"kwatch-recording","version":99,"start":1}\n', "version 99 is not supported"),
        (b'{"format":"kwatch-recording","version":"2","start":1}\n', "version '2'"),
        (b'{"format":"kwatch-recording","version":2}\n', '"start"'),
        (b'{"format":"kwatch-recording","vers', "header line is cut off"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "corrupt gzip"),
        (gzip.compress(b""), "empty"),
    ],
)
def test_unusable_files_give_one_clear_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    message = error_of(path)
    assert expected in message and str(path) in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "No such file" in error_of(tmp_path / "nope.jsonl")
    assert "directory" in error_of(tmp_path).lower()


def test_corrupt_gzip_in_the_middle_with_skip_bad_keeps_the_start(tmp_path: Path) -> None:
    data = bytearray(make(tmp_path / "r.jsonl.gz").read_bytes())
    n = len(data) - 80  # in the last events' deflate blocks
    data[n : n + 40] = b"\xff" * 40
    (tmp_path / "c.jsonl.gz").write_bytes(bytes(data))
    assert "corrupt gzip" in error_of(tmp_path / "c.jsonl.gz")
    r = read_recording(tmp_path / "c.jsonl.gz", skip_bad=True)
    assert r.events >= 1 and any("corrupt gzip" in w for w in r.warnings)


# -- fuzzing -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return plain_bytes(make(tmp_path_factory.mktemp("fuzz") / "r.jsonl"))


def _read_or_error(path: Path, skip_bad: bool) -> None:
    try:
        read_recording(path, skip_bad=skip_bad)
    except KwatchError as e:
        assert e.exit_code == 1 and "\n" not in e.message and e.message


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    gz=st.booleans(),
    skip_bad=st.booleans(),
)
def test_fuzz_truncated_and_corrupted_recordings_never_crash(
    sample: bytes,
    tmp_path: Path,
    cut: int,
    flips: list[tuple[int, int]],
    gz: bool,
    skip_bad: bool,
) -> None:
    data = bytearray(sample[: cut % (len(sample) + 1)])
    if gz:
        data = bytearray(zlib.compress(bytes(data), wbits=31)[: max(1, cut % 400 + 10)])
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(bytes(data))
    _read_or_error(path, skip_bad)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
record_keys = st.sampled_from(
    ["o", "k", "e", "rv", "obj", "batch", "batch_end", "note", "bookmark", "end", "at", "metadata"]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(st.dictionaries(record_keys, json_values, max_size=5), max_size=6),
    skip_bad=st.booleans(),
)
def test_fuzz_structurally_odd_records_never_crash(
    tmp_path: Path, records: list[dict[str, object]], skip_bad: bool
) -> None:
    header = {"format": "kwatch-recording", "version": 2, "start": T0}
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in [header, *records]) + b"\n")
    _read_or_error(path, skip_bad)


def test_the_cli_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = subprocess.run(
        [sys.executable, "-m", "kwatch", "replay", str(bad), "--headless"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("kwatch: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "{bad}", "--headless"],
        ["replay", "{missing}", "--headless"],
        ["export", "{bad}"],
        ["export", "{missing}", "--format", "md"],
    ],
)
def test_cli_errors_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (tmp_path / "bad.jsonl").write_text("not json\n")
    paths = {"{bad}": str(tmp_path / "bad.jsonl"), "{missing}": str(tmp_path / "missing.jsonl")}
    assert main([paths.get(a, a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kwatch: error: ") and len(err.strip().splitlines()) == 1


# -- sidecar notes and playing ------------------------------------------------------------------


def test_sidecar_notes_merge_and_a_bad_sidecar_only_warns(tmp_path: Path) -> None:
    path = make(tmp_path / "r.jsonl")
    notes = NotesFile(str(path), T0)
    notes.append(Note(T0 + 4.2, "mine", True, 3))
    with open(notes.path, "ab") as f:
        f.write(b"this is not json\n")
    head = orjson.loads(Path(notes.path).read_bytes().splitlines()[0])
    assert head["format"] == NOTES_FORMAT
    r = read_recording(path)
    assert [(n.text, n.sidecar) for n in r.notes] == [
        ("bookmark here", False),
        ("mine", True),
        ("narration", False),
    ]
    assert any("ignored 1 bad line" in w for w in r.warnings)


async def test_play_feeds_batches_in_order_at_the_chosen_pace(tmp_path: Path) -> None:
    r = read_recording(make(tmp_path / "r.jsonl"))
    got: list[list[str]] = []
    notes: list[str] = []
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    await play(
        r,
        lambda b: got.append([ev.name for ev in b]),
        speed=2.0,
        on_note=lambda n: notes.append(n.text),
        sleep=sleep,
    )
    assert got == [["p1"], ["p2", "p3", ""], ["p4"], ["p5"]]
    assert notes == ["bookmark here", "narration"]
    assert slept == [0.5, 1.0, 0.5, 0.5]  # (gaps between batch times) / 2
