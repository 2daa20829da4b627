"""Runtime errors from the real `kwatch` command: one line on stderr, exit 1, no traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from kwatch.demo.apiserver import DemoApiServer

EXIT_RUNTIME = 1


def run_kwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kwatch", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=full_env,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == EXIT_RUNTIME, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kwatch: error: "), lines[0]
    assert needle.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in proc.stderr


def kubeconfig_for(server: str, tmp_path: Path, name: str = "kc.yaml") -> Path:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_missing_kubeconfig(tmp_path: Path) -> None:
    proc = run_kwatch("--kubeconfig", str(tmp_path / "nope.yaml"), "--headless")
    assert_one_line_error(proc, "nope.yaml")


def test_garbled_kubeconfig(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters: [\n  - {name: c, cluster: {server: ")
    proc = run_kwatch("--kubeconfig", str(bad), "--headless")
    assert_one_line_error(proc, "bad.yaml")


def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    kc = kubeconfig_for("https://127.0.0.1:1", tmp_path)
    proc = run_kwatch("--kubeconfig", str(kc), "--context", "prod", "--headless")
    assert_one_line_error(proc, "prod")
    assert "ctx" in proc.stderr


def test_unreachable_server(tmp_path: Path) -> None:
    kc = kubeconfig_for("https://127.0.0.1:1", tmp_path)
    proc = run_kwatch("--kubeconfig", str(kc), "--headless", "--duration", "5")
    assert_one_line_error(proc, "127.0.0.1:1")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DemoApiServer]:
    srv = DemoApiServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def test_forbidden_everywhere_is_an_error(server: DemoApiServer, tmp_path: Path) -> None:
    kc = tmp_path / "demo.yaml"
    server.write_kubeconfig(kc)
    server.forbidden = {
        "pods", "deployments", "replicasets", "statefulsets", "daemonsets", "services",
        "nodes", "endpointslices", "events", "leases",
    }
    proc = await asyncio.to_thread(
        run_kwatch, "--kubeconfig", str(kc), "-A", "--headless", "--duration", "5"
    )
    assert_one_line_error(proc, "forbidden")


async def test_wrong_token_is_an_error(server: DemoApiServer, tmp_path: Path) -> None:
    kc = tmp_path / "demo.yaml"
    server.write_kubeconfig(kc)
    cfg = yaml.safe_load(kc.read_text())
    cfg["users"][0]["user"]["token"] = "not-the-token"
    kc.write_text(yaml.safe_dump(cfg))
    proc = await asyncio.to_thread(run_kwatch, "--kubeconfig", str(kc), "--headless")
    assert_one_line_error(proc, "401")


async def test_headless_prints_steps_and_exits_0_after_duration(
    server: DemoApiServer, tmp_path: Path
) -> None:
    """The happy path of the same command: steps as JSON Lines with the stable keys."""
    import orjson

    kc = tmp_path / "demo.yaml"
    server.write_kubeconfig(kc)
    server.add_nodes(1)

    async def make_changes() -> None:
        await asyncio.sleep(2.0)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p1", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        }
        server.storage.create("pods", pod, "default")

    changer = asyncio.create_task(make_changes())
    proc = await asyncio.to_thread(
        run_kwatch, "--kubeconfig", str(kc), "--headless", "-o", "jsonl", "--duration", "5"
    )
    await changer
    assert proc.returncode == 0, proc.stderr
    steps = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert steps, proc.stdout
    assert all(set(s) >= {"t", "actor", "step", "kind", "namespace", "name", "details"}
               for s in steps)
    created = [s for s in steps if s["step"] == "PodCreated" and s["name"] == "p1"]
    assert created and created[0]["namespace"] == "default"
