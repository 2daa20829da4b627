"""`kwatch demo` from the command line: listing, bad input, a headless run, serving,
and the Session handed to the TUI."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from kwatch.cli import EXIT_USAGE
from kwatch.demo.cli import run_demo_command
from kwatch.demo.scenarios import SCENARIOS
from kwatch.session import Session, TrafficCounters


def kwatch(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kwatch", "demo", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_list_shows_every_scenario_with_its_description() -> None:
    proc = kwatch("--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(SCENARIOS)
    for line, (name, s) in zip(lines, SCENARIOS.items(), strict=True):
        assert line.split()[0] == name
        assert line.endswith(s.description)


def test_unknown_scenario_is_a_usage_error_listing_the_valid_ones() -> None:
    proc = kwatch("no-such-scenario", "--headless")
    assert proc.returncode == EXIT_USAGE
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "unknown scenario 'no-such-scenario'" in lines[0]
    for name in SCENARIOS:
        assert name in lines[0]


@pytest.mark.parametrize("speed", ["0", "-2", "abc", "101", "nan", "inf"])
def test_bad_speed_is_a_one_line_usage_error(speed: str) -> None:
    proc = kwatch("create-deployment", "--headless", f"--speed={speed}")
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kwatch: error: argument --speed")
    assert proc.stdout == ""


def test_no_scenario_names_the_choices() -> None:
    proc = kwatch("--headless")
    assert proc.returncode == EXIT_USAGE
    assert "create-deployment" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_too_few_nodes_for_the_scenario() -> None:
    proc = kwatch("node-failure", "--headless", "--nodes", "1")
    assert proc.returncode == EXIT_USAGE
    assert "needs --nodes 2" in proc.stderr


@pytest.mark.slow
def test_headless_jsonl_run_ends_with_the_summary(tmp_path: Path) -> None:
    record = tmp_path / "demo.jsonl.gz"
    began = time.monotonic()
    proc = kwatch("startup-with-probe", "--speed", "20", "--headless", "--output", "jsonl",
                  "--record", str(record))
    wall = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    objs = [orjson.loads(line) for line in proc.stdout.splitlines()]
    summary = objs[-1]
    assert list(summary) == ["summary"]
    s = summary["summary"]
    assert s["scenario"] == "startup-with-probe"
    assert set(s["requests"]) == {"ok", "refused", "timeout"}
    assert s["requests"]["ok"] > 0 and s["requests"]["refused"] == 0
    assert s["hazards"] == [] and s["expected"] is True
    steps = [o for o in objs if "step" in o]
    assert s["steps"] == len(steps) > 10
    assert {"t", "actor", "step", "kind", "namespace", "name", "details"} <= set(steps[0])
    narration = [o for o in objs if "narration" in o]
    assert len(narration) >= 3 and all(isinstance(o["t"], float) for o in narration)
    # Step times are simulated seconds since the start: at 20x they outrun the wall clock
    # (the scenario lasts ~30 simulated seconds; wall time includes start-up).
    assert max(o["t"] for o in steps) > max(20.0, wall)
    # The recording holds the header, kwatch's events and the narration as notes.
    lines = [orjson.loads(x) for x in gzip.decompress(record.read_bytes()).splitlines()]
    assert lines[0]["source"] == "demo"
    notes = [x["note"] for x in lines if "note" in x]
    assert notes == [o["narration"] for o in narration]
    assert any(x.get("k") == "Pod" for x in lines)


@pytest.mark.slow
def test_headless_text_run() -> None:
    proc = kwatch("create-deployment", "--speed", "20", "--headless")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# kwatch demo create-deployment: 3 nodes, speed 20x")
    assert sum(1 for x in lines if x.startswith("# ")) >= 6
    assert any("ReplicaSetCreated" in x and "deployment-controller" in x for x in lines)
    assert re.fullmatch(
        r"summary: scenario=create-deployment requests ok=[1-9]\d* refused=0 timeout=0 "
        r"hazards=\[\] steps=\d+ expected=met", lines[-1]), lines[-1]


@pytest.mark.slow
def test_serve_runs_the_full_cluster_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kwatch", "demo", "--serve", "create-deployment", "--speed",
         "20", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pods = asyncio.run(_ready_pods(str(kubeconfig)))
        assert len(pods) == 3  # controllers, scheduler and kubelets really run
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "serving at https://127.0.0.1:" in err
    assert "# A Service 'web' comes first" in out
    assert oct(os.stat(kubeconfig).st_mode & 0o777) == "0o600"


async def _ready_pods(kubeconfig: str) -> list[str]:
    from kwatch.demo.client import client_from_kubeconfig

    client = client_from_kubeconfig(kubeconfig, user_agent="test")
    try:
        deadline = time.monotonic() + 60
        while True:
            items, _ = await client.list("/api/v1/namespaces/default/pods")
            ready = [p["metadata"]["name"] for p in items
                     if any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (p.get("status") or {}).get("conditions") or ())]
            if len(ready) == 3 or time.monotonic() > deadline:
                return ready
            await asyncio.sleep(0.1)
    finally:
        await client.session.close()


@pytest.mark.slow
def test_the_tui_gets_a_live_demo_session(capsys: pytest.CaptureFixture[str]) -> None:
    """What `kwatch demo SCENARIO` hands the TUI: a demo Session whose pipeline, traffic
    and narration move while the scenario plays."""
    seen: dict[str, object] = {}

    async def fake_tui(session: Session) -> int:
        seen["source"], seen["context"] = session.source, session.context
        # A TUI polls on a timer too; give up after two minutes.
        for _ in range(2400):
            if any("is over" in line for line in session.narration):
                break
            await asyncio.sleep(0.05)
        seen["traffic"] = session.traffic()
        seen["steps"] = session.pipeline.steps
        seen["narration"] = list(session.narration)
        seen["health"] = [h.state for h in session.health()]
        seen["now"] = session.clock() - session.start
        return 0

    rc = run_demo_command(["create-deployment", "--speed", "20"], open_tui=fake_tui)
    assert rc == 0
    assert seen["source"] == "demo" and seen["context"] == "kwatch-demo"
    traffic = seen["traffic"]
    assert isinstance(traffic, TrafficCounters) and traffic.ok > 0
    assert isinstance(seen["steps"], int) and seen["steps"] > 10
    narration = seen["narration"]
    assert isinstance(narration, list) and len(narration) >= 6
    health = seen["health"]
    assert isinstance(health, list) and set(health) == {"synced"}
    assert isinstance(seen["now"], float) and seen["now"] > 20  # simulated seconds
    lines = capsys.readouterr().out.strip().splitlines()
    # The TUI owns the screen meanwhile: no step lines, only the verdict once it closed.
    assert all(x.startswith("# expect: ") for x in lines[:-1])
    assert lines[-1].startswith("summary: scenario=create-deployment ")
