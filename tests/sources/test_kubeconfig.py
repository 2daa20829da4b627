"""connect(): kubeconfig resolution and merging, contexts, in-cluster, one-line errors.

These never touch the network; check_access against a live server is covered in
test_kube_connect.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kubernetes_asyncio.config import incluster_config

from kwatch.sources.errors import EXIT_CONFIG, EXIT_UNREACHABLE, KwatchError
from kwatch.sources.kubeconfig import IN_CLUSTER, Connection, check_access, connect
from kwatch.testing.certs import CertAuthority


def kubeconfig_doc(
    contexts: dict[str, str], current: str | None, *, token: str = "t0k3n", namespace: str = ""
) -> dict[str, Any]:
    """contexts: context name → server URL (one cluster and user per context)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": f"{c}-cluster", "cluster": {"server": url, "insecure-skip-tls-verify": True}}
            for c, url in contexts.items()
        ],
        "users": [{"name": f"{c}-user", "user": {"token": f"{token}-{c}"}} for c in contexts],
        "contexts": [
            {
                "name": c,
                "context": {
                    "cluster": f"{c}-cluster",
                    "user": f"{c}-user",
                    **({"namespace": namespace} if namespace else {}),
                },
            }
            for c in contexts
        ],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: dict[str, Any] | str) -> Path:
    # JSON is YAML: no need for a YAML writer in tests.
    path.write_bytes(doc.encode() if isinstance(doc, str) else orjson.dumps(doc))
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may pick up the developer's real kubeconfig or a CI pod's service account."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
async def opened() -> AsyncIterator[list[Connection]]:
    conns: list[Connection] = []
    yield conns
    for c in conns:
        await c.close()


async def test_explicit_kubeconfig_and_current_context(
    tmp_path: Path, opened: list[Connection]
) -> None:
    kc = write(
        tmp_path / "kc", kubeconfig_doc({"a": "https://a.example:6443/"}, "a", namespace="ns1")
    )
    conn = await connect(str(kc), None)
    opened.append(conn)
    assert conn.server == "https://a.example:6443"
    assert conn.context_name == "a"
    assert conn.namespace == "ns1"
    assert conn.api_client.configuration.api_key["BearerToken"] == "Bearer t0k3n-a"


async def test_context_flag_selects_another_context(
    tmp_path: Path, opened: list[Connection]
) -> None:
    kc = write(
        tmp_path / "kc",
        kubeconfig_doc({"a": "https://a.example", "b": "https://b.example"}, "a"),
    )
    conn = await connect(str(kc), "b")
    opened.append(conn)
    assert (conn.context_name, conn.server) == ("b", "https://b.example")


async def test_kubeconfig_env_merges_several_files_first_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Connection]
) -> None:
    first = write(tmp_path / "one", kubeconfig_doc({"a": "https://first.example"}, "a"))
    # The second file redefines context a and sets its own current-context: kubectl
    # keeps the first file's definition and the first current-context.
    second = write(
        tmp_path / "two",
        kubeconfig_doc({"a": "https://second.example", "b": "https://b.example"}, "b"),
    )
    missing = tmp_path / "does-not-exist"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{first}:{second}")
    conn = await connect(None, None)
    opened.append(conn)
    assert (conn.context_name, conn.server) == ("a", "https://first.example")
    conn_b = await connect(None, "b")
    opened.append(conn_b)
    assert (conn_b.context_name, conn_b.server) == ("b", "https://b.example")


async def test_default_location_in_home(tmp_path: Path, opened: list[Connection]) -> None:
    (tmp_path / "home" / ".kube").mkdir(parents=True)
    write(
        tmp_path / "home" / ".kube" / "config", kubeconfig_doc({"h": "https://home.example"}, "h")
    )
    conn = await connect(None, None)
    opened.append(conn)
    assert conn.context_name == "h"


