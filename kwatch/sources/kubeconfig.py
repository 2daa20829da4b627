"""Connection set-up: kubeconfig / in-cluster loading, auth plugins, TLS.

kubernetes_asyncio does the parts it is good at (auth plugins, certificate files, its
aiohttp session); kwatch does the rest itself, because:

- its ``load_config`` tests ``exists("a:b")`` for a multi-path ``KUBECONFIG`` and falls
  back to in-cluster; and its ``KubeConfigMerger`` lets the *last* file's
  ``current-context`` win, where kubectl lets the *first* one win;
- its errors are assertion errors and multi-line YAML dumps; kwatch needs one line
  per failure (missing file, garbled YAML, no/unknown context, unreachable, TLS, 401);
- its default pool holds 100 connections, and every watch pins one for minutes;
- its session has ``trust_env=True``, so aiohttp consults ``~/.netrc`` and the proxy
  variables on a worker thread for *every* request. While the loop is busy (slimming a
  list page) that thread waits for the GIL, and each prefetched list page went out
  ~10 ms late. kwatch reads the proxy variables once, as client-go's
  ``ProxyFromEnvironment`` does, and never reads ``.netrc`` (kubectl does not either).

``Connection.request`` returns the raw ``aiohttp.ClientResponse`` (``_preload_content``
off) so the watch engine can stream lines and choose its own timeouts; it does not
raise on non-2xx statuses, the caller checks ``status``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml  # type: ignore[import-untyped, unused-ignore]
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    load_incluster_config,
)
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

from kwatch import __version__
from kwatch.sources.errors import EXIT_AUTH, EXIT_CONFIG, EXIT_UNREACHABLE, KwatchError

DEFAULT_KUBECONFIG = Path("~/.kube/config")
IN_CLUSTER = "in-cluster"
# Plain requests (not watches) give up when the server goes quiet for this long.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=60.0)

Query = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(slots=True)
class Connection:
    api_client: Any  # kubernetes_asyncio.client.ApiClient (untyped library)
    server: str  # https://host:port, no trailing slash
    context_name: str  # kubeconfig context, or "in-cluster"
    namespace: str | None = None  # the context's default namespace, if it sets one
    server_version: str = field(default="")  # gitVersion, filled in by check_access

    async def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        *,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request with the context's credentials; return the unread response.

        The caller owns the response (``async with resp:`` or ``resp.release()``) and
        must check ``resp.status``. Connection errors propagate as aiohttp/OS errors.
        """
        params = list(query.items()) if isinstance(query, Mapping) else list(query or ())
        # call_api (not rest_client directly) so kubernetes_asyncio adds the bearer
        # token and runs its refresh hook (exec plugins, rotated in-cluster tokens).
        resp: aiohttp.ClientResponse = await self.api_client.call_api(
            path,
            method,
            query_params=params,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=client_timeout or DEFAULT_TIMEOUT,
        )
        return resp

    async def close(self) -> None:
        await self.api_client.close()


async def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Load credentials the way kubectl does and open a client session (no I/O yet).

    Order: ``kubeconfig`` (one file, must exist) → ``$KUBECONFIG`` (``:``-separated,
    missing entries skipped, merged first-wins) → ``~/.kube/config`` → in-cluster
    service account when ``KUBERNETES_SERVICE_HOST`` is set.
    """
    paths = _kubeconfig_paths(kubeconfig)
    cfg = Configuration()
    if paths:
        context_name, namespace = await _load_kubeconfig(paths, context, cfg)
    elif os.environ.get(SERVICE_HOST_ENV_NAME):
        if context:
            raise KwatchError(
                f"--context {context}: no kubeconfig found (running in-cluster)", EXIT_CONFIG
            )
        try:
            load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError) as e:
            raise KwatchError(f"in-cluster config: {e}", EXIT_CONFIG) from e
        context_name, namespace = IN_CLUSTER, _in_cluster_namespace()
    else:
        where = os.environ.get("KUBECONFIG") or str(DEFAULT_KUBECONFIG)
        raise KwatchError(
            f"no kubeconfig found (looked at {where}); pass --kubeconfig or set KUBECONFIG",
            EXIT_CONFIG,
        )
    # 0 = no limit: each watch holds a connection for minutes (HTTP/1.1, one per
    # kind and namespace); a capped pool would make the next list wait forever.
    cfg.connection_pool_maxsize = 0
    if not cfg.proxy:  # kubeconfig's proxy-url wins over the environment
        cfg.proxy = env_proxy_for(str(cfg.host))
    try:
        client = ApiClient(configuration=cfg)
    except (ssl.SSLError, OSError) as e:
        raise KwatchError(f"cannot set up TLS for {cfg.host}: {_one_line(e)}", EXIT_CONFIG) from e
    client.user_agent = f"kwatch/{__version__}"
    _stop_trusting_env(client)
    return Connection(client, str(cfg.host).rstrip("/"), context_name, namespace)


def env_proxy_for(server: str) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY name for `server`, unless NO_PROXY exempts it."""
    scheme, _, rest = server.partition("://")
    host = rest.split("/", 1)[0]
    if not host or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme.lower()) or None


