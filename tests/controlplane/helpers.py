"""Scenario runs on the real control plane, shared by the e2e and differential tests.

Every demo scenario is played on real kube-apiserver / kube-controller-manager /
kube-scheduler binaries with the demo's kubelet simulator as the nodes
(kwatch.testing.realcluster), while kwatch watches with the *read-only* kubeconfig.
The real binaries run in real time, so a scenario takes as long as its story (node
failure: three minutes). To stay within a few minutes of wall time the runs are done
once per pytest session, concurrently, on three tracks:

- track A, the session's control plane (the ``controlplane`` fixture): the scenarios
  that leave the nodes and the controller manager alone, all at once, each in its own
  namespace (named after it) with its own traffic simulator. kwatch watches them twice:
  in-process (WatchEngine + Pipeline) and as a subprocess
  (``python -m kwatch --kubeconfig RO -n … --headless -o jsonl``). The simulated nodes
  keep running after the batch for the live TUI test.
- track B, a control plane of its own: node-failure (it kills node-2, which would break
  everyone else's pods), with a short node-monitor-grace-period.
- track C, a control plane of its own: controller-failover (it SIGKILLs the leading
  kube-controller-manager and starts a second replica).

Meanwhile a subprocess plays every scenario on the embedded demo cluster for the
differential test (a process of its own: the demo is CPU-bound Python and must not
steal the simulated kubelets' event loop).

`runs(plane)` returns the session's `RealPlaneRuns` (started on first use); each test
module's session fixture calls `close_runs()` at the end of the session.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from kwatch.core.kinds import WATCHED_KINDS
from kwatch.core.pipeline import Pipeline
from kwatch.core.steps import Step
from kwatch.demo.realplane import RealWatch, play_scenario
from kwatch.demo.runner import RunResult
from kwatch.demo.scenarios import SCENARIOS
from kwatch.sources.kube import plan_targets
from kwatch.testing.controlplane import Binaries, ControlPlane
from kwatch.testing.realcluster import RealCluster

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]

#: Played together on the session's control plane (track A).
BATCH: tuple[str, ...] = (
    "create-deployment",
    "rolling-update",
    "startup-without-probe",
    "startup-with-probe",
    "shutdown-without-prestop",
    "shutdown-with-prestop",
    "shutdown-grace-too-short",
    "statefulset-ordering",
    "daemonset-ondelete",
    "daemonset-rollingupdate",
    "in-place-resize",
)
NODE_FAILURE = "node-failure"
FAILOVER = "controller-failover"
REAL_SCENARIOS: tuple[str, ...] = (*BATCH, NODE_FAILURE, FAILOVER)

# Track B: the node lifecycle controller's grace, and heartbeats well inside it (the
# session fixture's plane uses 20 s; the real default is 50 s — only the wait changes).
NODE_FAILURE_GRACE = 16.0
NODE_FAILURE_HEARTBEAT = 4.0
HEARTBEAT = 5.0
# Wall-clock bounds: a hung track fails its tests instead of hanging CI.
TRACK_TIMEOUT = 420.0
DEMO_SPEED = 5.0
DEMO_TIMEOUT = 480.0
HEADLESS_SYNC_TIMEOUT = 60.0


@dataclass
class Track:
    """What one control plane's runs produced."""

    name: str
    runs: dict[str, RunResult] = field(default_factory=dict)
    pipeline: Pipeline | None = None  # kwatch's in-process pipeline (its store, too)
    all_steps: list[Step] = field(default_factory=list)  # everything it derived
    headless: list[dict[str, Any]] = field(default_factory=list)  # subprocess jsonl
    headless_stderr: str = ""
    wall_seconds: float = 0.0
    health: list[tuple[str, str, str]] = field(default_factory=list)  # (key, state, reason)
    error: str = ""  # the track itself failed (start-up, a crash): every run fails
    logs: str = ""  # the control plane's log tails, for failure messages


# --------------------------------------------------------------------------- threads


