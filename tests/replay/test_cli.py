"""`kwatch replay` (headless) and `kwatch export`, through kwatch.cli.main as users run them."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwatch.cli import main
from kwatch.core.pipeline import Pipeline
from kwatch.headless import StepPrinter

from .story import T0, Batches, fixed_story, record

NOTES = [
    (2.0, "pods are coming", True),
    (8.35, "deleted <b>now</b> & | pipes", True),
    (4.0, "narration", False),
]


@pytest.fixture(scope="module")
def story() -> Batches:
    return fixed_story()


@pytest.fixture(scope="module")
def rec_file(story: Batches, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record(tmp_path_factory.mktemp("rec") / "story.jsonl.gz", story, notes=NOTES)


def live_lines(batches: Batches, output: str) -> list[str]:
    """What live --headless printed for these batches (the same printer, the same start)."""
    out = io.StringIO()
    pipeline = Pipeline(suppress_initial_list_steps=True)
    pipeline.on_steps(StepPrinter(out, output, T0))
    for batch in batches:
        pipeline(batch)
    return out.getvalue().splitlines()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- replay --headless -----------------------------------------------------------------------


@pytest.mark.parametrize("output", ["text", "jsonl"])
def test_headless_replay_prints_what_live_printed(
    capsys: pytest.CaptureFixture[str], story: Batches, rec_file: Path, output: str
) -> None:
    code, out, err = run(capsys, "replay", str(rec_file), "--headless", "-o", output)
    assert code == 0 and err == ""
    lines = out.splitlines()
    notes = [line for line in lines if line.startswith(("#", '{"note"'))]
    assert len(notes) == 3
    assert [line for line in lines if line not in notes] == live_lines(story, output)


def test_notes_are_printed_where_they_were_taken(
    capsys: pytest.CaptureFixture[str], rec_file: Path
) -> None:
    _, out, _ = run(capsys, "replay", str(rec_file), "--headless", "-o", "jsonl")
    rows = [orjson.loads(line) for line in out.splitlines()]
    i = next(i for i, r in enumerate(rows) if r.get("note", "").startswith("deleted"))
    assert rows[i] == {"note": "deleted <b>now</b> & | pipes", "t": 8.35, "bookmark": True}
    assert rows[i - 1]["t"] <= 8.35 <= rows[i + 1]["t"]


@pytest.mark.parametrize(("start", "first"), [("8", 8.3), ("0:08.4", 8.4), ("#20", 8.3)])
def test_start_prints_from_a_time_or_a_step(
    capsys: pytest.CaptureFixture[str], rec_file: Path, start: str, first: float
) -> None:
    _, out, _ = run(capsys, "replay", str(rec_file), "--headless", "-o", "jsonl", "--start", start)
    steps = [orjson.loads(line) for line in out.splitlines() if '"actor"' in line]
    assert steps[0]["t"] == first
    if start.startswith("#"):
        assert len(steps) == 26 - 19


def test_speed_paces_the_headless_replay(
    capsys: pytest.CaptureFixture[str], rec_file: Path
) -> None:
    t0 = time.monotonic()
    code, _, _ = run(capsys, "replay", str(rec_file), "--headless", "--speed", "16")
    took = time.monotonic() - t0
    assert code == 0 and 9.7 / 16 * 0.9 <= took < 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay"], "FILE"),
        (["replay", "{f}", "--speed", "32"], "between 0.25 and 16"),
        (["replay", "{f}", "--speed", "fast"], "not a number"),
        (["replay", "{f}", "--start", "yesterday"], "--start"),
        (["replay", "{f}", "--headless", "-o", "yaml"], "invalid choice"),
        (["export", "{f}", "--format", "pdf"], "invalid choice"),
        (["export", "{f}", "-o", "out.pdf"], "--format"),
        (["export", "{f}", "--at", "soon"], "--at"),
        (["export", "{f}", "--size", "huge"], "--size"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], rec_file: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *[str(rec_file) if a == "{f}" else a for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("kwatch: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_recovered_recording_warns_and_still_replays(
    capsys: pytest.CaptureFixture[str], story: Batches, tmp_path: Path
) -> None:
    path = record(tmp_path / "cut.jsonl", story, close=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])  # killed while writing the last line
    code, out, err = run(capsys, "replay", str(path), "--headless")
    assert code == 0 and out
    warnings = err.splitlines()
    assert all(w.startswith("kwatch: warning: ") for w in warnings)
    assert any("cut off" in w for w in warnings)


event_bodies = st.dictionaries(
    st.sampled_from(["spec", "status", "endpoints", "regarding", "metadata"]),
    st.recursive(
        st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "containers",
                        "conditions",
                        "name",
                        "uid",
                        "nodeName",
                        "ready",
                        "phase",
                        "targetRef",
                        "replicas",
                        "ownerReferences",
                    ]
                ),
                inner,
                max_size=3,
            )
        ),
        max_leaves=10,
    ),
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(
        [
            "Pod",
            "EndpointSlice",
            "Deployment",
            "ReplicaSet",
            "Event",
            "Node",
            "Lease",
            "StatefulSet",
            "DaemonSet",
            "Service",
        ]
    ),
    bodies=st.lists(event_bodies, min_size=1, max_size=4),
)
def test_fuzz_hand_edited_objects_replay_or_fail_cleanly(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
    bodies: list[dict[str, object]],
) -> None:
    header = {"format": "kwatch-recording", "version": 2, "start": T0}
    lines: list[dict[str, Any]] = [header]
    for i, body in enumerate(bodies):
        raw = body.get("metadata")
        # The reader checks metadata's types; everything else is the core's to survive.
        meta = {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}
        meta.setdefault("name", f"x{i % 2}")
        meta.setdefault("namespace", "default")
        obj = {**body, "metadata": meta}
        lines.append({"o": i, "k": kind, "e": "ADDED" if i % 3 else "MODIFIED", "obj": obj})
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    code, _, err = run(capsys, "replay", str(path), "--headless")
    assert code in (0, 1)
    assert "Traceback" not in err
    if code == 1:
        assert "kwatch cannot replay this event" in err


# -- export ------------------------------------------------------------------------------------


def test_export_markdown(capsys: pytest.CaptureFixture[str], rec_file: Path) -> None:
    code, out, _ = run(capsys, "export", str(rec_file), "--format", "md")
    assert code == 0
    assert out.startswith("# kwatch recording: story.jsonl.gz")
    for section in ("## Notes", "## Hazards", "## Controller steps", "## Pod lifecycle lanes"):
        assert section in out
    assert "| 26 | `+9.700s` | endpointslice-controller | EndpointRemoved |" in out
    assert "serving-while-dying" in out
    assert "deleted <b>now</b> & \\| pipes" in out  # a pipe cannot break the table
    lanes = out.split("```text")[1].split("```")[0].splitlines()
    assert lanes[2].startswith("web-5d8f7c9b4-p1") and "D" in lanes[2] and "G" in lanes[2]


def test_export_markdown_up_to_a_moment(
    capsys: pytest.CaptureFixture[str], rec_file: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "t.md"
    code, out, _ = run(capsys, "export", str(rec_file), "--at", "5", "-o", str(out_file))
    text = out_file.read_text()
    assert code == 0 and out == ""
    assert "exported up to 5.0s" in text and "serving-while-dying" not in text
    assert "| 15 |" in text and "| 16 |" not in text


def test_export_html_is_standalone_and_escaped(
    capsys: pytest.CaptureFixture[str], rec_file: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "t.html"
    assert run(capsys, "export", str(rec_file), "-o", str(out_file))[0] == 0
    html = out_file.read_text()
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "<b>now</b>" not in html and "deleted &lt;b&gt;now&lt;/b&gt; &amp;" in html
    assert "<script" not in html and "http" not in html.split("<body>")[0].lower()
    assert html.count('class="lane"') == 2 and "p-terminating" in html


def test_export_asciicast_v2(capsys: pytest.CaptureFixture[str], rec_file: Path) -> None:
    code, out, _ = run(capsys, "export", str(rec_file), "--format", "cast", "--size", "100x30")
    assert code == 0
    header, *events = [orjson.loads(line) for line in out.splitlines()]
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30)
    assert header["timestamp"] == int(T0)
    times = [e[0] for e in events]
    assert times == sorted(times) and all(e[1] == "o" and e[2].endswith("\r\n") for e in events)
    steps = [e for e in events if "PodGone" in e[2] or "Synced" in e[2]]
    assert len(steps) == 8 and any("serving-while-dying" in e[2] for e in events)
    assert times[-1] == pytest.approx(9.7)


def test_export_svg_of_the_tui_at_a_moment(
    capsys: pytest.CaptureFixture[str], rec_file: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "t.svg"
    code, _, err = run(
        capsys, "export", str(rec_file), "--at", "8.5", "-o", str(out_file), "--size", "140x40"
    )
    assert code == 0, err
    svg = out_file.read_text().replace("&#160;", " ")
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "kwatch replay · story.jsonl.gz · 8.5s" in svg
    assert "serving-while-dying" in svg


def test_python_m_kwatch_replay_runs(rec_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kwatch", "replay", str(rec_file), "--headless", "-o", "jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert sum(1 for line in result.stdout.splitlines() if '"actor"' in line) == 26


def test_broken_pipe_is_quiet(rec_file: Path) -> None:
    cmd = f"{sys.executable} -m kwatch replay {rec_file} --headless | head -1"
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr
    assert "Broken pipe" not in result.stderr
