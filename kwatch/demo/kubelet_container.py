"""One simulated container: its runtime state machine, its app, its probes.

A `ContainerRunner` drives one container of a pod through instances (restarts):

    Waiting(ContainerCreating) → Running(startedAt) ─ app: starting → listening
        ├─ crash (kwatch.dev/crash-after-seconds): exit 1 → restart per restartPolicy,
        │    immediately the first time, then CrashLoopBackOff 10 s, 20 s, ... ≤ 5 min
        ├─ liveness/startup probe failures: killed like below, then restarted
        └─ stop (pod deleted): Killing → preStop (the app keeps serving) → SIGTERM (the app
             stops listening, exits after kwatch.dev/shutdown-seconds: 0 Completed) or
             SIGKILL when the grace period runs out (137 Error)

The app is what a client would see: `app` says whether a connection to the pod would
be accepted. Probes look at the app only (httpGet, tcpSocket, exec and grpc alike
succeed exactly when it listens). Every change the kubelet would report goes through
the pod's `sync_status()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Coroutine
from typing import Any, Protocol

from kwatch.core.events import JSON
from kwatch.core.kinds import POD
from kwatch.demo.events import reference
from kwatch.demo.kubelet_env import KubeletEnv
from kwatch.demo.kubelet_spec import (
    ANN_CRASH,
    ANN_INIT,
    ANN_PULL,
    ANN_SHUTDOWN,
    ANN_STARTUP,
    CREATE_SECONDS,
    DEFAULT_INIT,
    DEFAULT_SHUTDOWN,
    DEFAULT_STARTUP,
    MIN_SHUTDOWN_GRACE,
    ProbeKind,
    ProbeSpec,
    annotation_seconds,
    grace_period,
    prestop_seconds,
    probe_spec,
    restart_policy,
)
from kwatch.demo.kubelet_status import AppState, ContainerRecord


class PodHandle(Protocol):
    """What a container needs from its pod worker."""

    env: KubeletEnv
    pod: JSON

    @property
    def pod_ip(self) -> str: ...

    async def sync_status(self) -> None: ...


def _image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


class ContainerRunner:
    def __init__(self, pod: PodHandle, spec: JSON, record: ContainerRecord) -> None:
        self.pod = pod
        self.env = pod.env
        self.spec = spec
        self.rec = record
        self.app: AppState = "not-started"
        self.stopping = False  # the pod is being deleted: no more restarts
        self.started = asyncio.Event()  # set once started (gates the next init container)
        self._task: asyncio.Task[None] | None = None
        self._exit: asyncio.Future[tuple[int, str]] | None = None
        self._helpers: set[asyncio.Task[None]] = set()
        self._crash: asyncio.Task[None] | None = None
        self._kill: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._backoff = 0.0
        self._restart_without_backoff = False
        self._deadline = 0.0  # when stopping: SIGKILL time

    # -- public --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.rec.name

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"container-{self.name}")

    async def wait(self) -> None:
        """Until the container is done for good (completed, or stopped for deletion)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, deadline: float) -> None:
        """Stop for pod deletion; SIGKILL at `deadline` (after a preStop hook, at least
        MIN_SHUTDOWN_GRACE after SIGTERM, as the real kubelet)."""
        self.stopping = True
        self._deadline = deadline
        self._stop_requested.set()
        if self._running():
            self._stop_instance()
        await self.wait()

    def _stop_instance(self) -> None:
        if self._kill is None:
            grace = self._deadline - self.env.clock.now()
            self._kill = asyncio.create_task(
                self._terminate(grace, f"Stopping container {self.name}")
            )

    def kill_now(self) -> None:
        """The pod is gone from the API (force-deleted): the runtime removes everything."""
        self.stopping = True
        self._stop_requested.set()
        for task in [self._task, self._kill, self._crash, *self._helpers]:
            if task is not None:
                task.cancel()
        self.app = "exited"

    def resize(self, resources: JSON, *, restart: bool) -> None:
        """Actuate new resources; a RestartContainer resizePolicy restarts the container."""
        self.rec.resources = resources
        if restart and self._running() and self._kill is None:
            self._restart_without_backoff = True
            self._kill = asyncio.create_task(self._terminate(
                grace_period({"spec": self.pod.pod.get("spec", {})}),
                f"Container {self.name} resize requires restart",
            ))

    # -- the instance loop ---------------------------------------------------------------

    def _running(self) -> bool:
        return self._exit is not None and not self._exit.done()

    def _ref(self) -> JSON:
        field = "initContainers" if self.rec.kind != "regular" else "containers"
        return reference(self.pod.pod, POD, field_path=f"spec.{field}{{{self.name}}}")

    def _event(self, type_: str, reason: str, action: str, note: str) -> None:
        self.env.event(self._ref(), type_, reason, action, note)

    def _seconds(self, key: str, default: float | None) -> float | None:
        return annotation_seconds(self.pod.pod, key, self.name, default)

    async def _run(self) -> None:
        first = True
        while True:
            if not await self._create(first):
                return
            first = False
            self._exit = asyncio.get_running_loop().create_future()
            self._start_helpers()
            if self.stopping:
                self._stop_instance()  # deleted while the instance was being started
            code, reason = await self._exit
            ran_for = self.env.clock.now() - (self.rec.started_at or 0.0)
            await self._finish(code, reason)
            if self.stopping:
                return
            # A resize restart is no failure: no restartPolicy check, no back-off.
            resized, self._restart_without_backoff = self._restart_without_backoff, False
            if not resized and not self._should_restart(code):
                return
            self.rec.last_terminated = self.rec.terminated(self.env.clock)
            if not resized and not await self._back_off(ran_for):
                return
            self.rec.restart_count += 1

    def _should_restart(self, code: int) -> bool:
        if self.rec.kind == "sidecar":
            return True  # native sidecars always restart
        if self.rec.kind == "init":
            return False
        policy = restart_policy(self.pod.pod)
        return policy == "Always" or (policy == "OnFailure" and code != 0)

    async def _back_off(self, ran_for: float) -> bool:
        """CrashLoopBackOff between restarts; False if the pod is deleted meanwhile."""
        if ran_for >= 2 * self.env.backoff_max:
            self._backoff = 0.0  # it ran fine for long enough: forgive earlier crashes
        if self._backoff == 0.0:
            self._backoff = self.env.backoff_initial  # the first restart is immediate
            return True
        delay = self._backoff
        self._backoff = min(delay * 2, self.env.backoff_max)
        meta = self.pod.pod["metadata"]
        who = f"{meta['name']}_{meta['namespace']}({meta.get('uid', '')})"
        self.rec.state, self.rec.reason = "waiting", "CrashLoopBackOff"
        self.rec.message = f"back-off {delay:g}s restarting failed container={self.name} pod={who}"
        self._event("Warning", "BackOff", "BackOff",
                    f"Back-off restarting failed container {self.name} in pod {who}")
        await self.pod.sync_status()
        return not await self._wait_or_stop(delay)

    async def _create(self, first: bool) -> bool:
        """Pull, create and start an instance; False if the pod was deleted first."""
        await self.env.gate()
        image = str(self.spec.get("image", ""))
        pull = self._seconds(ANN_PULL, 0.0) or 0.0
        if first and pull > 0:
            self._event("Normal", "Pulling", "Pulling", f'Pulling image "{image}"')
            if await self._wait_or_stop(pull):
                return False
            self._event("Normal", "Pulled", "Pulled",
                        f'Successfully pulled image "{image}" in {pull:g}s '
                        f"({pull:g}s including waiting). Image size: 0 bytes.")
        else:
            self._event("Normal", "Pulled", "Pulled",
                        f'Container image "{image}" already present on machine')
        if await self._wait_or_stop(CREATE_SECONDS):
            return False
        await self.env.gate()
        now = self.env.clock.now()
        uid = self.pod.pod["metadata"].get("uid", "")
        seed = f"{uid}/{self.name}/{self.rec.restart_count}/{now}"
        self.rec.container_id = "containerd://" + hashlib.sha256(seed.encode()).hexdigest()
        self.rec.image_id = _image_id(image)
        self._event("Normal", "Created", "Created", f"Created container: {self.name}")
        self._event("Normal", "Started", "Started", f"Started container {self.name}")
        startup_probe = probe_spec(self.spec, "startup") if self.rec.kind != "init" else None
        self.rec.state, self.rec.reason, self.rec.message = "running", "", ""
        self.rec.started_at, self.rec.finished_at = now, None
        self.rec.started = startup_probe is None
        self.rec.ready = self.rec.started and self._ready_without_probe()
        self.app = "starting"
        if self.rec.started:
            self.started.set()
        await self.pod.sync_status()
        return True

    def _ready_without_probe(self) -> bool:
        # The lab-1 fact: with no readinessProbe a running container counts as Ready at
        # once, whether or not the app listens yet.
        return self.rec.kind != "init" and probe_spec(self.spec, "readiness") is None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
        return task

    def _start_helpers(self) -> None:
        if self.rec.kind == "init":
            self._spawn(self._complete_after(self._seconds(ANN_INIT, DEFAULT_INIT) or 0.0))
            return
        self._spawn(self._app_start(self._seconds(ANN_STARTUP, DEFAULT_STARTUP) or 0.0))
        crash = self._seconds(ANN_CRASH, None)
        if crash is not None:
            self._crash = self._spawn(self._crash_after(crash))
        startup = probe_spec(self.spec, "startup")
        if startup is not None:
            self._spawn(self._probe(startup))
        else:
            self._start_probes()

    def _start_probes(self) -> None:
        kinds: tuple[ProbeKind, ...] = ("readiness", "liveness")
        for kind in kinds:
            spec = probe_spec(self.spec, kind)
            if spec is not None:
                self._spawn(self._probe(spec))

    async def _finish(self, code: int, reason: str) -> None:
        for task in [*self._helpers, self._kill]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._kill = self._crash = None
        self.app = "exited"
        rec = self.rec
        rec.state, rec.exit_code, rec.reason, rec.message = "terminated", code, reason, ""
        rec.finished_at = self.env.clock.now()
        # A completed init container reports ready, like the real kubelet.
        rec.ready = rec.kind == "init" and code == 0
        rec.started = False
        await self.pod.sync_status()

    def _exited(self, code: int, reason: str) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result((code, reason))

    # -- helpers running beside an instance ----------------------------------------------

    async def _app_start(self, seconds: float) -> None:
        await self.env.clock.sleep(seconds)
        if self.app == "starting":
            self.app = "listening"

    async def _complete_after(self, seconds: float) -> None:
        await self.env.clock.sleep(seconds)
        self._exited(0, "Completed")

    async def _crash_after(self, seconds: float) -> None:
        await self.env.clock.sleep(seconds)
        self._exited(1, "Error")

    async def _terminate(self, grace: float, note: str) -> None:
        """Killing → preStop → SIGTERM → exit, or SIGKILL when the grace period is over."""
        self._event("Normal", "Killing", "Killing", note)
        remaining = max(0.0, grace)
        hook = prestop_seconds(self.spec)
        if hook is not None and remaining > 0:
            # The hook gets at most the grace period; the app serves all along.
            took = min(hook, remaining)
            if await self._sleep_unless_exited(took):
                return
            remaining -= took
        remaining = max(remaining, MIN_SHUTDOWN_GRACE)
        # SIGTERM: the app closes its listener at once and drains.
        if self._crash is not None:
            self._crash.cancel()
        self.app = "shutting-down"
        shutdown = self._seconds(ANN_SHUTDOWN, DEFAULT_SHUTDOWN) or 0.0
        if shutdown <= remaining:
            if not await self._sleep_unless_exited(shutdown):
                self._exited(0, "Completed")
        elif not await self._sleep_unless_exited(remaining):
            self._exited(137, "Error")  # SIGKILL

    async def _probe(self, spec: ProbeSpec) -> None:
        clock = self.env.clock
        await clock.sleep(spec.initial_delay)
        successes = failures = 0
        while True:
            if spec.kind != "readiness" and self.stopping:
                return  # only readiness keeps probing a terminating pod
            await self.env.gate()
            ok = self.app == "listening"
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if not ok and not self.stopping:
                self._event("Warning", "Unhealthy", "Probing", spec.failure(self.pod.pod_ip))
            if spec.kind == "readiness":
                if ok and not self.rec.ready and successes >= spec.success_threshold:
                    self.rec.ready = True
                    await self.pod.sync_status()
                elif not ok and self.rec.ready and failures >= spec.failure_threshold:
                    self.rec.ready = False
                    await self.pod.sync_status()
            elif ok and spec.kind == "startup":
                self.rec.started = True
                self.rec.ready = self._ready_without_probe()
                self.started.set()
                self._start_probes()
                await self.pod.sync_status()
                return
            elif failures >= spec.failure_threshold and self._kill is None:
                self._kill = asyncio.create_task(self._terminate(
                    grace_period({"spec": self.pod.pod.get("spec", {})}),
                    f"Container {self.name} failed {spec.kind} probe, will be restarted",
                ))
                return
            await clock.sleep(spec.period)

    # -- waiting -------------------------------------------------------------------------

    async def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep; True if the pod's deletion cut it short."""
        if self._stop_requested.is_set():
            return True
        sleeper = asyncio.ensure_future(self.env.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return self._stop_requested.is_set()

    async def _sleep_unless_exited(self, seconds: float) -> bool:
        """Sleep; True if the instance exited on its own meanwhile."""
        if self._exit is None or self._exit.done():
            return True
        sleeper: asyncio.Future[Any] = asyncio.ensure_future(self.env.clock.sleep(seconds))
        exit_: asyncio.Future[Any] = self._exit
        try:
            await asyncio.wait({sleeper, exit_}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        return self._exit.done()