class LoopThread:
    """An asyncio event loop in a thread of its own: sync code submits coroutines.

    The simulated kubelets of track A live here for the whole session, so tests that
    run in pytest-asyncio's per-test loops can use the nodes over HTTP."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        if not self._thread.is_alive():
            self.loop.close()


# --------------------------------------------------------------------------- the runs


class RealPlaneRuns:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.binaries: Binaries = plane.binaries
        self.track_a = Track("A: session control plane")
        self.track_b = Track("B: node-failure control plane")
        self.track_c = Track("C: controller-failover control plane")
        self.demo: dict[str, dict[str, Any]] = {}
        self.demo_error = ""
        self.cluster: RealCluster | None = None  # track A's, alive until close()
        self.loop = LoopThread("kwatch-track-a")
        self._a: concurrent.futures.Future[None] | None = None
        self._threads: list[threading.Thread] = []
        # What close() must interrupt when the session ends early (Ctrl-C, -x):
        self._isolated_tasks: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []
        self._demo_proc: subprocess.Popen[str] | None = None
        self._closing = threading.Event()

    # -- starting ----------------------------------------------------------------------

    def start(self) -> None:
        self._a = self.loop.submit(self._track_a())
        for target, name in ((self._track_b, "kwatch-track-b"),
                             (self._track_c, "kwatch-track-c"),
                             (self._demo_runs, "kwatch-demo-runs")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- waiting -----------------------------------------------------------------------

    def wait_real(self, name: str) -> tuple[Track, RunResult | None]:
        """Wait for the real run of scenario `name`; (its track, its result or None)."""
        if name in BATCH:
            assert self._a is not None
            with contextlib.suppress(concurrent.futures.TimeoutError, Exception):
                self._a.result(TRACK_TIMEOUT)
            track = self.track_a
        else:
            thread = self._threads[0 if name == NODE_FAILURE else 1]
            thread.join(TRACK_TIMEOUT)
            track = self.track_b if name == NODE_FAILURE else self.track_c
        return track, track.runs.get(name)

    def wait_demo(self) -> dict[str, dict[str, Any]]:
        self._threads[2].join(DEMO_TIMEOUT)
        return self.demo

    def wait_all(self) -> None:
        for name in REAL_SCENARIOS:
            self.wait_real(name)
        self.wait_demo()

    # -- track A: the batch ------------------------------------------------------------

    async def _track_a(self) -> None:
        track = self.track_a
        t0 = time.monotonic()
        try:
            cluster = RealCluster(self.plane, nodes=3, heartbeat_interval=HEARTBEAT)
            await cluster.start()
            self.cluster = cluster
            views = {name: await cluster.scenario_view(name) for name in BATCH}
            watch = RealWatch(cluster.readonly_kubeconfig_path, list(BATCH))
            track.pipeline = watch.pipeline
            await watch.start()
            headless = await HeadlessKwatch.start(cluster.readonly_kubeconfig_path, BATCH)
            try:
                results = await asyncio.gather(
                    *(play_scenario(SCENARIOS[n], views[n], watch) for n in BATCH),
                    return_exceptions=True)
            finally:
                track.headless, track.headless_stderr = await headless.stop()
                track.health = _health(watch)
                await watch.stop()
                track.all_steps = list(watch.steps)
            for name, result in zip(BATCH, results, strict=True):
                if isinstance(result, BaseException):
                    track.error += f"{name}: {result!r}\n"
                else:
                    track.runs[name] = result
        except Exception as e:
            track.error += f"track A failed: {e!r}\n"
            track.logs = self.plane.log_tails()
        finally:
            track.wall_seconds = time.monotonic() - t0

    # -- tracks B and C: control planes of their own -----------------------------------

    def _track_b(self) -> None:
        self._isolated(self.track_b, NODE_FAILURE, grace=NODE_FAILURE_GRACE,
                       heartbeat=NODE_FAILURE_HEARTBEAT, extra_kcm=0)

    def _track_c(self) -> None:
        self._isolated(self.track_c, FAILOVER, grace=20.0, heartbeat=HEARTBEAT, extra_kcm=1)

    def _isolated(self, track: Track, name: str, *, grace: float, heartbeat: float,
                  extra_kcm: int) -> None:
        # This thread starts *and* stops its control plane: the binaries die with the
        # thread that forked them (PR_SET_PDEATHSIG), so it must outlive them.
        t0 = time.monotonic()
        plane = ControlPlane(self.binaries, node_monitor_grace_period=grace)
        loop = asyncio.new_event_loop()
        try:
            if self._closing.is_set():
                raise RuntimeError("the session ended before this track started")
            with plane:
                task = loop.create_task(asyncio.wait_for(
                    self._play_alone(plane, track, name, heartbeat, extra_kcm), TRACK_TIMEOUT))
                self._isolated_tasks.append((loop, task))
                if self._closing.is_set():  # close() ran while the plane was starting
                    task.cancel()
                loop.run_until_complete(task)
        except BaseException as e:
            track.error += f"{track.name} failed: {e!r}\n"
            with contextlib.suppress(Exception):
                track.logs = plane.log_tails()
        finally:
            loop.close()
            track.wall_seconds = time.monotonic() - t0

    async def _play_alone(self, plane: ControlPlane, track: Track, name: str,
                          heartbeat: float, extra_kcm: int) -> None:
        async with RealCluster(plane, nodes=3, heartbeat_interval=heartbeat,
                               extra_controller_managers=extra_kcm) as cluster:
            view = await cluster.scenario_view(name)
            watch = RealWatch(cluster.readonly_kubeconfig_path, [name])
            track.pipeline = watch.pipeline
            await watch.start()
            try:
                track.runs[name] = await play_scenario(SCENARIOS[name], view, watch)
            finally:
                track.health = _health(watch)
                await watch.stop()
                track.all_steps = list(watch.steps)

    # -- the demo side -----------------------------------------------------------------

    def _demo_runs(self) -> None:
        out = Path(self.plane.workdir) / "demo-runs.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "demo-runs",
               "--speed", str(DEMO_SPEED), "--out", str(out), *SCENARIOS]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        try:
            with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, env=env) as proc:
                self._demo_proc = proc
                try:
                    _, err = proc.communicate(timeout=DEMO_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
                    self.demo_error = f"demo runs took more than {DEMO_TIMEOUT:g} s"
            if proc.returncode != 0:
                self.demo_error += f"demo runs exited {proc.returncode}: {err[-3000:]}"
            self.demo = json.loads(out.read_text()) if out.exists() else {}
        except (OSError, ValueError) as e:
            self.demo_error = f"demo runs failed: {e!r}"

    # -- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything; runs still going (the session ended early) are cancelled,
        their clusters and control planes torn down."""
        self._closing.set()
        if self._a is not None and not self._a.done():
            self._a.cancel()
        for loop, task in list(self._isolated_tasks):
            with contextlib.suppress(RuntimeError):  # its loop already finished
                loop.call_soon_threadsafe(task.cancel)
        if self._demo_proc is not None and self._demo_proc.poll() is None:
            self._demo_proc.kill()
        for thread in self._threads:
            thread.join(TRACK_TIMEOUT)
        if self._a is not None:
            with contextlib.suppress(BaseException):
                self._a.result(TRACK_TIMEOUT)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.loop.submit(self.cluster.stop()).result(60)
            self.cluster = None
        self.loop.stop()

    def timings(self) -> dict[str, float]:
        return {t.name: round(t.wall_seconds, 1)
                for t in (self.track_a, self.track_b, self.track_c)}


