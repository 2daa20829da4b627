"""A real Kubernetes control plane on loopback, for tests and hands-on demos.

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler built by
``scripts/build-controlplane.sh`` (or found through ``KUBEBUILDER_ASSETS``), with a
fresh throw-away PKI, on free 127.0.0.1 ports, in a temporary directory.

    from kwatch.testing.controlplane import ControlPlane, find_binaries

    bins = find_binaries()
    if bins is None: ...  # run scripts/build-controlplane.sh
    with ControlPlane(bins) as cp:
        cp.admin_kubeconfig_path      # system:masters
        cp.readonly_kubeconfig_path   # user kwatch-readonly, bound by docs/rbac.yaml
        cp.kubeconfig_for("alice", ["devs"])

From a shell (keeps running until Ctrl-C)::

    python -m kwatch.testing.controlplane up --nodes 3 --kubeconfig-out /tmp/kc

No kubelet runs: ``--nodes`` registers fake Nodes that heartbeat (see
``kwatch.testing.fakenodes``); pods are scheduled onto them but never start.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import yaml

from kwatch.testing.certs import CertAuthority, KeyPair, write_service_account_keys

__all__ = [
    "PINNED_ETCD_VERSION",
    "PINNED_K8S_VERSION",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "default_cache_dir",
    "find_binaries",
    "main",
]

#: Must match the defaults in scripts/build-controlplane.sh.
PINNED_K8S_VERSION: Final = "v1.36.1"
PINNED_ETCD_VERSION: Final = "v3.6.16"

ADMIN_USER: Final = "kwatch-admin"
READONLY_USER: Final = "kwatch-readonly"
SERVICE_CIDR: Final = "10.96.0.0/12"
SERVICE_IP: Final = "10.96.0.1"
SA_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"

_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RBAC_MANIFEST: Final = _REPO_ROOT / "docs" / "rbac.yaml"

_COMPONENTS: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ControlPlaneError(RuntimeError):
    """The control plane failed to start (the message carries the log tails)."""


# --------------------------------------------------------------------------- binaries


def default_cache_dir() -> Path:
    """``$KWATCH_CP_CACHE`` or ``~/.cache/kwatch/controlplane`` (as the build script)."""
    env = os.environ.get("KWATCH_CP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kwatch" / "controlplane"


@dataclass(frozen=True)
class Binaries:
    """Paths of the control plane executables."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path | None = None

    @property
    def bin_dir(self) -> Path:
        """The directory of kube-apiserver (may differ from etcd's with KUBEBUILDER_ASSETS)."""
        return self.kube_apiserver.parent

    def path(self, name: str) -> Path:
        found = {
            "etcd": self.etcd,
            "kube-apiserver": self.kube_apiserver,
            "kube-controller-manager": self.kube_controller_manager,
            "kube-scheduler": self.kube_scheduler,
        }.get(name)
        if found is None:
            raise KeyError(name)
        return found


def _search_dirs(k8s_version: str) -> list[Path]:
    dirs: list[Path] = []
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        dirs.append(Path(assets))
    dirs.append(default_cache_dir() / k8s_version / "bin")
    return dirs


def find_binaries(k8s_version: str = PINNED_K8S_VERSION) -> Binaries | None:
    """Find etcd and the kube-* binaries, or None if any required one is missing.

    Each binary is looked up first in ``$KUBEBUILDER_ASSETS``, then in the build
    script's cache dir for *k8s_version*. kubectl is optional.
    """
    dirs = _search_dirs(k8s_version)

    def find(name: str) -> Path | None:
        for d in dirs:
            p = d / name
            if p.is_file() and os.access(p, os.X_OK):
                return p
        return None

    required = {name: find(name) for name in _COMPONENTS}
    if any(p is None for p in required.values()):
        return None
    etcd, apiserver, kcm, sched = (required[n] for n in _COMPONENTS)
    assert etcd and apiserver and kcm and sched
    return Binaries(etcd, apiserver, kcm, sched, find("kubectl"))


def missing_binaries_reason(k8s_version: str = PINNED_K8S_VERSION) -> str:
    dirs = ", ".join(str(d) for d in _search_dirs(k8s_version))
    return (
        f"control plane binaries (Kubernetes {k8s_version}) not found in {dirs}: "
        "run scripts/build-controlplane.sh (or set KUBEBUILDER_ASSETS)"
    )


# --------------------------------------------------------------------------- processes


