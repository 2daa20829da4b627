"""Record a real live session, replay it: the same step lines, times included.

`kwatch --headless --output jsonl --record F` runs as a user runs it (a subprocess, over
HTTPS, through a kubeconfig) against the embedded demo cluster, while the test creates
a Deployment (with secrets where they must not leak from) and deletes one of its pods.
Then `kwatch replay F --headless --output jsonl` must print exactly the step lines the
live session printed, and the recording must hold none of the secrets.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from kwatch.demo.cluster import CONTEXT, DemoCluster

pytestmark = pytest.mark.slow

ENV_SECRET = "hunter2-env-value"
ANNOTATION_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl"


def manifest() -> dict[str, object]:
    template = {
        "metadata": {
            "labels": {"app": "web"},
            "annotations": {"example.com/debug": f"Authorization: Bearer {ANNOTATION_TOKEN}"},
        },
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": [{"name": "DB_PASSWORD", "value": ENV_SECRET}],
                }
            ],
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": f'{{"env": "{ENV_SECRET}"}}'
            },
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }


def step_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith('{"t":') and '"actor"' in line]


async def wait_for(predicate: object, within: float = 30.0) -> None:
    assert callable(predicate)
    for _ in range(int(within / 0.1)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.parametrize("name", ["live.jsonl.gz", "live.jsonl"])
async def test_live_headless_then_replay_headless_print_the_same_steps(
    tmp_path: Path, name: str
) -> None:
    recording = tmp_path / name
    async with DemoCluster(speed=4, nodes=2, controller_replicas=1) as cluster:
        kubeconfig = cluster.kubeconfig_path
        live = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kwatch",
            "--kubeconfig",
            kubeconfig,
            "--context",
            CONTEXT,
            "-n",
            "default",
            "--headless",
            "--output",
            "jsonl",
            "--record",
            str(recording),
            "--duration",
            "60",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert live.stdout is not None
        first = await asyncio.wait_for(live.stdout.readline(), 30)  # synced: it is watching
        assert b'"Synced"' in first, first
        api = cluster.client("kubectl/v1.35.0")
        await api.create("/apis/apps/v1/namespaces/default/deployments", manifest())

        async def two_ready() -> bool:
            pods, _ = await api.list("/api/v1/namespaces/default/pods")
            return len(pods) == 2 and all(
                any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions", [])
                )
                for p in pods
            )

        await wait_for(two_ready)
        pods, _ = await api.list("/api/v1/namespaces/default/pods")
        victim = pods[0]["metadata"]["name"]
        await api.delete(f"/api/v1/namespaces/default/pods/{victim}")

        async def replaced() -> bool:
            pods, _ = await api.list("/api/v1/namespaces/default/pods")
            names = {p["metadata"]["name"] for p in pods}
            return victim not in names and len(names) == 2

        await wait_for(replaced)
        await asyncio.sleep(0.5)  # let the watch deliver the last changes
        live.terminate()  # SIGTERM: a clean stop, the recording is closed
        out, err = await asyncio.wait_for(live.communicate(), 30)
        config = await asyncio.to_thread(Path(kubeconfig).read_text)
        token = yaml.safe_load(config)["users"][0]["user"]["token"]
        server = cluster.server.url
    live_steps = step_lines(first.decode() + out.decode())
    assert live.returncode == 0, err.decode()
    assert any('"PodGone"' in s for s in live_steps) and any('"PodReady"' in s for s in live_steps)

    replay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kwatch",
        "replay",
        str(recording),
        "--headless",
        "--output",
        "jsonl",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    replay_out, replay_err = await asyncio.wait_for(replay.communicate(), 60)
    assert replay.returncode == 0 and replay_err == b""
    assert step_lines(replay_out.decode()) == live_steps

    data = recording.read_bytes()
    text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
    header = orjson.loads(text.splitlines()[0])
    assert header["source"] == "live" and header["scope"]["namespaces"] == ["default"]
    for leaked in (ENV_SECRET, ANNOTATION_TOKEN, token, server, "last-applied-configuration"):
        assert leaked not in text, leaked
    assert orjson.loads(text.splitlines()[-1])["end"] is True