_RUNS: RealPlaneRuns | None = None
_RUNS_LOCK = threading.Lock()


def runs(plane: ControlPlane) -> RealPlaneRuns:
    """The session's real-plane runs, started on first use (shared by all modules)."""
    global _RUNS
    with _RUNS_LOCK:
        if _RUNS is None:
            _RUNS = RealPlaneRuns(plane)
            _RUNS.start()
        return _RUNS


def close_runs() -> None:
    global _RUNS
    with _RUNS_LOCK:
        if _RUNS is not None:
            _RUNS.close()
            _RUNS = None


def session_runs(plane: ControlPlane) -> Iterator[RealPlaneRuns]:
    """Body of each test module's session fixture: the shared runs, closed at the end
    of the session (by whichever module's fixture is finalized first)."""
    shared = runs(plane)
    try:
        yield shared
    finally:
        close_runs()


def run_of(shared: RealPlaneRuns, name: str) -> RunResult:
    track, result = shared.wait_real(name)
    return require(track, result, name)


def _health(watch: RealWatch) -> list[tuple[str, str, str]]:
    return [(h.key, h.state, h.reason) for h in watch.health()]


def require(track: Track, result: RunResult | None, name: str) -> RunResult:
    """The run, or a failure that says why there is none (with the logs)."""
    if result is None:
        raise AssertionError(f"no real-plane run of {name}: {track.error or 'missing'}\n"
                             f"{track.logs}")
    return result