def _free_ports(n: int) -> list[int]:
    """*n* distinct free TCP ports on 127.0.0.1 (held open together, then released)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when we die (no orphans even on
    SIGKILL of the test runner). SIGKILL, not SIGTERM: a kube-apiserver whose etcd
    went away at the same moment hangs in graceful shutdown. Resolved before fork so
    the child only calls prctl.

    Caveat: Linux sends the signal when the *thread* that forked exits, so start the
    control plane from a thread that outlives it (the main thread, normally)."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return None
    try:
        prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sig = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sig, 0, 0, 0)

    return preexec


_PREEXEC = _parent_death_signal()


class _Process:
    """One component: its command line, log file and process (own process group)."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.log_path.parent / f"{self.name}.cmdline").write_text(" \\\n  ".join(self.argv) + "\n")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not them
                preexec_fn=_PREEXEC,
                close_fds=True,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ControlPlaneError(f"{self.name} exited with code {self.proc.returncode}")

    def stop(self, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(10)
        # Anything left in its process group (none expected) goes too.
        self._signal_group(proc, signal.SIGKILL)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def tail(self, lines: int = 30) -> str:
        try:
            data = self.log_path.read_bytes()[-64 * 1024 :]
        except OSError:
            return "(no log)"
        text = data.decode("utf-8", "replace").splitlines()[-lines:]
        return "\n".join(text)


# --------------------------------------------------------------------------- kubeconfig


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _kubeconfig(server: str, ca_pem: bytes, user: str, pair: KeyPair, name: str) -> str:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pair.cert_pem),
                    "client-key-data": _b64(pair.key_pem),
                },
            }
        ],
        "contexts": [{"name": f"{user}@{name}", "context": {"cluster": name, "user": user}}],
        "current-context": f"{user}@{name}",
        "preferences": {},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