def _stop_trusting_env(client: Any) -> None:
    """Swap kubernetes_asyncio's session for one with ``trust_env=False`` (see the module
    docstring), keeping its connector (pool, TLS context) and read buffer size."""
    rest = client.rest_client
    old: aiohttp.ClientSession = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(
        connector=old.connector,
        trust_env=False,
        read_bufsize=2**21,  # as kubernetes_asyncio: big objects in one watch line
    )
    old.detach()


# A plain seconds argument: the CLI calls this once, it has no scope to wrap.
async def check_access(conn: Connection, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Fail fast with a one-line KwatchError if the server is unreachable or rejects us.

    ``/version`` proves the server is there (and names its version); ``/api`` proves
    the credentials work — servers may answer ``/version`` anonymously, while
    discovery needs an authenticated user (any one: ``system:discovery``).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    body = await _get_checked(conn, "/version", timeout)
    try:
        info = orjson.loads(body)
        conn.server_version = str(info.get("gitVersion", "")) if isinstance(info, dict) else ""
    except orjson.JSONDecodeError:
        conn.server_version = ""
    await _get_checked(conn, "/api", max(0.5, deadline - loop.time()))


async def _get_checked(conn: Connection, path: str, seconds: float) -> bytes:
    server = conn.server
    try:
        async with asyncio.timeout(seconds):
            resp = await conn.request(
                "GET", path, client_timeout=aiohttp.ClientTimeout(total=seconds)
            )
            async with resp:
                body = await resp.read()
    except aiohttp.ClientConnectorCertificateError as e:
        raise KwatchError(
            f"TLS verification failed for {server}: {_one_line(e.certificate_error)}",
            EXIT_UNREACHABLE,
        ) from e
    except (aiohttp.ClientSSLError, ssl.SSLError) as e:
        raise KwatchError(
            f"TLS handshake with {server} failed: {_one_line(e)}", EXIT_UNREACHABLE
        ) from e
    except TimeoutError as e:
        raise KwatchError(f"no answer from {server} within {seconds:g}s", EXIT_UNREACHABLE) from e
    except aiohttp.ClientConnectorError as e:
        raise KwatchError(
            f"cannot reach {server}: {e.os_error.strerror or e.os_error}", EXIT_UNREACHABLE
        ) from e
    except (aiohttp.ClientError, OSError) as e:
        raise KwatchError(f"cannot reach {server}: {_one_line(e)}", EXIT_UNREACHABLE) from e
    ctx = conn.context_name
    if resp.status == 401:
        raise KwatchError(
            f"{server} rejected the credentials of context {ctx} (401 Unauthorized)", EXIT_AUTH
        )
    if resp.status == 403:
        raise KwatchError(
            f"{server} denied access to context {ctx}: {status_message(body)} (403 Forbidden)",
            EXIT_AUTH,
        )
    if resp.status >= 300:
        raise KwatchError(
            f"{server}{path} answered HTTP {resp.status}: {status_message(body)}",
            EXIT_UNREACHABLE,
        )
    return body


def status_message(body: bytes) -> str:
    """The ``message`` of a metav1.Status body, or the start of whatever came back."""
    try:
        st = orjson.loads(body)
    except orjson.JSONDecodeError:
        st = None
    if isinstance(st, dict) and st.get("message"):
        return _one_line(str(st["message"]))
    return _one_line(body[:200].decode("utf-8", "replace")) or "(empty body)"


# -- kubeconfig ---------------------------------------------------------------------


def _kubeconfig_paths(explicit: str | None) -> list[Path]:
    """Files to merge, in priority order; empty when none exists (→ in-cluster)."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise KwatchError(f"kubeconfig file not found: {explicit}", EXIT_CONFIG)
        return [p]
    env = os.environ.get("KUBECONFIG")
    if env:
        # kubectl skips entries that do not exist, as long as one does.
        return [Path(e).expanduser() for e in env.split(os.pathsep) if e and _is_file(e)]
    default = DEFAULT_KUBECONFIG.expanduser()
    return [default] if default.is_file() else []


def _is_file(path: str) -> bool:
    return Path(path).expanduser().is_file()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise KwatchError(
            f"kubeconfig {path} is not valid YAML{where}: {problem}", EXIT_CONFIG
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise KwatchError(f"cannot read kubeconfig {path}: {_one_line(e)}", EXIT_CONFIG) from e
    if doc is None:
        return {}  # kubectl accepts an empty file
    if not isinstance(doc, dict):
        raise KwatchError(f"kubeconfig {path} is not a mapping", EXIT_CONFIG)
    return doc


async def _load_kubeconfig(
    paths: list[Path], context: str | None, cfg: Any
) -> tuple[str, str | None]:
    docs = [_read_yaml(p) for p in paths]
    shown = ":".join(str(p) for p in paths)
    contexts: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for item in doc.get("contexts") or ():
            if isinstance(item, dict) and item.get("name") is not None:
                ctx_body = item.get("context")
                contexts.setdefault(
                    str(item["name"]), ctx_body if isinstance(ctx_body, dict) else {}
                )
    current = next((str(d["current-context"]) for d in docs if d.get("current-context")), None)
    name = context or current
    available = ", ".join(contexts) or "none"
    if name is None:
        raise KwatchError(
            f"kubeconfig {shown} has no current-context; pass --context (available: {available})",
            EXIT_CONFIG,
        )
    if name not in contexts:
        flag = f"--context {name}" if context else f"current-context {name}"
        raise KwatchError(
            f"{flag}: no such context in {shown} (available: {available})", EXIT_CONFIG
        )
    try:
        merger = KubeConfigMerger(os.pathsep.join(str(p) for p in paths))
        merged = merger.config
        if merged is None:  # pragma: no cover - every path was checked to exist
            raise ConfigException("nothing to load")
        # kubectl: the first file that sets current-context wins (the merger keeps the last).
        merged.value["current-context"] = current
        # config_base_path=None: relative certificate paths resolve next to the file
        # that names them, as kubectl does.
        loader = KubeConfigLoader(config_dict=merged, active_context=name, config_base_path=None)
        await loader.load_and_set(cfg)
    except (ConfigException, KeyError, TypeError, AttributeError, AssertionError) as e:
        if str(e).startswith("exec:"):  # kubernetes_asyncio's prefix for plugin failures
            raise KwatchError(
                f"credential plugin of context {name} failed: {_one_line(e)[6:]}", EXIT_CONFIG
            ) from e
        raise KwatchError(
            f"invalid kubeconfig {shown} (context {name}): {_one_line(e)}", EXIT_CONFIG
        ) from e
    except Exception as e:
        # Auth plugins (exec, oidc, gcp) fail in their own ways; all mean "no credentials".
        raise KwatchError(
            f"cannot get credentials for context {name}: {_one_line(e)}", EXIT_CONFIG
        ) from e
    _refresh_exec_tokens(loader, cfg)
    ns = contexts[name].get("namespace")
    return name, str(ns) if ns else None


def _refresh_exec_tokens(loader: Any, cfg: Any) -> None:
    """Re-run an exec plugin when its token expires (kubernetes_asyncio only does it in
    a separate polling task); without an expiry the first token is kept."""
    if not hasattr(loader, "exec_plugin_expiry"):
        return

    async def refresh(config: Any) -> None:
        await loader.load_from_exec_plugin()  # a no-op until the token is about to expire
        config.api_key["BearerToken"] = loader.token

    cfg.refresh_api_key_hook = refresh


def _in_cluster_namespace() -> str | None:
    try:
        text = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text()
    except OSError:
        return None
    return text.strip() or None


def _one_line(e: object) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:297] + "..."