def failed_expectations(result: RunResult) -> list[str]:
    return [f"{e.description}: {e.problem}" for e in result.expectations if not e.ok]


# --------------------------------------------------------------------------- headless


class HeadlessKwatch:
    """``python -m kwatch --kubeconfig RO -n NS,… --headless -o jsonl`` as a subprocess,
    exactly as a user runs it; stopped with SIGTERM (it exits cleanly on it)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())
        self.synced = asyncio.Event()
        self._need = 0

    @classmethod
    async def start(cls, kubeconfig: str, namespaces: Sequence[str]) -> HeadlessKwatch:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kwatch", "--kubeconfig", kubeconfig,
            "-n", ",".join(namespaces), "--headless", "-o", "jsonl", "--duration", "900",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO))
        self = cls(proc)
        # Steps are only narrated after each view's first list: wait for every Synced.
        self._need = len(plan_targets(WATCHED_KINDS, list(namespaces), None))
        try:
            await asyncio.wait_for(self.synced.wait(), HEADLESS_SYNC_TIMEOUT)
        except TimeoutError:
            _, err = await self.stop()
            raise RuntimeError(f"headless kwatch did not sync: {err[-2000:]}") from None
        return self

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        synced = 0
        async for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                line = orjson.loads(raw)
                self.lines.append(line)
                if line.get("step") == "Synced":
                    synced += 1
                    if self._need and synced >= self._need:
                        self.synced.set()

    async def stop(self) -> tuple[list[dict[str, Any]], str]:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
        err = b""
        if self.proc.stderr is not None:
            err = await self.proc.stderr.read()
        return self.lines, err.decode(errors="replace")


# --------------------------------------------------------------------------- step queries


def steps_of(steps: Iterable[Step], *, kind: str | None = None, name: str | None = None,
             step: str | None = None, prefix: str | None = None) -> list[Step]:
    return [s for s in steps
            if (kind is None or s.kind == kind) and (name is None or s.name == name)
            and (step is None or s.step == step)
            and (prefix is None or s.name.startswith(prefix))]


def names_in_order(steps: Iterable[Step]) -> list[str]:
    return [s.step for s in steps]


def endpoint_states(steps: Iterable[Step], pod: str) -> list[tuple[bool, bool, bool] | None]:
    """The (ready, serving, terminating) states a pod's endpoint went through, in order
    (None once it was removed), from kwatch's endpoint steps."""
    out: list[tuple[bool, bool, bool] | None] = []
    for s in steps:
        if s.kind != "Pod" or s.name != pod:
            continue
        if s.step == "EndpointAdded":
            d: Mapping[str, Any] = s.details
        elif s.step == "EndpointConditionChanged":
            d = s.details["to"]
        elif s.step == "EndpointRemoved":
            out.append(None)
            continue
        else:
            continue
        out.append((bool(d["ready"]), bool(d["serving"]), bool(d["terminating"])))
    return out