async def test_relative_certificate_paths_resolve_next_to_their_file(
    tmp_path: Path, opened: list[Connection]
) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    doc = kubeconfig_doc({"a": "https://a.example"}, "a")
    cluster = doc["clusters"][0]["cluster"]
    del cluster["insecure-skip-tls-verify"]
    cluster["certificate-authority"] = "ca.crt"
    (sub / "ca.crt").write_text("not a certificate")
    kc = write(sub / "kc", doc)
    # The CA path is found (relative to conf/), and its garbage content is reported
    # as a TLS set-up problem rather than a crash.
    with pytest.raises(KwatchError) as err:
        opened.append(await connect(str(kc), None))
    assert err.value.exit_code == EXIT_CONFIG
    assert "TLS" in err.value.message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing-file", "kubeconfig file not found"),
        ("garbled", "is not valid YAML (line"),
        ("not-a-mapping", "is not a mapping"),
        ("no-current-context", "has no current-context; pass --context (available: a, b)"),
        ("unknown-context", "--context nope: no such context"),
        ("dangling-cluster", "invalid kubeconfig"),
    ],
)
async def test_config_errors_are_one_line(tmp_path: Path, setup: str, expected: str) -> None:
    kc = tmp_path / "kc"
    context = None
    if setup == "garbled":
        write(kc, "apiVersion: v1\nclusters: [\n  - name: x\n    : :\n")
    elif setup == "not-a-mapping":
        write(kc, "- just\n- a list\n")
    elif setup == "no-current-context":
        write(kc, kubeconfig_doc({"a": "https://a", "b": "https://b"}, None))
    elif setup == "unknown-context":
        write(kc, kubeconfig_doc({"a": "https://a", "b": "https://b"}, "a"))
        context = "nope"
    elif setup == "dangling-cluster":
        doc = kubeconfig_doc({"a": "https://a"}, "a")
        doc["clusters"] = []
        write(kc, doc)
    with pytest.raises(KwatchError) as err:
        await connect(str(kc), context)
    assert expected in err.value.message
    assert "\n" not in err.value.message
    assert err.value.exit_code == EXIT_CONFIG
    if setup == "unknown-context":
        assert "(available: a, b)" in err.value.message


async def test_no_kubeconfig_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(KwatchError) as err:
        await connect(None, None)
    assert err.value.message.startswith("no kubeconfig found")
    assert err.value.exit_code == EXIT_CONFIG


async def test_in_cluster_when_no_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Connection]
) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    ca = tmp_path / "ca.crt"
    ca.write_bytes(CertAuthority().cert_pem)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    conn = await connect(None, None)
    opened.append(conn)
    assert (conn.server, conn.context_name) == ("https://10.96.0.1:443", IN_CLUSTER)
    assert conn.api_client.configuration.api_key["BearerToken"] == "Bearer sa-token"
    with pytest.raises(KwatchError, match="--context x: no kubeconfig found"):
        await connect(None, "x")


async def test_in_cluster_without_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", "/nonexistent/token")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(KwatchError) as err:
        await connect(None, None)
    assert err.value.message.startswith("in-cluster config:")


async def test_check_access_fails_fast_when_unreachable(
    tmp_path: Path, opened: list[Connection]
) -> None:
    kc = write(tmp_path / "kc", kubeconfig_doc({"a": "https://127.0.0.1:1"}, "a"))
    conn = await connect(str(kc), None)
    opened.append(conn)
    with pytest.raises(KwatchError) as err:
        await check_access(conn, timeout=5.0)
    assert err.value.exit_code == EXIT_UNREACHABLE
    assert err.value.message.startswith("cannot reach https://127.0.0.1:1")


@pytest.mark.parametrize(
    ("env", "proxy_url", "expected"),
    [
        ({}, None, None),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, None, "http://proxy.corp:3128"),
        ({"https_proxy": "http://proxy.corp:3128", "NO_PROXY": "a.example"}, None, None),
        ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": ".example"}, None, None),
        ({"HTTP_PROXY": "http://plain:3128"}, None, None),  # the server is https
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "http://kc-proxy:8080",
         "http://kc-proxy:8080"),
    ],
)
async def test_proxy_from_the_environment_once_like_client_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Connection],
    env: dict[str, str], proxy_url: str | None, expected: str | None,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                 "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    doc = kubeconfig_doc({"a": "https://a.example:6443"}, "a")
    if proxy_url:
        doc["clusters"][0]["cluster"]["proxy-url"] = proxy_url
    conn = await connect(str(write(tmp_path / "kc", doc)), None)
    opened.append(conn)
    rest = conn.api_client.rest_client
    assert rest.proxy == expected
    # Read once here; aiohttp must not look again (on a thread) for every request.
    assert rest.pool_manager.trust_env is False
