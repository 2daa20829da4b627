"""The recorder: format, exact times, batches, durability (SIGKILL), redaction."""

from __future__ import annotations

import gzip
import os
import signal
import stat
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from kwatch.core.events import EventType, KEvent
from kwatch.sources.record import FORMAT_NAME, FORMAT_VERSION, Recorder, redact, scrub_text
from kwatch.sources.replay import read_recording

T0 = 1_700_000_000.0
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50"
    "In0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)


def lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(31).decompress(data)  # also reads an unfinished stream
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def pod(name: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "7",
        },
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    obj.update(extra)
    return obj


def ev(t: float, obj: dict[str, Any], etype: EventType = EventType.ADDED) -> KEvent:
    return KEvent(t, obj.get("kind", "Pod"), etype, obj, obj["metadata"]["resourceVersion"])


# -- format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_header_events_batches_notes_and_end(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with Recorder(
        path,
        scope={"namespaces": ["default"], "selector": "app=web"},
        source="demo",
        clock=T0,
        title="rolling-update",
    ) as rec:
        rec([ev(T0 + 0.1, pod("a")), ev(T0 + 0.1, pod("b"))])
        rec([ev(T0 + 1.5, pod("a"), EventType.MODIFIED)])
        rec.note("look now", t=T0 + 2.0, bookmark=True)
        rec([KEvent(T0 + 3.0, "Pod", EventType.LISTED, {})])
    recs = lines(path)
    header = recs[0]
    assert header["format"] == FORMAT_NAME and header["version"] == FORMAT_VERSION == 2
    assert header["source"] == "demo" and header["title"] == "rolling-update"
    assert header["scope"] == {"namespaces": ["default"], "selector": "app=web"}
    assert header["start"] == T0
    assert recs[1] == {"o": pytest.approx(0.1), "batch": 2}
    assert [r.get("k") for r in recs[2:5]] == ["Pod", "Pod", "Pod"]
    assert recs[4]["e"] == "MODIFIED" and recs[4]["rv"] == "7"
    assert recs[5] == {"o": 2.0, "note": "look now", "bookmark": True}
    assert recs[6] == {"o": 3.0, "k": "Pod", "e": "LISTED"}
    assert recs[7]["end"] is True and recs[7]["events"] == 4
    if name.endswith(".gz"):
        assert gzip.decompress(path.read_bytes())  # a complete, standard gzip file


def test_observation_times_survive_exactly(tmp_path: Path) -> None:
    # Offsets are not rounded: start + (t - start) == t for epoch times.
    times = [T0 + 0.1, T0 + 1 / 3, T0 + 12.3456789123, T0 + 86_399.999999]
    with Recorder(tmp_path / "r.jsonl", scope={}, clock=T0 + 0.123456789) as rec:
        for i, t in enumerate(times):
            rec([ev(t, pod(f"p{i}"))])
    got = [b.events[0].t for b in read_recording(tmp_path / "r.jsonl").batches]
    assert got == times


def test_recording_is_private_to_its_owner(tmp_path: Path) -> None:
    Recorder(tmp_path / "r.jsonl", scope={}).close()
    assert stat.S_IMODE(os.stat(tmp_path / "r.jsonl").st_mode) == 0o600


def test_close_is_idempotent_and_end_never_precedes_the_last_event(tmp_path: Path) -> None:
    # A recorder whose default clock is not the events' clock (the demo's is simulated).
    rec = Recorder(tmp_path / "r.jsonl", scope={}, clock=T0, now=lambda: T0 + 1)
    rec([ev(T0 + 50, pod("a"))])
    rec.close()
    rec.close()
    rec([ev(T0 + 60, pod("b"))])  # after close: ignored, not an error
    recs = lines(tmp_path / "r.jsonl")
    assert recs[-1]["end"] is True and recs[-1]["o"] == 50
    assert sum(1 for r in recs if r.get("end")) == 1


