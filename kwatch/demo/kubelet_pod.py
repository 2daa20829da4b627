"""One pod on a simulated node: from admission to the final DELETE (the pod worker).

Start-up, in the order the real kubelet reports it through ``pods/{name}/status``:

1. Pending: hostIP, startTime, containers Waiting(ContainerCreating);
2. sandbox ready: podIP (from the node's podCIDR), PodReadyToStartContainers=True;
3. init containers one by one (a native sidecar only needs to have *started*),
   then Initialized=True;
4. the regular containers, each on its own `ContainerRunner`.

Deletion (the API server set ``deletionTimestamp``): every regular container is stopped in
parallel (preStop, SIGTERM, SIGKILL at the deadline), then sidecars in reverse order;
the terminal status (phase Succeeded/Failed, containers terminated, Ready=False) is
written, and only then the pod is deleted with ``gracePeriodSeconds=0`` and a uid
precondition — exactly what makes the API object disappear on a real cluster.

In-place resize: a change of ``spec.containers[].resources`` is allocated
(``allocatedResources``, PodResizeInProgress) and actuated (``resources``) a moment
later, without restart unless the resizePolicy says RestartContainer; a request beyond
the node's allocatable gets PodResizePending=Infeasible (since v1.36 the API server's
PodResizeValidator refuses those first, but a kubelet does not trust that).

Status writes are JSON merge patches carrying the full lists and the resourceVersion the
status was computed from, so another writer's change (a condition, a readiness gate)
is never lost: on 409 the worker re-reads the pod and recomputes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

from kwatch.core.events import JSON
from kwatch.core.kinds import POD
from kwatch.demo.client import ApiError
from kwatch.demo.clock import parse_time
from kwatch.demo.kubelet_container import ContainerRunner
from kwatch.demo.kubelet_env import KubeletEnv
from kwatch.demo.kubelet_spec import (
    SANDBOX_SECONDS,
    container_resources,
    grace_period,
    infeasible_resources,
    is_sidecar,
    resize_needs_restart,
)
from kwatch.demo.kubelet_status import (
    KUBELET_CONDITIONS,
    AppState,
    ContainerKind,
    ContainerRecord,
    PodRecord,
    build_status,
)

log = logging.getLogger(__name__)

# Simulated latencies of an in-place resize: the kubelet's next sync, then the runtime
# updating cgroups.
RESIZE_ALLOCATE_SECONDS = 0.2
RESIZE_ACTUATE_SECONDS = 1.0


def _rv(pod: JSON) -> int | None:
    raw = str(pod.get("metadata", {}).get("resourceVersion") or "")
    return int(raw) if raw.isdigit() else None


def _essence(status: JSON) -> tuple[Any, ...]:
    """What must match between the API and the kubelet, however the server formats it."""
    conds = sorted(
        (str(c.get("type")), str(c.get("status")))
        for c in status.get("conditions") or []
        if c.get("type") in KUBELET_CONDITIONS
    )
    containers = tuple(
        (c.get("name"), tuple(sorted(c.get("state") or {})), c.get("ready"),
         c.get("restartCount"), c.get("started"))
        for c in [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]
    )
    return status.get("phase"), tuple(conds), containers, status.get("podIP")


def _record(container: JSON, *, init: bool) -> ContainerRecord:
    resources = container_resources(container)
    kind: ContainerKind = (
        ("sidecar" if is_sidecar(container) else "init") if init else "regular"
    )
    return ContainerRecord(
        name=str(container.get("name", "")),
        image=str(container.get("image", "")),
        kind=kind,
        resources=resources,
        allocated=resources,
    )


class PodWorker:
    """Runs one pod bound to this node. `start()`; feed it `update()` / `removed()`."""

    def __init__(self, env: KubeletEnv, pod: JSON) -> None:
        self.env = env
        self.pod = pod
        meta = pod["metadata"]
        self.uid = str(meta.get("uid", ""))
        self.namespace = str(meta.get("namespace", ""))
        self.name = str(meta.get("name", ""))
        spec = pod.get("spec") or {}
        self.init_runners = [ContainerRunner(self, c, _record(c, init=True))
                             for c in spec.get("initContainers") or []]
        self.runners = [ContainerRunner(self, c, _record(c, init=False))
                        for c in spec.get("containers") or []]
        self.record = PodRecord(
            host_ip=env.host_ip,
            init=[r.rec for r in self.init_runners],
            containers=[r.rec for r in self.runners],
            host_network=bool(spec.get("hostNetwork")),
        )
        self.gone = False  # the API object no longer exists
        # Finished before this kubelet saw it: its status is history, never rewritten.
        self.finished_before = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        self._status_lock = asyncio.Lock()
        self._last_written: JSON | None = None
        self._lifecycle: asyncio.Task[None] | None = None
        self._termination: asyncio.Task[None] | None = None
        self._resize: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the kubelet and the traffic simulator ask ----------------------------------

    @property
    def pod_ip(self) -> str:
        return self.record.pod_ip or ""

    @property
    def app_state(self) -> AppState:
        """The pod's app is its first regular container."""
        if self.gone or not self.runners:
            return "exited" if self.gone else "not-started"
        return self.runners[0].app

    @property
    def path(self) -> str:
        return f"{POD.collection_path(self.namespace)}/{self.name}"

    # -- driving -------------------------------------------------------------------------

    def start(self) -> None:
        self._lifecycle = self._spawn(self._run(), "lifecycle")
        if self.pod["metadata"].get("deletionTimestamp"):
            self.update(self.pod)

    def update(self, pod: JSON) -> None:
        """A newer version of the pod arrived (watch)."""
        if self.gone:
            return
        self._adopt(pod)
        if self.pod["metadata"].get("deletionTimestamp"):
            if self._termination is None:
                self._termination = self._spawn(self._terminate(), "terminate")
            return
        if self.finished_before:
            return
        self._check_resize()
        if self._lifecycle is not None and self._differs(build_status(self.pod, self.record,
                                                                      self.env.clock)):
            # Someone else changed what the kubelet owns (or a readiness gate): re-assert.
            self._spawn(self.sync_status(), "resync")

    def removed(self) -> None:
        """The API object is gone (deleted by us, or force-deleted): tear down at once."""
        self.gone = True
        self._cancel_all()
        for runner in [*self.runners, *self.init_runners]:
            runner.kill_now()
        if not self.record.host_network:
            self.env.ips.release(self.record.pod_ip)

    async def shutdown(self) -> None:
        """The kubelet stops: drop the simulation without touching the API."""
        self._cancel_all()
        for runner in [*self.runners, *self.init_runners]:
            runner.kill_now()
        tasks = [r.task for r in [*self.runners, *self.init_runners] if r.task is not None]
        for task in [*tasks, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"pod-{self.namespace}/{self.name}-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _adopt(self, pod: JSON) -> None:
        new, old = _rv(pod), _rv(self.pod)
        if new is None or old is None or new >= old:
            self.pod = pod

    # -- lifecycle -----------------------------------------------------------------------

    async def _run(self) -> None:
        clock = self.env.clock
        status = self.pod.get("status") or {}
        if self.finished_before:
            return
        self.record.start_time = parse_time(status.get("startTime")) or clock.now()
        await self.sync_status()
        await clock.sleep(SANDBOX_SECONDS)
        await self.env.gate()
        self.record.pod_ip = (
            self.env.host_ip if self.record.host_network else self.env.ips.allocate()
        )
        self.record.sandbox_ready = True
        await self.sync_status()
        for runner in self.init_runners:
            runner.start()
            if runner.rec.kind == "sidecar":
                await runner.started.wait()
            else:
                await runner.wait()
        if self.init_runners:
            self.record.initialized = True
            await self.sync_status()
        for runner in self.runners:
            runner.start()
        tasks = {r.task for r in self.runners if r.task is not None}
        if tasks:
            await asyncio.wait(tasks)
        # Every regular container finished on its own (restartPolicy Never / OnFailure).
        deadline = clock.now() + grace_period(self.pod)
        for runner in reversed(self.init_runners):
            await runner.stop(deadline)
        self.record.terminal = True
        self.record.sandbox_ready = False
        await self.sync_status()

    async def _terminate(self) -> None:
        clock = self.env.clock
        deadline = clock.now() + grace_period(self.pod)
        for task in (self._lifecycle, self._resize):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.gather(*(r.stop(deadline) for r in self.runners))
        for runner in reversed(self.init_runners):  # sidecars last, in reverse order
            await runner.stop(deadline)
        self.record.terminal = True
        self.record.sandbox_ready = False
        if not self.finished_before:
            await self.sync_status()
        await self._delete()

    async def _delete(self) -> None:
        """Remove the API object now that nothing runs (DELETE, grace 0, uid precondition)."""
        for attempt in range(5):
            await self.env.gate()
            try:
                await self.env.client.delete(self.path, grace_period=0, uid=self.uid)
                return
            except ApiError as e:
                if e.code in (404, 409):
                    return  # gone already, or the name now belongs to a new pod
                log.warning("kubelet %s: deleting %s: %s", self.env.node_name, self.path, e)
            except (aiohttp.ClientError, TimeoutError) as e:
                log.debug("kubelet %s: deleting %s: %r", self.env.node_name, self.path, e)
            await asyncio.sleep(0.2 * (attempt + 1))

    # -- in-place resize -----------------------------------------------------------------

    def _desired_resources(self) -> dict[str, tuple[JSON, JSON]]:
        """name → (container spec, resources) for containers whose resources changed."""
        out: dict[str, tuple[JSON, JSON]] = {}
        by_name = {r.name: r for r in self.runners}
        for c in self.pod.get("spec", {}).get("containers") or []:
            runner = by_name.get(str(c.get("name")))
            wanted = container_resources(c)
            if runner is not None and wanted != runner.rec.allocated:
                out[runner.name] = (c, wanted)
        return out

    def _check_resize(self) -> None:
        if self._desired_resources() and (self._resize is None or self._resize.done()):
            self._resize = self._spawn(self._do_resize(), "resize")

    async def _do_resize(self) -> None:
        clock = self.env.clock
        await clock.sleep(RESIZE_ALLOCATE_SECONDS)
        changes = self._desired_resources()
        if not changes:
            return
        for _name, (_, wanted) in changes.items():
            too_big = infeasible_resources(wanted, self.env.allocatable)
            if too_big:
                res = too_big[0]
                self.record.resize = (
                    "PodResizePending", "Infeasible",
                    f"Node didn't have enough capacity: {res}, requested: "
                    f"{wanted['requests'][res]}, capacity: {self.env.allocatable[res]}",
                )
                await self.sync_status()
                return
        by_name = {r.name: r for r in self.runners}
        old = {name: by_name[name].rec.allocated for name in changes}
        for name, (_, wanted) in changes.items():
            by_name[name].rec.allocated = wanted
        self.record.resize = ("PodResizeInProgress", "", "")
        await self.sync_status()
        await clock.sleep(RESIZE_ACTUATE_SECONDS)
        for name, (spec, wanted) in changes.items():
            by_name[name].resize(wanted, restart=resize_needs_restart(spec, old[name], wanted))
        self.record.resize = None
        await self.sync_status()
        self._check_resize()  # changed again meanwhile?

    # -- status --------------------------------------------------------------------------

    def _differs(self, status: JSON) -> bool:
        return status != self._last_written or _essence(status) != _essence(
            self.pod.get("status") or {}
        )

    async def sync_status(self) -> None:
        """Write the current status if it differs from the API's; retry on conflicts."""
        async with self._status_lock:
            for attempt in range(10):
                await self.env.gate()
                if self.gone:
                    return
                status = build_status(self.pod, self.record, self.env.clock)
                if not self._differs(status):
                    return
                body: JSON = {
                    "metadata": {"resourceVersion": self.pod["metadata"].get("resourceVersion")},
                    "status": status,
                }
                try:
                    result = await self.env.client.patch(f"{self.path}/status", body, "merge")
                except ApiError as e:
                    if e.code == 409:
                        fresh = await self.env.client.get(self.path)
                        if fresh is None or fresh["metadata"].get("uid") != self.uid:
                            return
                        self._adopt(fresh)
                        continue
                    if e.code != 404:
                        log.warning("kubelet %s: status of %s: %s",
                                    self.env.node_name, self.path, e)
                    return
                except (aiohttp.ClientError, TimeoutError) as e:
                    log.debug("kubelet %s: status of %s: %r", self.env.node_name, self.path, e)
                    await asyncio.sleep(0.1 * (attempt + 1))
                    continue
                self._adopt(result)
                self._last_written = status
                return
