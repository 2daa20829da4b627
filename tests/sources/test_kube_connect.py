"""connect() + check_access() against the demo API server over HTTPS."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from kwatch.core.kinds import POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.errors import EXIT_AUTH, EXIT_UNREACHABLE, KwatchError
from kwatch.sources.kubeconfig import Connection, check_access, connect
from kwatch.testing.certs import CertAuthority

if TYPE_CHECKING:
    from conftest import EngineFactory, Kit, Mirror, ServerFactory


@pytest.fixture
async def opened() -> AsyncIterator[list[Connection]]:
    conns: list[Connection] = []
    yield conns
    for c in conns:
        await c.close()


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_bytes(orjson.dumps(doc))  # JSON is YAML
    return str(path)


async def test_check_access_succeeds_and_reads_the_version(
    server: DemoApiServer, conn: Connection
) -> None:
    await check_access(conn)
    assert conn.server == server.url
    assert conn.context_name == "kwatch-test"
    assert conn.server_version.startswith("v1.")


async def test_a_server_certificate_we_do_not_trust(
    server: DemoApiServer, tmp_path: Path, opened: list[Connection]
) -> None:
    doc = server.kubeconfig("ctx")
    cluster = doc["clusters"][0]["cluster"]
    cluster.pop("certificate-authority-data")
    cluster["certificate-authority"] = str(tmp_path / "other-ca.crt")
    (tmp_path / "other-ca.crt").write_bytes(CertAuthority("someone-else").cert_pem)
    conn = await connect(write(tmp_path / "kc", doc), None)
    opened.append(conn)
    with pytest.raises(KwatchError) as err:
        await check_access(conn)
    assert err.value.exit_code == EXIT_UNREACHABLE
    assert err.value.message.startswith(f"TLS verification failed for {server.url}: ")
    assert "\n" not in err.value.message


async def test_rejected_credentials(
    server: DemoApiServer, tmp_path: Path, opened: list[Connection]
) -> None:
    doc = server.kubeconfig("ctx")
    doc["users"][0]["user"]["token"] = "not-the-token"
    conn = await connect(write(tmp_path / "kc", doc), None)
    opened.append(conn)
    with pytest.raises(KwatchError) as err:
        await check_access(conn)
    assert err.value.exit_code == EXIT_AUTH
    assert err.value.message == (
        f"{server.url} rejected the credentials of context ctx (401 Unauthorized)"
    )


async def test_https_to_a_plain_http_server(
    make_server: ServerFactory, tmp_path: Path, opened: list[Connection]
) -> None:
    plain = await make_server(tls=False)
    doc = plain.kubeconfig("ctx")
    doc["clusters"][0]["cluster"]["server"] = plain.url.replace("http://", "https://")
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    conn = await connect(write(tmp_path / "kc", doc), None)
    opened.append(conn)
    with pytest.raises(KwatchError) as err:
        await check_access(conn)
    assert err.value.exit_code == EXIT_UNREACHABLE
    assert err.value.message.startswith(("TLS handshake with", "cannot reach"))


async def test_a_server_that_never_answers(tmp_path: Path, opened: list[Connection]) -> None:
    async def ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    black_hole = await asyncio.start_server(ignore, "127.0.0.1", 0)
    port = black_hole.sockets[0].getsockname()[1]
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "hole", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "hole",
    }
    conn = await connect(write(tmp_path / "kc", doc), None)
    opened.append(conn)
    try:
        with pytest.raises(KwatchError) as err:
            await check_access(conn, timeout=0.3)
        assert err.value.message == f"no answer from http://127.0.0.1:{port} within 0.3s"
    finally:
        black_hole.close()


async def test_engine_end_to_end_through_a_merged_kubeconfig_env(
    kit: Kit,
    server: DemoApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_engine: EngineFactory,
    mirror: Mirror,
    opened: list[Connection],
) -> None:
    other = {
        "clusters": [{"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "u"}}],
        "current-context": "elsewhere",
    }
    server.write_kubeconfig(tmp_path / "demo", "demo")
    monkeypatch.setenv("KUBECONFIG", f"{write(tmp_path / 'other', other)}:{tmp_path / 'demo'}")
    conn = await connect(None, "demo")  # not the current context of the first file
    opened.append(conn)
    await check_access(conn)
    kit.add_pods(server, ["p1", "p2"])
    await make_engine(conn, (POD,))
    assert mirror.versions("Pod") == kit.server_versions(server, "pods")


PLUGIN = """
import datetime, json, pathlib, sys
runs = pathlib.Path(sys.argv[1])
runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
if sys.argv[2] == "fail":
    sys.exit("no credentials for you")
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {"token": sys.argv[2], "expirationTimestamp": soon.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


def exec_kubeconfig(server: DemoApiServer, tmp_path: Path, token: str) -> str:
    (tmp_path / "plugin.py").write_text(PLUGIN)
    doc = server.kubeconfig("ctx")
    doc["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(tmp_path / "plugin.py"), str(tmp_path / "runs"), token],
        }
    }
    return write(tmp_path / "kc", doc)


async def test_exec_credential_plugin_and_its_refresh(
    server: DemoApiServer, tmp_path: Path, opened: list[Connection]
) -> None:
    conn = await connect(exec_kubeconfig(server, tmp_path, server.token), None)
    opened.append(conn)
    assert (tmp_path / "runs").read_text() == "1"
    await check_access(conn)  # the server accepts the plugin's token
    # It expires within kubernetes_asyncio's 5-minute skew, so every request re-ran
    # the plugin through the refresh hook (two requests: /version and /api).
    assert (tmp_path / "runs").read_text() == "3"


async def test_a_failing_credential_plugin(server: DemoApiServer, tmp_path: Path) -> None:
    with pytest.raises(KwatchError) as err:
        await connect(exec_kubeconfig(server, tmp_path, "fail"), None)
    assert err.value.message.startswith("credential plugin of context ctx failed: ")
    assert "no credentials for you" in err.value.message


async def test_a_netrc_entry_for_the_server_is_not_used(
    server: DemoApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    opened: list[Connection],
) -> None:
    # kubectl never reads ~/.netrc. aiohttp with trust_env=True did, on every request,
    # and basic auth from it next to our bearer token made each request a ValueError.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n"
                     "machine localhost login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    conn = await connect(write(tmp_path / "kc", server.kubeconfig("ctx")), None)
    opened.append(conn)
    await check_access(conn)
    assert conn.api_client.rest_client.pool_manager.trust_env is False