def without_brief_tail(states: list[tuple[bool, bool, bool] | None],
                       ) -> list[tuple[bool, bool, bool] | None]:
    """`states` without a (not serving, terminating) state right before the removal.

    That state only lasts from the pod's last not-Ready status to its deletion by the
    kubelet, moments later; the real endpointslice controller publishes a Service as
    it is when its worker syncs it, so it may never show (see test_differential)."""
    out = list(states)
    for i in range(len(out) - 1):
        if out[i] == (False, False, True) and out[i + 1] is None:
            del out[i]
            break
    return out


# --------------------------------------------------------------------------- demo runs


async def _demo_run(name: str, speed: float) -> dict[str, Any]:
    from kwatch.demo.runner import run_scenario

    t0 = time.monotonic()
    try:
        result = await asyncio.wait_for(
            run_scenario(SCENARIOS[name], speed=speed, nodes=3, out=None), DEMO_TIMEOUT)
    except Exception as e:
        return {"error": repr(e), "steps": [], "expectations": []}
    return {
        "error": "",
        "steps": [s.to_json() for s in result.steps],
        "expectations": [e.to_json() for e in result.expectations],
        "wall_seconds": round(time.monotonic() - t0, 1),
    }


def _demo_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="helpers.py demo-runs")
    p.add_argument("names", nargs="+")
    p.add_argument("--speed", type=float, default=DEMO_SPEED)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    results = {name: asyncio.run(_demo_run(name, args.speed)) for name in args.names}
    Path(args.out).write_bytes(orjson.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["demo-runs"]:
        sys.exit(_demo_main(sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} demo-runs NAME... --out FILE")


# --------------------------------------------------------------------------- normalizing


StepJSON = Mapping[str, Any]
Lane = tuple[str, ...]

#: kwatch's own bookkeeping, not a step of the cluster.
BOOKKEEPING = frozenset({"Synced", "Relisted"})
ENDPOINT_STEPS = frozenset({"EndpointAdded", "EndpointConditionChanged", "EndpointRemoved"})
_POD_SUFFIX = re.compile(r"^(?P<base>.+)-[a-z0-9]{5}$")
_ORDINAL = re.compile(r"^(?P<base>.+)-(?P<n>\d+)$")


#: Steps of one object that different causes drive, each a lane of its own (the rest
#: of an object's steps are its "life"). A Deployment's Available condition follows the
#: count of available pods, its Progressing condition the rollout: when both change in
#: the same status update kwatch emits them in a fixed order, in two updates in the
#: order the pods happened to get Ready — so only each one's own sequence is causal.
LANE_OF_STEP: Mapping[str, str] = {
    **dict.fromkeys(("DeploymentCreated", "DeploymentSpecChanged", "DeploymentScaled",
                     "DeploymentDeleted"), "spec"),
    **dict.fromkeys(("RolloutProgressing", "RolloutComplete", "RolloutStuck",
                     "RolloutPaused", "RolloutResumed"), "progress"),
    **dict.fromkeys(("DeploymentAvailable", "DeploymentUnavailable"), "availability"),
    **dict.fromkeys(("DaemonSetRolloutComplete", "StatefulSetRolloutComplete"), "rollout"),
    **dict.fromkeys(ENDPOINT_STEPS, "endpoint"),
    **dict.fromkeys(("NodeReady", "NodeNotReady"), "conditions"),
}


def lane_of(s: StepJSON) -> str:
    if s["step"] in ("NodeTainted", "NodeUntainted"):
        # The node lifecycle controller and an operator (kubectl taint) act on their own
        # schedules: their taint changes interleave by chance.
        return f"taints by {s['actor']}"
    return LANE_OF_STEP.get(s["step"], "life")


def _conds(d: Mapping[str, Any]) -> str:
    """An endpoint's conditions as three letters: R/S/T when true, '-' when false."""
    return "".join(flag if d.get(key) else "-"
                   for flag, key in (("R", "ready"), ("S", "serving"), ("T", "terminating")))


@dataclass
class Normalized:
    """One run's steps, normalized for comparison (see test_differential.py)."""

    objects: dict[str, dict[str, Lane]]  # object placeholder → lane name → tokens
    groups: dict[str, list[dict[str, Lane]]]  # cattle group → each member's lanes
    warnings: dict[str, set[str]]  # object or group → Warning Event reasons


class Normalizer:
    """Turns a scenario's steps into per-object lanes of tokens.

    - Names the scenario chose (Deployment web, StatefulSet pods db-0, nodes) stay.
    - Generated names become placeholders: a ReplicaSet `web-<hash>` becomes
      `ReplicaSet web/rev<N>` (its revision); its pods are *cattle*: members of the group
      `pods of ReplicaSet web/rev<N>` with no identity of their own. DaemonSet pods are
      grouped per (DaemonSet, node).
    - pod-template-hash values become H1, H2 … by order of appearance.
    - Times are dropped; so are details that only carry generated names (slice names,
      Event names), addresses and measured durations.
    - Each object's steps are split into lanes by what causes them (`lane_of`): the
      pod's own life (controllers, scheduler, kubelet) and its endpoint as the
      endpointslice controller publishes it; a Deployment's spec, rollout progress and
      availability; a Node's conditions and each actor's taints. Within a lane the
      order is causal and kept; across lanes it is a race and is not compared.
    """

    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}
        self.rs: dict[str, str] = {}  # ReplicaSet name → placeholder
        self.pod_group: dict[str, str] = {}  # pod name → its group (cattle) or ""
        self.pod_node: dict[str, str] = {}

    def hash(self, value: object) -> str:
        text = str(value or "")
        if not text:
            return ""
        return self.hashes.setdefault(text, f"H{len(self.hashes) + 1}")

    # -- names ---------------------------------------------------------------------------

    def learn(self, steps: Sequence[StepJSON]) -> None:
        for s in steps:
            d = s["details"]
            if s["step"] == "ReplicaSetCreated":
                owner = str(d.get("owner") or "").split("/", 1)[-1] or "?"
                self.rs.setdefault(s["name"], f"{owner}/rev{d.get('revision') or '?'}")
                self.hash(d.get("hash"))
            elif s["step"] == "PodCreated":
                owner_kind, _, owner = str(d.get("owner") or "").partition("/")
                self.hash(d.get("hash"))
                if owner_kind == "ReplicaSet":
                    self.pod_group[s["name"]] = f"pods of ReplicaSet {self.rs_name(owner)}"
                elif owner_kind == "DaemonSet":
                    self.pod_group[s["name"]] = f"pods of DaemonSet {owner}"
                else:
                    self.pod_group[s["name"]] = ""
            elif s["step"] == "PodScheduled":
                self.pod_node[s["name"]] = str(d.get("node") or "")

    def rs_name(self, name: str) -> str:
        if name in self.rs:
            return self.rs[name]
        m = _POD_SUFFIX.match(name) or re.match(r"^(?P<base>.+)-[a-z0-9]{8,10}$", name)
        return f"{m['base']}/rev?" if m else name

    def group_of(self, s: StepJSON) -> str:
        """The cattle group of a pod step ("" for pods with an identity of their own)."""
        if s["kind"] != "Pod":
            return ""
        name = s["name"]
        group = self.pod_group.get(name)
        if group is None:  # created before the watch, or a name we can only guess from
            m = _POD_SUFFIX.match(name)
            group = f"pods of {m['base']}" if m and not _ORDINAL.match(name) else ""
        if group.startswith("pods of DaemonSet"):
            node = self.pod_node.get(name) or str(s["details"].get("node") or "?")
            group = f"{group} on {node}"
        return group

    def object_of(self, s: StepJSON) -> str:
        if s["kind"] == "ReplicaSet":
            return f"ReplicaSet {self.rs_name(s['name'])}"
        return f"{s['kind']} {s['name']}"

    # -- tokens --------------------------------------------------------------------------

    def token(self, s: StepJSON) -> str:
        d: Mapping[str, Any] = s["details"]
        step, actor = s["step"], s["actor"]
        extra = ""
        if step in ("ReplicaSetScaled", "DeploymentScaled", "StatefulSetScaled"):
            extra = f"{d.get('from')}->{d.get('to')}"
        elif step == "ReplicaSetCreated":
            extra = f"replicas={d.get('replicas')}"
        elif step in ("DeploymentSpecChanged", "StatefulSetUpdated", "DaemonSetUpdated"):
            extra = ",".join(d.get("changed") or ())
        elif step in ("RolloutProgressing", "RolloutComplete", "RolloutStuck",
                      "DeploymentAvailable", "DeploymentUnavailable"):
            extra = str(d.get("reason") or "")
        elif step == "PodScheduled" and self.group_of(s).startswith("pods of DaemonSet"):
            extra = str(d.get("node") or "")
        elif step in ("ContainerStarted", "ContainerRestarted"):
            extra = f"{d.get('container')}#{d.get('restarts', d.get('count'))}"
        elif step == "ContainerTerminated":
            extra = f"{d.get('container')} exit={d.get('exit_code')} {d.get('reason') or ''}"
        elif step == "PodNotReady":
            extra = "terminating" if d.get("terminating") else ""
        elif step == "DeletionRequested":
            extra = (f"grace={d.get('grace_s')} prestop={d.get('prestop')} "
                     f"{d.get('disruption') or ''}").strip()
        elif step in ("PodEvicted", "PodFailed", "PodSucceeded"):
            extra = str(d.get("reason") or "")
        elif step == "PodGone":
            extra = str(d.get("phase") or "")
        elif step == "EndpointAdded":
            extra = _conds(d)
        elif step == "EndpointConditionChanged":
            extra = f"{_conds(d.get('from') or {})}->{_conds(d.get('to') or {})}"
        elif step == "EndpointRemoved":
            extra = f"last={_conds(d.get('last') or {})}"
        elif step in ("NodeTainted", "NodeUntainted"):
            extra = f"{d.get('key')}:{d.get('effect')}"
        elif step == "NodeNotReady":
            extra = str(d.get("status") or "")
        elif step == "LeaderChanged":
            extra = f"transitions={d.get('transitions')}"
        elif step == "PodResized":
            extra = str(d.get("container") or "")
        elif step == "ResizeStatusChanged":
            extra = f"{d.get('from')}->{d.get('to')}"
        elif step in ("DaemonSetCreated", "StatefulSetCreated", "DeploymentCreated"):
            extra = str(d.get("update_strategy") or d.get("strategy") or "")
        return f"{step}[{actor}]" + (f" {extra}" if extra else "")

    # -- the whole run -------------------------------------------------------------------

    def normalize(self, steps: Sequence[StepJSON]) -> Normalized:
        self.learn(steps)
        objects: dict[str, dict[str, list[str]]] = {}
        members: dict[str, dict[str, dict[str, list[str]]]] = {}
        warnings: dict[str, set[str]] = {}
        for s in steps:
            if s["step"] in BOOKKEEPING:
                continue
            group = self.group_of(s)
            who = group or self.object_of(s)
            if s["step"] == "WarningEvent":
                warnings.setdefault(who, set()).add(str(s["details"].get("reason") or ""))
                continue
            lane = lane_of(s)
            if group:
                lanes = members.setdefault(group, {}).setdefault(s["name"], {})
            else:
                lanes = objects.setdefault(who, {})
            lanes.setdefault(lane, []).append(self.token(s))
        return Normalized(
            objects={o: {k: tuple(v) for k, v in lanes.items()} for o, lanes in objects.items()},
            groups={g: [{k: tuple(v) for k, v in lanes.items()} for lanes in m.values()]
                    for g, m in members.items()},
            warnings=warnings,
        )


def normalize(steps: Sequence[StepJSON]) -> Normalized:
    return Normalizer().normalize(steps)


# --------------------------------------------------------------------------- comparing


Rewrite = Callable[[Lane], Lane]


@dataclass(frozen=True)
class Equivalence:
    """An accepted difference: `rewrite` is applied on both sides, before comparing, to
    the lanes named `lane` ("" for all) of objects and groups whose name starts with
    `where`."""

    why: str
    where: str
    lane: str
    rewrite: Rewrite
    scenarios: frozenset[str] = frozenset()  # empty: every scenario

    def applies(self, scenario: str, owner: str, lane: str) -> bool:
        return ((not self.scenarios or scenario in self.scenarios)
                and owner.startswith(self.where) and (not self.lane or lane == self.lane))


def substitute(pattern: str, canonical: str) -> Rewrite:
    """A rewrite of each token matching `pattern` (re.sub)."""
    compiled = re.compile(pattern)

    def rewrite(tokens: Lane) -> Lane:
        return tuple(compiled.sub(canonical, t) for t in tokens)

    return rewrite


def canonicalize(n: Normalized, rules: Sequence[Equivalence], scenario: str) -> Normalized:
    def lanes(owner: str, m: Mapping[str, Lane]) -> dict[str, Lane]:
        out = dict(m)
        for name, tokens in m.items():
            for r in rules:
                if r.applies(scenario, owner, name):
                    tokens = r.rewrite(tokens)
            out[name] = tokens
        return out

    return Normalized(
        objects={o: lanes(o, m) for o, m in n.objects.items()},
        groups={g: [lanes(g, m) for m in members] for g, members in n.groups.items()},
        warnings=n.warnings,
    )


def _excerpt(real: Lane, demo: Lane, context: int = 2) -> str:
    """The two lanes around their first difference."""
    i = next((k for k, (a, b) in enumerate(zip(real, demo, strict=False)) if a != b),
             min(len(real), len(demo)))
    lo = max(0, i - context)
    return (f"from step {lo + 1}:\n      real: {list(real[lo:i + context + 1])}\n"
            f"      demo: {list(demo[lo:i + context + 1])}")


def differences(real: Normalized, demo: Normalized) -> list[str]:
    """Every way the demo's lanes differ from the real ones (empty: they match)."""
    out: list[str] = []
    for obj in sorted(set(real.objects) | set(demo.objects)):
        r, d = real.objects.get(obj), demo.objects.get(obj)
        if r is None or d is None:
            out.append(f"{obj}: only on the {'demo' if r is None else 'real'} plane "
                       f"({(d or r or {}).get('life', ())[:3]} …)")
            continue
        for lane in sorted(set(r) | set(d)):
            if r.get(lane, ()) != d.get(lane, ()):
                out.append(f"{obj} [{lane}] {_excerpt(r.get(lane, ()), d.get(lane, ()))}")
    for group in sorted(set(real.groups) | set(demo.groups)):
        rm = _multiset(real.groups.get(group, []))
        dm = _multiset(demo.groups.get(group, []))
        if rm == dm:
            continue
        lines = [f"{group}: the members' lanes differ"]
        for key, n in sorted((rm - dm).items()):
            lines.append(f"    real only (x{n}): {dict(key)}")
        for key, n in sorted((dm - rm).items()):
            lines.append(f"    demo only (x{n}): {dict(key)}")
        out.append("\n".join(lines))
    for who in sorted(set(real.warnings) | set(demo.warnings)):
        rw, dw = real.warnings.get(who, set()), demo.warnings.get(who, set())
        if rw != dw:
            out.append(f"{who}: Warning Events real {sorted(rw)} vs demo {sorted(dw)}")
    return out


def _multiset(members: Sequence[Mapping[str, Lane]]) -> Counter[tuple[tuple[str, Lane], ...]]:
    return Counter(tuple(sorted(m.items())) for m in members)