# --------------------------------------------------------------------------- control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler on 127.0.0.1.

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``start()``
    returns once ``/readyz`` is ok, docs/rbac.yaml is applied and the ``default``
    ServiceAccount exists in ``default`` (so pods are accepted).
    """

    def __init__(
        self,
        binaries: Binaries | None = None,
        *,
        workdir: Path | None = None,
        node_monitor_grace_period: float = 20.0,
        startup_timeout: float = 180.0,
        stop_timeout: float = 15.0,
        rbac_manifest: Path | None = DEFAULT_RBAC_MANIFEST,
        keep_workdir: bool = False,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        verbosity: int = 1,
    ) -> None:
        bins = binaries if binaries is not None else find_binaries()
        if bins is None:
            raise ControlPlaneError(missing_binaries_reason())
        self.binaries = bins
        self._workdir_arg = workdir
        self.node_monitor_grace_period = node_monitor_grace_period
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.rbac_manifest = rbac_manifest
        self.keep_workdir = keep_workdir
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.verbosity = verbosity

        self.workdir: Path = Path()
        self._owns_workdir = False
        self._procs: dict[str, _Process] = {}
        self._ca: CertAuthority | None = None
        self._admin_ctx: ssl.SSLContext | None = None
        self.apiserver_port = 0
        self.etcd_port = 0
        self.started_at: float | None = None
        #: seconds from launching etcd until the default ServiceAccount existed
        self.startup_seconds: float | None = None
        #: seconds per start phase, e.g. {"etcd": .., "apiserver_ready": ..}
        self.timings: dict[str, float] = {}
        self._kubeconfigs: dict[tuple[str, tuple[str, ...]], Path] = {}

    # ---- public properties ----

    @property
    def bin_dir(self) -> Path:
        return self.binaries.bin_dir

    @property
    def url(self) -> str:
        """The apiserver's base URL, e.g. ``https://127.0.0.1:45123``."""
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def admin_kubeconfig_path(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def readonly_kubeconfig_path(self) -> Path:
        return self.workdir / "readonly.kubeconfig"

    def log_path(self, component: str) -> Path:
        return self.workdir / "logs" / f"{component}.log"

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self._procs.items() if p.pid is not None and p.alive()}

    # ---- lifecycle ----

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        if self._procs:
            raise ControlPlaneError("already started")
        try:
            self._start()
        except BaseException as exc:  # also KeyboardInterrupt: never leave orphans
            tails = self.log_tails()
            interrupted = isinstance(exc, KeyboardInterrupt)
            # Keep the full logs of a failed start (swept by a later start once this
            # process is gone); an interrupted start cleans up everything.
            keep, self.keep_workdir = self.keep_workdir, self.keep_workdir or not interrupted
            self.stop()
            self.keep_workdir = keep
            where = f"full logs in {self.workdir / 'logs'}"
            if isinstance(exc, ControlPlaneError):
                raise ControlPlaneError(f"{exc} ({where})\n\n{tails}") from exc
            if not interrupted:
                sys.stderr.write(f"control plane start failed ({where}); log tails:\n{tails}\n")
            raise
        return self

    def stop(self) -> None:
        """Stop every component (reverse order: SIGTERM, SIGKILL after a timeout)."""
        for name in reversed(list(self._procs)):
            with contextlib.suppress(Exception):
                self._procs[name].stop(self.stop_timeout)
        self._procs.clear()
        atexit.unregister(self.stop)
        if self._owns_workdir and not self.keep_workdir and self.workdir.name:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._owns_workdir = False

    def log_tails(self, lines: int = 25) -> str:
        out = []
        for name, proc in self._procs.items():
            out.append(f"----- {name} ({proc.log_path}) -----\n{proc.tail(lines)}")
        return "\n".join(out)

    def _start(self) -> None:
        t0 = time.monotonic()
        if self._workdir_arg is not None:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            _sweep_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
            self._owns_workdir = True
            (self.workdir / _OWNER_FILE).write_text(str(os.getpid()))
        atexit.register(self.stop)
        for sub in ("pki", "logs", "etcd-data", "kubeconfigs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "etcd-data").chmod(0o700)

        self.etcd_port, etcd_peer, self.apiserver_port, kcm_port, sched_port = _free_ports(5)
        self._write_pki()
        self.timings["pki"] = time.monotonic() - t0

        self._launch("etcd", self._etcd_args(etcd_peer))
        self._wait("etcd healthy", self._etcd_healthy, procs=("etcd",))
        self.timings["etcd"] = time.monotonic() - t0

        self._launch("kube-apiserver", self._apiserver_args())
        self._wait("kube-apiserver /readyz", self._apiserver_ready)
        self.timings["apiserver_ready"] = time.monotonic() - t0

        self._launch("kube-controller-manager", self._kcm_args(kcm_port))
        self._launch("kube-scheduler", self._scheduler_args(sched_port))
        if self.rbac_manifest is not None:
            self.apply_manifest(self.rbac_manifest)
        self._wait("default ServiceAccount in namespace default", self._default_sa_exists)
        self.timings["default_serviceaccount"] = time.monotonic() - t0
        self.started_at = time.time()
        self.startup_seconds = time.monotonic() - t0

    # ---- pki & kubeconfigs ----

    def _write_pki(self) -> None:
        ca = CertAuthority("kwatch-test-ca")
        self._ca = ca
        pki = self.pki_dir
        ca.pair.write(pki, "ca")
        ca.issue_server(
            "kube-apiserver",
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ["127.0.0.1", SERVICE_IP],
        ).write(pki, "apiserver")
        for comp in ("kube-controller-manager", "kube-scheduler"):
            ca.issue_server(comp, ["localhost"], ["127.0.0.1"]).write(pki, f"{comp}-serving")
        ca.issue_client("front-proxy-client").write(pki, "front-proxy-client")
        write_service_account_keys(pki)

        admin = ca.issue_client(ADMIN_USER, ["system:masters"])
        admin_crt, admin_key = admin.write(pki, "admin")
        self.admin_kubeconfig_path.write_text(self._kubeconfig_text(ADMIN_USER, admin))
        self.admin_kubeconfig_path.chmod(0o600)
        self.readonly_kubeconfig_path.write_text(
            self._kubeconfig_text(READONLY_USER, ca.issue_client(READONLY_USER))
        )
        self.readonly_kubeconfig_path.chmod(0o600)
        for user, stem in (
            ("system:kube-controller-manager", "kube-controller-manager"),
            ("system:kube-scheduler", "kube-scheduler"),
        ):
            path = self.workdir / "kubeconfigs" / f"{stem}.kubeconfig"
            path.write_text(self._kubeconfig_text(user, ca.issue_client(user)))
            path.chmod(0o600)

        ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
        ctx.load_cert_chain(str(admin_crt), str(admin_key))
        self._admin_ctx = ctx

    def _kubeconfig_text(self, user: str, pair: KeyPair) -> str:
        assert self._ca is not None
        return _kubeconfig(self.url, self._ca.cert_pem, user, pair, "kwatch-test")

    def kubeconfig_for(self, user: str, groups: Sequence[str] = ()) -> Path:
        """Write (once) a kubeconfig with a client certificate for *user* in *groups*."""
        if self._ca is None:
            raise ControlPlaneError("not started")
        key = (user, tuple(groups))
        if key not in self._kubeconfigs:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
            path = self.workdir / "kubeconfigs" / f"user-{safe}-{len(self._kubeconfigs)}.kubeconfig"
            path.write_text(self._kubeconfig_text(user, self._ca.issue_client(user, groups)))
            path.chmod(0o600)
            self._kubeconfigs[key] = path
        return self._kubeconfigs[key]

    def admin_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the CA and presents the admin client certificate."""
        if self._admin_ctx is None:
            raise ControlPlaneError("not started")
        return self._admin_ctx

    # ---- command lines ----

    def _args(self, component: str, base: list[str]) -> list[str]:
        return [str(self.binaries.path(component)), *base, *self.extra_args.get(component, [])]

    def _etcd_args(self, peer_port: int) -> list[str]:
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        return self._args(
            "etcd",
            [
                "--name=kwatch",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=kwatch={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",  # throw-away data: skip fsync, much faster
                "--snapshot-count=10000",
                "--log-level=warn",
            ],
        )

    def _apiserver_args(self) -> list[str]:
        pki = self.pki_dir
        return self._args(
            "kube-apiserver",
            [
                "--advertise-address=127.0.0.1",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The 'kubernetes' Service would get 127.0.0.1 as endpoint, which
                # validation rejects (loopback) every 10 s: keep it without endpoints.
                "--endpoint-reconciler-type=none",
                # Front proxy (aggregation) identity: unused, but configuring it keeps
                # kcm/scheduler from logging a missing requestheader CA every second.
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                "--allow-privileged=true",
                "--profiling=false",
                "--enable-priority-and-fairness=true",
                f"--v={self.verbosity}",
            ],
        )

    def _controller_common(self, component: str, port: int) -> list[str]:
        kc = self.workdir / "kubeconfigs" / f"{component}.kubeconfig"
        pki = self.pki_dir
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki / f'{component}-serving.crt'}",
            f"--tls-private-key-file={pki / f'{component}-serving.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--leader-elect=true",
            "--profiling=false",
            f"--v={self.verbosity}",
        ]

    def _kcm_args(self, port: int) -> list[str]:
        pki = self.pki_dir
        grace = max(1, round(self.node_monitor_grace_period))
        return self._args(
            "kube-controller-manager",
            [
                *self._controller_common("kube-controller-manager", port),
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--node-monitor-grace-period={grace}s",
                f"--node-monitor-period={max(1, min(5, grace // 4))}s",
            ],
        )

    def _scheduler_args(self, port: int) -> list[str]:
        return self._args("kube-scheduler", self._controller_common("kube-scheduler", port))

    # ---- launching and waiting ----

    def _launch(self, name: str, argv: list[str]) -> None:
        proc = _Process(name, argv, self.log_path(name))
        self._procs[name] = proc
        proc.start()

    def _wait(
        self,
        what: str,
        probe: Callable[[], bool],
        procs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else self.startup_timeout)
        delay = 0.05
        while True:
            for name in procs if procs is not None else list(self._procs):
                self._procs[name].check_alive()
            with contextlib.suppress(OSError, ValueError):
                if probe():
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _etcd_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.etcd_port}/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")

    def _apiserver_ready(self) -> bool:
        status, _ = self.request("GET", "/readyz", timeout=5)
        return status == 200

    def _default_sa_exists(self) -> bool:
        status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200

    # ---- HTTP (admin identity, stdlib only) ----

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """One request as the admin; returns (status, decoded JSON body or text)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(
                req, timeout=timeout, context=self.admin_ssl_context()
            ) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def apply_manifest(self, path: Path) -> None:
        """Server-side apply every document of a YAML manifest (cluster or namespaced)."""
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                self.apply(doc)

    def apply(self, obj: Mapping[str, Any]) -> Any:
        """Server-side apply one object as the admin (field manager ``kwatch-controlplane``)."""
        api_version: str = obj["apiVersion"]
        kind: str = obj["kind"]
        meta = obj["metadata"]
        plural = _plural(kind)
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        ns = meta.get("namespace")
        coll = f"{prefix}/namespaces/{ns}/{plural}" if ns else f"{prefix}/{plural}"
        name = urllib.parse.quote(meta["name"], safe="")
        status, resp = self.request(
            "PATCH",
            f"{coll}/{name}?fieldManager=kwatch-controlplane&force=true",
            obj,
            content_type="application/apply-patch+yaml",
        )
        if status >= 300:
            raise ControlPlaneError(f"apply {kind}/{meta['name']} failed: {status} {resp}")
        return resp


_WORKDIR_PREFIX: Final = "kwatch-cp-"
_OWNER_FILE: Final = "owner.pid"


def _sweep_stale_workdirs() -> None:
    """Remove temp dirs left by control planes whose owning process died without
    cleaning up (SIGKILL, power cut); their processes died with it (PDEATHSIG)."""
    for d in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        try:
            pid = int((d / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _plural(kind: str) -> str:
    low = kind.lower()
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y"):
        return low[:-1] + "ies"
    return low + "s"


# --------------------------------------------------------------------------- CLI


def _cmd_up(args: argparse.Namespace) -> int:
    from kwatch.testing.fakenodes import FakeNodes, ssl_context_from_kubeconfig

    bins = find_binaries()
    if bins is None:
        print(missing_binaries_reason(), file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else None
    cp = ControlPlane(
        bins,
        workdir=workdir,
        keep_workdir=args.keep,
        node_monitor_grace_period=args.node_monitor_grace_period,
    )
    print(f"starting control plane from {bins.bin_dir} ...", file=sys.stderr)
    with cp:
        out = Path(args.kubeconfig_out) if args.kubeconfig_out else None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cp.admin_kubeconfig_path, out)
            out.chmod(0o600)
        print(
            f"control plane ready in {cp.startup_seconds:.1f}s at {cp.url}\n"
            f"  admin kubeconfig:    {out or cp.admin_kubeconfig_path}\n"
            f"  readonly kubeconfig: {cp.readonly_kubeconfig_path}\n"
            f"  logs:                {cp.workdir / 'logs'}\n"
            f"  pids:                {cp.pids()}",
            file=sys.stderr,
        )
        import asyncio

        async def run() -> None:
            nodes = FakeNodes(
                cp.url,
                ssl_context_from_kubeconfig(cp.admin_kubeconfig_path),
                [f"{args.node_prefix}{i}" for i in range(args.nodes)],
                heartbeat=args.heartbeat,
            )
            async with nodes:
                if args.nodes:
                    await nodes.register()
                    await nodes.wait_schedulable(within=120)
                    print(f"{args.nodes} fake node(s) Ready and untainted", file=sys.stderr)
                print("press Ctrl-C to stop", file=sys.stderr)
                while True:
                    await nodes.heartbeat_once()
                    dead = [n for n in _COMPONENTS if n not in cp.pids()]
                    if dead:
                        raise ControlPlaneError(f"component(s) exited: {dead}\n{cp.log_tails()}")
                    await asyncio.sleep(args.heartbeat)

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
        print("stopping control plane ...", file=sys.stderr)
    return 0


def _cmd_bins(_args: argparse.Namespace) -> int:
    bins = find_binaries()
    if bins is None:
        print(missing_binaries_reason(), file=sys.stderr)
        return 1
    for name in (*_COMPONENTS, "kubectl"):
        path = bins.kubectl if name == "kubectl" else bins.path(name)
        print(f"{name:24} {path}")
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kwatch.testing.controlplane",
        description="Run a real local Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler) on 127.0.0.1.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start it and keep it up until Ctrl-C")
    up.add_argument("--nodes", type=int, default=0, help="fake Ready nodes to register")
    up.add_argument("--node-prefix", default="fake-node-")
    up.add_argument("--heartbeat", type=float, default=10.0, help="node heartbeat seconds")
    up.add_argument("--kubeconfig-out", help="copy the admin kubeconfig here")
    up.add_argument("--workdir", help="keep state here instead of a temp dir")
    up.add_argument("--keep", action="store_true", help="keep the temp dir on exit")
    up.add_argument("--node-monitor-grace-period", type=float, default=40.0)
    up.set_defaults(func=_cmd_up)
    bins = sub.add_parser("bins", help="show which binaries would be used")
    bins.set_defaults(func=_cmd_bins)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
