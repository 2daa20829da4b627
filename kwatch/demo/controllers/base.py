"""The controller pattern of kube-controller-manager: informers feed a work queue of keys.

Every demo controller is a subclass of `Controller`:

- `setup()` declares the informers it needs with `self.informer(kind, handler)`; their
  handlers only *enqueue keys* (``"namespace/name"``), never act, exactly like client-go
  event handlers — so a burst of watch events for one object costs one reconcile.
- `reconcile(key)` reads the informer caches, compares desired with observed state and
  writes through `self.client`. Raising requeues the key with per-key exponential backoff;
  returning normally forgets its failures.
- `run(workers)` starts the informers, waits until they have listed, then runs workers
  until `stop()`. The queue guarantees one worker per key at a time.

Controllers announce themselves with `@register`, which fills `CONTROLLERS` (name → class)
for `kwatch.demo.controllers.manager`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from abc import ABC, abstractmethod
from collections import deque
from typing import ClassVar, Protocol, TypeVar

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import ResourceKind
from kwatch.demo.client import ApiError, Handler, Informer, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.controllers._objects import typed_copy
from kwatch.demo.events import EventRecorder

log = logging.getLogger(__name__)

# The API server derives the managedFields manager from the User-Agent's first token, so
# writes by the demo's controllers read "kube-controller-manager" — as on a real cluster.
USER_AGENT = "kube-controller-manager/v1.35.0 (linux/amd64) kubernetes/kwatch"


class Recorder(Protocol):
    """What a controller needs to report Events (client-go's `EventRecorder.Eventf`).

    `kwatch.demo.events.EventRecorder` is the implementation; tests may pass a fake.
    `type_` is "Normal" or "Warning"; `related` is the secondary object (the pod a
    ReplicaSet created, the ReplicaSet a Deployment scaled); recording never blocks.
    """

    def event(
        self,
        regarding: JSON,
        type_: str,
        reason: str,
        action: str,
        note: str,
        *,
        related: JSON | None = None,
    ) -> None: ...


class RetryLater(Exception):
    """Raised by `reconcile` when the caches are not yet consistent enough to act on.

    Requeued with backoff like any error, but logged quietly: it is routine (e.g. a status
    that lags behind its spec), not a failure.
    """


def split_key(key: str) -> tuple[str, str]:
    """("namespace", "name") of a queue key; namespace is "" for cluster-scoped objects."""
    ns, _, name = key.rpartition("/")
    return ns, name


class WorkQueue:
    """client-go's rate-limited work queue, for one asyncio loop.

    A key waiting in the queue is queued once however often it is added ("dirty" set); a
    key being processed is not handed to a second worker — if it is added meanwhile it is
    re-queued when the first worker calls `done` ("processing" set). Delays are simulated
    seconds on the demo clock.
    """

    def __init__(self, clock: Clock, *, base_delay: float = 0.005, max_delay: float = 60.0) -> None:
        self.clock = clock
        # client-go's default is 5 ms doubling to 1000 s; 60 s keeps a demo that hit a
        # transient error from looking frozen.
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._timers: dict[str, asyncio.TimerHandle] = {}  # key → its pending add
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutdown

    def add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # `done` re-queues it, so no two workers hold one key
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, sim_seconds: float) -> None:
        """Add `key` once `sim_seconds` have passed; a key already waiting keeps only the
        earlier of its two times (so repeated "check again later" calls don't pile up)."""
        if sim_seconds <= 0:
            self.add(key)
            return
        if self._shutdown:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + self.clock.wall_seconds(sim_seconds)
        waiting = self._timers.get(key)
        if waiting is not None:
            if waiting.when() <= when:
                return
            waiting.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_at(when, fire)

    def add_rate_limited(self, key: str) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2**n), self.max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str | None:
        """The next key (now owned by the caller until `done`), or None after shutdown."""
        while not self._queue:
            if self._shutdown:
                return None
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            finally:
                with contextlib.suppress(ValueError):
                    self._getters.remove(fut)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        self._shutdown = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return


class Controller(ABC):
    """One control loop. Subclasses set `name` and implement `setup` and `reconcile`."""

    # The controller's name as kube-controller-manager reports it (Events' reportingController).
    name: ClassVar[str] = ""
    # Default worker count (kube-controller-manager runs 5 for deployments/replicasets).
    concurrent_syncs: ClassVar[int] = 1
    # After this many failed reconciles in a row a key is dropped until its next event.
    max_retries: ClassVar[int] = 15

    def __init__(
        self, client: KubeClient, clock: Clock, recorder: Recorder | None = None
    ) -> None:
        self.client = client
        self.clock = clock
        # A recorder we create is ours to close; one passed in belongs to the caller.
        self._own_recorder: EventRecorder | None = None
        if recorder is None:
            # No series merging: kube-controller-manager's controllers use the legacy
            # recorder, which keeps events with different messages apart, so "Scaled up
            # ... from 1 to 2" and "... from 2 to 3" are two Events — two visible steps.
            recorder = self._own_recorder = EventRecorder(
                client, clock, self.name, series_window=0.0
            )
        self.recorder: Recorder = recorder
        self.queue = WorkQueue(clock)
        # Set once every informer has listed: reconciling against a half-filled cache would
        # e.g. make the replicaset controller create pods that already exist.
        self.synced = asyncio.Event()
        self._informers: list[Informer] = []
        self._stopping = asyncio.Event()
        self._running = False
        self._stopped = asyncio.Event()

    # -- declared by subclasses -----------------------------------------------------------

    @abstractmethod
    def setup(self) -> None:
        """Create the informers (with `self.informer`) whose handlers enqueue keys."""

    @abstractmethod
    async def reconcile(self, key: str) -> None:
        """Drive the object `key` ("namespace/name") towards its desired state.

        Raise to be retried with backoff (e.g. on a 409 Conflict from a stale cache).
        """

    # -- helpers for subclasses ----------------------------------------------------------

    def informer(
        self,
        kind: ResourceKind,
        handler: Handler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        """Create an informer that starts and stops with this controller."""
        inf = Informer(
            self.client,
            kind,
            handler,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        self._informers.append(inf)
        return inf

    def informers(self) -> list[Informer]:
        return list(self._informers)

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_object(self, obj: JSON) -> None:
        self.queue.add(object_key(obj))

    def enqueue_after(self, key: str, sim_seconds: float) -> None:
        self.queue.add_after(key, sim_seconds)

    def enqueue_rate_limited(self, key: str) -> None:
        self.queue.add_rate_limited(key)

    def owner_event(self, kind: ResourceKind, obj: JSON, type_: str, reason: str,
                    action: str, note: str, pod: JSON | None = None) -> None:
        """Record an Event about `obj` (a `kind`, as cached), concerning `pod` if given.

        The pod is the Event's `related` object: kwatch links the step to it, and events
        about different pods don't merge into one series.
        """
        related = typed_copy(pod, "v1", "Pod") if pod is not None else None
        self.recorder.event(typed_copy(obj, kind.api_version, kind.kind), type_, reason,
                            action, note, related=related)

    async def merge_status(self, kind: ResourceKind, obj: JSON, fields: JSON,
                           attempts: int = 5) -> None:
        """Write `fields` over `obj`'s status through the status subresource.

        A PUT, guarded by the resourceVersion of `obj`: on 409 Conflict (someone wrote in
        between) re-read the object and try again, like client-go's RetryOnConflict, so a
        status computed from the caches is not lost to one race. Nothing to do once the
        object is gone.
        """
        meta = obj.get("metadata") or {}
        path = f"{kind.collection_path(meta.get('namespace'))}/{meta['name']}"
        body = copy.deepcopy(obj)
        for attempt in range(attempts):
            body["status"] = {**(body.get("status") or {}), **fields}
            try:
                await self.client.update(f"{path}/status", body)
                return
            except ApiError as e:
                if e.code != 409 or attempt == attempts - 1:
                    raise
                fresh = await self.client.get(path)
                if fresh is None:
                    return
                body = fresh

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        """Start informers, wait for their first list, then reconcile until `stop()`.

        Cancelling the task running this stops the controller abruptly (a crash).
        """
        if self._running:
            raise RuntimeError(f"{self.name} is already running")
        self._running = True
        worker_tasks: list[asyncio.Task[None]] = []
        try:
            self.setup()
            for inf in self._informers:
                inf.start()
            if not await self._wait_synced():
                return
            self.synced.set()
            log.debug("%s: caches synced, starting workers", self.name)
            n = workers if workers is not None else self.concurrent_syncs
            worker_tasks = [
                asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                for i in range(max(1, n))
            ]
            await asyncio.gather(*worker_tasks)
        finally:
            self.queue.shutdown()
            for t in worker_tasks:
                t.cancel()
            await asyncio.gather(*worker_tasks, return_exceptions=True)
            for inf in self._informers:
                await inf.stop()
            if self._own_recorder is not None:
                await self._own_recorder.close()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop taking keys, let in-flight reconciles finish, stop the informers."""
        self._stopping.set()
        self.queue.shutdown()
        if self._running:
            await self._stopped.wait()

    async def _wait_synced(self) -> bool:
        async def all_synced() -> None:
            for inf in self._informers:
                await inf.synced.wait()

        synced = asyncio.ensure_future(all_synced())
        async def stop_requested() -> None:
            await self._stopping.wait()

        stopping = asyncio.ensure_future(stop_requested())
        try:
            await asyncio.wait({synced, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (synced, stopping):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fut
        return not self._stopping.is_set()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._handle_error(key, e)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    def _handle_error(self, key: str, err: Exception) -> None:
        if self.queue.num_requeues(key) >= self.max_retries:
            log.warning("%s: dropping %s after %d retries: %s", self.name, key,
                        self.max_retries, err)
            self.queue.forget(key)
            return
        if isinstance(err, RetryLater) or (isinstance(err, ApiError) and err.code == 409):
            # A stale cache (or a lost optimistic-concurrency race): routine, retry soon.
            log.debug("%s: requeueing %s: %s", self.name, key, err)
        else:
            log.info("%s: error syncing %s, requeueing: %r", self.name, key, err)
        self.queue.add_rate_limited(key)


CONTROLLERS: dict[str, type[Controller]] = {}
"""Every registered controller class by its `name` ("deployment-controller", ...)."""

C = TypeVar("C", bound=type[Controller])


def register(cls: C) -> C:
    """Class decorator adding a controller to `CONTROLLERS` (the manager's default set)."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a `name`")
    CONTROLLERS[cls.name] = cls
    return cls

