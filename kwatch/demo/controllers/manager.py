"""The demo's kube-controller-manager: many controllers, one process, one leader.

Each replica campaigns for the Lease `kube-system/kube-controller-manager`; only the
leader runs the controllers. Two replicas therefore give active/standby, not twice the
throughput: when the leader dies (`crash()`) its Lease stops being renewed, and after
`leaseDurationSeconds` the standby takes it over (leaseTransitions + 1) and starts its
own controllers, which rebuild their caches from a fresh list — the controller-failover
scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
from collections.abc import Mapping, Sequence

from kwatch.demo.client import KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.controllers import leader as leader_mod
from kwatch.demo.controllers.base import CONTROLLERS, USER_AGENT, Controller
from kwatch.demo.events import EventRecorder, as_component

log = logging.getLogger(__name__)

# Modules of this package that hold no controller (nothing to register).
_NOT_CONTROLLERS = frozenset({"base", "manager", "leader", "hashing", "revisions"})


def load_builtin_controllers() -> dict[str, type[Controller]]:
    """Import every controller module of this package, so that `@register` has run.

    Discovery (instead of a hand-kept import list) lets each controller live in its own
    module, added without touching this one. Returns `CONTROLLERS`.
    """
    package = importlib.import_module("kwatch.demo.controllers")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_") and info.name not in _NOT_CONTROLLERS:
            importlib.import_module(f"{package.__name__}.{info.name}")
    return CONTROLLERS


class ControllerManager:
    """One replica of kube-controller-manager: leader election around a set of controllers."""

    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        controllers: Sequence[type[Controller]],
        *,
        identity: str,
        lease_name: str = "kube-controller-manager",
        lease_namespace: str = "kube-system",
        workers: Mapping[str, int] | None = None,
        lease_duration: float = leader_mod.LEASE_DURATION,
        renew_deadline: float = leader_mod.RENEW_DEADLINE,
        retry_period: float = leader_mod.RETRY_PERIOD,
    ) -> None:
        # All writes are attributed to kube-controller-manager (managedFields), as on a
        # real cluster, whoever built the client.
        self.client = as_component(client, USER_AGENT)
        self.clock = clock
        self.controller_classes = list(controllers)
        self.identity = identity
        self.workers = dict(workers or {})
        self.elector = leader_mod.LeaderElector(
            self.client,
            clock,
            identity=identity,
            lease_name=lease_name,
            lease_namespace=lease_namespace,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            on_started_leading=self._start_controllers,
            on_stopped_leading=self._stop_controllers,
            recorder=EventRecorder(self.client, clock, "kube-controller-manager"),
        )
        self.controllers: list[Controller] = []  # running instances, while leading
        self.leading = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._election: asyncio.Task[None] | None = None
        self.terms = 0  # how many times this replica became leader

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def start(self) -> None:
        """Start campaigning (returns at once; controllers start once leading)."""
        if self._election is None or self._election.done():
            self._election = asyncio.create_task(self.elector.run(),
                                                 name=f"leader-election-{self.identity}")

    async def stop(self, *, release: bool = False) -> None:
        """Shut down in order: controllers finish their current reconcile, then stop.

        kube-controller-manager keeps its Lease on shutdown (the standby waits it out);
        `release=True` hands it over at once instead.
        """
        await _cancel(self._election)
        self._election = None
        await self._stop_controllers()
        if release:
            await self.elector.release()
        await self._close_recorder()

    async def crash(self) -> None:
        """Die abruptly: controllers are cancelled mid-work, the Lease is left to expire."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.controllers.clear()
        self.leading.clear()
        await _cancel(self._election)
        self._election = None
        await self._close_recorder()

    async def wait_leading(self) -> None:
        await self.leading.wait()

    async def wait_synced(self) -> None:
        """Wait until leading and every controller's informers have listed."""
        await self.leading.wait()
        for c in list(self.controllers):
            await c.synced.wait()

    def controller(self, name: str) -> Controller | None:
        """The running instance of the controller called `name`, if leading."""
        return next((c for c in self.controllers if c.name == name), None)

    async def _start_controllers(self) -> None:
        self.terms += 1
        log.info("%s: leading, starting %d controllers", self.identity,
                 len(self.controller_classes))
        for cls in self.controller_classes:
            ctl = cls(self.client, self.clock)
            self.controllers.append(ctl)
            task = asyncio.create_task(self._run(ctl, self.workers.get(cls.name)),
                                       name=f"{cls.name}@{self.identity}")
            self._tasks.append(task)
        self.leading.set()

    async def _run(self, ctl: Controller, workers: int | None) -> None:
        try:
            await ctl.run(workers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: %s stopped with an error", self.identity, ctl.name)

    async def _stop_controllers(self) -> None:
        self.leading.clear()
        controllers, self.controllers = self.controllers, []
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*(c.stop() for c in controllers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_recorder(self) -> None:
        recorder = self.elector.recorder
        if isinstance(recorder, EventRecorder):
            await recorder.close()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def start_controller_manager(
    client: KubeClient,
    clock: Clock,
    *,
    identity: str,
    controllers: Sequence[type[Controller]] | None = None,
) -> ControllerManager:
    """Start one kube-controller-manager replica; None runs every registered controller."""
    if controllers is None:
        controllers = list(load_builtin_controllers().values())
    manager = ControllerManager(client, clock, controllers, identity=identity)
    await manager.start()
    return manager