def test_a_write_failure_stops_recording_without_breaking_the_watch() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    errors: list[str] = []
    rec = Recorder("/dev/full", scope={}, on_error=errors.append)
    rec([ev(T0, pod("a"))])  # must not raise
    rec.note("x")
    rec.close()
    assert rec.error is not None and len(errors) == 1 and "stopped" in errors[0]


def test_summarised_managed_fields_are_kept_raw_ones_are_summarised(tmp_path: Path) -> None:
    summarised = [{"manager": "kubectl", "operation": "Update", "time": "", "fields": ["f:spec"]}]
    raw = [{"manager": "helm", "operation": "Update", "fieldsV1": {"f:spec": {}, "f:metadata": {}}}]
    a = pod("a")
    a["metadata"]["managedFields"] = summarised
    b = pod("b")
    b["metadata"]["managedFields"] = raw
    with Recorder(tmp_path / "r.jsonl", scope={}, clock=T0) as rec:
        rec([ev(T0, a)])
        rec([ev(T0, b)])
    recs = lines(tmp_path / "r.jsonl")
    assert recs[1]["obj"]["metadata"]["managedFields"] == summarised
    assert recs[2]["obj"]["metadata"]["managedFields"][0]["fields"] == ["f:metadata", "f:spec"]


# -- durability -----------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, time
    from kwatch.core.events import EventType, KEvent
    from kwatch.sources.record import Recorder
    rec = Recorder(sys.argv[1], scope={}, clock=1_700_000_000.0)
    i = 0
    while True:
        i += 1
        obj = {"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "default",
               "uid": f"u{i}", "resourceVersion": str(i)}, "spec": {"containers": []}}
        batch = [KEvent(1_700_000_000.0 + i, "Pod", EventType.ADDED, obj, str(i))]
        if i % 3 == 0:  # some multi-event batches too
            batch.append(KEvent(1_700_000_000.0 + i, "Pod", EventType.LISTED, {}))
        rec(batch)
        if i % 5 == 0:
            rec.note(f"note {i}", t=1_700_000_000.0 + i)
        print(i, flush=True)
        if i >= 40:
            time.sleep(0.01)
    """
)


@pytest.mark.parametrize("name", ["killed.jsonl", "killed.jsonl.gz"])
def test_sigkill_loses_nothing_already_flushed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    done = 0
    try:
        while done < 60:  # each printed number: that batch was recorded and flushed
            line = child.stdout.readline()
            assert line, "the recorder child died"
            done = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    recording = read_recording(path)
    names = [ev.name for b in recording.batches for ev in b.events if ev.name]
    assert names[:done] == [f"p{i}" for i in range(1, done + 1)]
    assert [n.text for n in recording.notes][: done // 5] == [
        f"note {i}" for i in range(5, done + 1, 5)
    ]
    multi = [b for b in recording.batches if len(b.events) == 2]
    assert len(multi) >= done // 3  # batches stay batches
    assert not recording.closed
    assert any("not closed" in w for w in recording.warnings)


# -- redaction ------------------------------------------------------------------------------


def test_secrets_are_never_written(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default", "uid": "s1", "resourceVersion": "1"},
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"password": "hunter2"},
    }
    with Recorder(tmp_path / "r.jsonl", scope={}, clock=T0) as rec:
        rec([KEvent(T0, "Secret", EventType.ADDED, secret, "1")])
        rec([KEvent(T0, "Pod", EventType.ADDED, secret, "1")])  # mislabelled: still dropped
        rec([KEvent(T0, "Secret", EventType.ADDED, secret, "1"), ev(T0, pod("a"))])
    text = (tmp_path / "r.jsonl").read_text()
    assert "hunter2" not in text and "aHVudGVyMg" not in text and '"Secret"' not in text
    recs = lines(tmp_path / "r.jsonl")
    assert [r.get("k") for r in recs[1:-1]] == ["Pod"]  # no batch line for a batch of one


def test_env_values_last_applied_and_tokens_are_redacted(tmp_path: Path) -> None:
    container = {
        "name": "app",
        "image": "nginx",
        "env": [
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "API", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "args": ["--token=s3cr3t-arg", "--password", "--verbose"],
    }
    template_pod = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [dict(container)]},
    }
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "d1",
            "resourceVersion": "3",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"hunter2": true}',
                "example.com/api-token": "plain-token-value",
                "example.com/auth": "Bearer abc.def.ghi",
                "example.com/owner": "team-a",
                "example.com/debug": f"called with Authorization: Bearer {JWT}",
            },
        },
        "spec": {"replicas": 1, "template": template_pod},
    }
    p = pod("a")
    p["spec"] = {"containers": [container]}
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "default", "uid": "e1", "resourceVersion": "4"},
        "note": f"failed: token {JWT} rejected; password=hunter2",
        "reason": "Failed",
    }
    with Recorder(tmp_path / "r.jsonl.gz", scope={}, clock=T0) as rec:
        rec(
            [
                KEvent(T0, "Deployment", EventType.ADDED, deploy, "3"),
                KEvent(T0, "Pod", EventType.ADDED, p, "7"),
                KEvent(T0, "Event", EventType.ADDED, event, "4"),
            ]
        )
        rec.note(f"token={JWT}", t=T0 + 1)
    text = gzip.decompress((tmp_path / "r.jsonl.gz").read_bytes()).decode()
    for leaked in (
        "hunter2",
        "s3cr3t-arg",
        "plain-token-value",
        "abc.def.ghi",
        JWT[:20],
        "last-applied-configuration",
    ):
        assert leaked not in text, leaked
    recs = [orjson.loads(line) for line in text.splitlines()]
    annotations = recs[2]["obj"]["metadata"]["annotations"]
    assert annotations["example.com/owner"] == "team-a"  # harmless annotations stay
    env = recs[3]["obj"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["DB_PASSWORD", "API"]  # names stay: they teach
    assert recs[3]["obj"]["spec"]["containers"][0]["args"][1:] == ["--password", "--verbose"]
    assert "rejected" in recs[4]["obj"]["note"]  # the rest of the message stays


def test_header_never_holds_the_server_or_credentials(tmp_path: Path) -> None:
    scope = {
        "namespaces": ["default"],
        "selector": None,
        "server": "https://10.0.0.1:6443",
        "token": JWT,
        "user": {"client-key-data": "LS0tLS1CRUdJTi"},
    }
    Recorder(tmp_path / "r.jsonl", scope=scope, source="live").close()
    header = lines(tmp_path / "r.jsonl")[0]
    text = orjson.dumps(header).decode()
    assert "10.0.0.1" not in text and JWT[:20] not in text and "LS0tLS1" not in text
    assert set(header) == {"format", "version", "kwatch", "source", "scope", "start", "started"}
    assert header["scope"] == {"namespaces": ["default"], "selector": None}


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization", JWT[:12]),
        ("bearer abc123.def", "bearer", "abc123"),
        ("--api-key=12345 --port=80", "--port=80", "12345"),
        ('{"password": "pw1"}', "password", "pw1"),
        ("client_secret: zzz", "client_secret", "zzz"),
        ("no secrets here, port=80", "port=80", "\0"),
    ],
)
def test_scrub_text(text: str, kept: str, gone: str) -> None:
    out = scrub_text(text)
    assert kept in out and gone not in out


def test_pods_projected_token_volume_is_not_mangled() -> None:
    # Every pod has a serviceAccountToken projection: a dict key, not a secret value.
    p = pod("a")
    p["spec"]["volumes"] = [
        {
            "name": "kube-api-access",
            "projected": {
                "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]
            },
        }
    ]
    assert orjson.loads(redact(p))["spec"]["volumes"] == p["spec"]["volumes"]


def test_json_inside_an_annotation_is_scrubbed_too() -> None:
    p = pod("a")
    p["metadata"]["annotations"] = {"example.com/config": '{"db": {"password": "pw1"}}'}
    out = redact(p)
    assert b"pw1" not in out and b"example.com/config" in out
