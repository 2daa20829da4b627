"""The demo's traffic simulator: a steady client behind a simulated ingress.

It exists so the two labs' lessons show up as numbers. A client sends `rate` requests
per simulated second to one Service through an ingress that, like ingress-nginx or
kube-proxy, keeps its own list + watch of the Service's EndpointSlices over HTTP and
applies each change only after `propagation_delay` simulated seconds (the time a real
proxy takes to notice, re-render its config and reload). It round-robins over the
endpoints it believes ready, dropping `terminating` ones as most ingresses do.

Each request ends in one of three ways, decided by asking the simulated node where the
endpoint's pod runs (`Probe`):

- ok: the pod's app accepts connections;
- refused: the pod IP exists but nothing listens (the app has not started yet, or got
  SIGTERM) — the ingress answers 503 (lab 1 and lab 2);
- timeout: the IP is gone (the pod was deleted, its node is dead): packets go nowhere.
  A real client waits ~30 s; here it is only counted.

An ingress with no ready endpoint at all answers 503 at once: counted as refused.

The simulator sees the cluster only through the API (its informer) and the probe, never
through kwatch's own store, so what it counts is independent of what kwatch shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import ENDPOINTSLICE
from kwatch.demo.client import Informer, KubeClient
from kwatch.demo.clock import Clock
from kwatch.session import TrafficCounters

log = logging.getLogger(__name__)

Outcome = Literal["ok", "refused", "timeout"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "refused", "timeout")

INGRESS_USER_AGENT = "ingress-nginx/controller-v1.12.0 (linux/amd64) kwatch-demo"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_RATE = 20.0  # requests per simulated second
DEFAULT_PROPAGATION_DELAY = 2.0  # simulated seconds
# The loop never sleeps less than this much wall time: at high speeds several requests
# share one sample of the cluster state instead of flooding the event loop.
MIN_TICK_WALL = 0.01
HISTORY = 200_000  # requests remembered individually (~2.8 simulated hours at 20/s)


@dataclass(frozen=True, slots=True)
class Backend:
    """An endpoint as the ingress knows it: where to send, and which pod it was."""

    ip: str
    node: str = ""
    pod_uid: str = ""
    pod_name: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    t: float  # simulated epoch seconds the outcome was sampled at
    outcome: Outcome
    backend: Backend | None  # None: the ingress had no ready endpoint


Probe = Callable[[Backend], Outcome]


def ready_backends(slices: dict[str, JSON]) -> tuple[Backend, ...]:
    """The endpoints an ingress routes to: ready (nil counts as ready, as the API says)
    and not terminating, across all slices of the Service, in a stable order."""
    seen: dict[str, Backend] = {}
    for eps in slices.values():
        for ep in eps.get("endpoints") or ():
            cond = ep.get("conditions") or {}
            if cond.get("ready") is False or cond.get("terminating") is True:
                continue
            ref = ep.get("targetRef") or {}
            for ip in ep.get("addresses") or ():
                # A pod listed in two slices (a controller mid-move) is still one backend.
                seen.setdefault(str(ip), Backend(
                    ip=str(ip),
                    node=str(ep.get("nodeName") or ""),
                    pod_uid=str(ref.get("uid") or ""),
                    pod_name=str(ref.get("name") or ""),
                ))
    return tuple(seen[ip] for ip in sorted(seen))


class Ingress:
    """The ingress's view of one Service: slices learnt over a watch, applied late."""

    def __init__(self, client: KubeClient, clock: Clock, namespace: str, service: str,
                 propagation_delay: float) -> None:
        self.clock = clock
        self.propagation_delay = propagation_delay
        self.backends: tuple[Backend, ...] = ()
        self._slices: dict[str, JSON] = {}
        # (apply at, backends) in arrival order: a later change never overtakes an
        # earlier one, as a proxy applies its config updates in order.
        self._pending: deque[tuple[float, tuple[Backend, ...]]] = deque()
        self._informer = Informer(client, ENDPOINTSLICE, self._on_slice, namespace=namespace,
                                  label_selector=f"{SERVICE_NAME_LABEL}={service}")
        self._rr = 0

    @property
    def synced(self) -> asyncio.Event:
        return self._informer.synced

    def start(self) -> None:
        self._informer.start()

    async def stop(self) -> None:
        await self._informer.stop()

    def _on_slice(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        if new is None:
            if old is not None:
                self._slices.pop(object_key(old), None)
        else:
            self._slices[object_key(new)] = new
        self._pending.append((self.clock.now() + self.propagation_delay,
                              ready_backends(self._slices)))

    def advance(self, now: float) -> None:
        """Apply every config change whose propagation delay has passed by `now`."""
        while self._pending and self._pending[0][0] <= now:
            self.backends = self._pending.popleft()[1]

    def pick(self) -> Backend | None:
        """Round robin over the backends currently configured."""
        if not self.backends:
            return None
        self._rr = (self._rr + 1) % len(self.backends)
        return self.backends[self._rr]


class TrafficSimulator:
    """Steady requests to one Service at a time. `start(ns, svc)`, then `await stop()`.

    `counters()` is what the status bar shows; `requests` keeps each request with its
    simulated time, so a test can tell *when* refusals happened.
    """

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        probe: Probe,
        *,
        rate: float = DEFAULT_RATE,
        propagation_delay: float = DEFAULT_PROPAGATION_DELAY,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.client = client
        self.clock = clock
        self.probe = probe
        self.rate = rate
        self.propagation_delay = propagation_delay
        self.requests: deque[Request] = deque(maxlen=HISTORY)
        self.target = ""
        self._counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        self._ingress: Ingress | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, namespace: str, service: str, *, sync_timeout: float = 10.0) -> None:
        """Send traffic to Service `namespace/service` (replacing any previous target);
        returns once the ingress has listed the Service's slices."""
        await self.stop()
        self.target = f"svc {namespace}/{service}"
        ingress = Ingress(self.client, self.clock, namespace, service, self.propagation_delay)
        self._ingress = ingress
        ingress.start()
        await asyncio.wait_for(ingress.synced.wait(), sync_timeout)
        # What the first list found is the config the ingress starts with.
        ingress.advance(float("inf"))
        self._task = asyncio.create_task(self._run(ingress), name="traffic")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ingress is not None:
            await self._ingress.stop()
            self._ingress = None

    # -- what tests and views read -------------------------------------------------------

    def counters(self) -> TrafficCounters:
        c = self._counts
        return TrafficCounters(ok=c["ok"], refused=c["refused"], timeout=c["timeout"],
                               target=self.target)

    @property
    def backends(self) -> tuple[Backend, ...]:
        """What the ingress routes to right now (after propagation)."""
        return self._ingress.backends if self._ingress is not None else ()

    def outcomes(self, outcome: Outcome, since: float = float("-inf"),
                 until: float = float("inf")) -> list[Request]:
        return [r for r in self.requests if r.outcome == outcome and since <= r.t <= until]

    def __iter__(self) -> Iterator[Request]:
        return iter(list(self.requests))

    # -- the client loop -----------------------------------------------------------------

    async def _run(self, ingress: Ingress) -> None:
        interval = 1.0 / self.rate
        next_at = self.clock.now()
        tick = max(MIN_TICK_WALL, self.clock.wall_seconds(interval))
        while True:
            now = self.clock.now()
            ingress.advance(now)
            # Every request due by now, all judged against the state at `now`: at high
            # speed one tick covers several requests.
            while next_at <= now:
                self._send(ingress, now)
                next_at += interval
            await asyncio.sleep(tick)

    def _send(self, ingress: Ingress, now: float) -> None:
        backend = ingress.pick()
        outcome: Outcome = "refused" if backend is None else self.probe(backend)
        self._counts[outcome] += 1
        self.requests.append(Request(now, outcome, backend))


__all__ = [
    "DEFAULT_PROPAGATION_DELAY",
    "DEFAULT_RATE",
    "OUTCOMES",
    "Backend",
    "Ingress",
    "Outcome",
    "Probe",
    "Request",
    "TrafficSimulator",
    "ready_backends",
]
