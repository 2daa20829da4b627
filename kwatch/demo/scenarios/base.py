"""What a scenario is: a narrated script of user actions, and what it should end with.

A `Scenario` is a list of `Act`s — a narration line (what is about to happen and what
to watch for) followed by an action made *as a user would*, through the API over HTTP
with kubectl's User-Agent — and a list of `Expect`ations: checks over what was observed
(traffic counters, kwatch's hazards and steps, facts the script measured). The runner
plays the acts against a `DemoCluster`, then checks the expectations, so every lesson
the narration claims is also a tested fact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kwatch.core.events import JSON, object_key
from kwatch.core.hazards import Hazard
from kwatch.core.kinds import ResourceKind
from kwatch.core.steps import Step
from kwatch.demo.client import Informer, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.cluster import DemoCluster
from kwatch.demo.traffic import Request
from kwatch.session import TrafficCounters

T = TypeVar("T")

# What `kubectl` sends; the API server attributes the writes to manager "kubectl".
KUBECTL_USER_AGENT = "kubectl/v1.35.0 (linux/amd64) kubernetes/kwatch"
NAMESPACE = "default"
# However fast the clock runs, a wait gets at least this much wall time: on a loaded
# machine HTTP round trips cost more simulated time than the script expects.
MIN_WAIT_WALL = 20.0
POLL_SIM = 0.5  # simulated seconds between polls of a wait
POLL_MIN_WALL = 0.02


class ScenarioError(Exception):
    """The script could not go on (a wait timed out): the cluster misbehaved."""


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything an expectation may look at once the script has run."""

    traffic: TrafficCounters
    requests: Sequence[Request]
    hazards: Sequence[Hazard]  # the latest revision of each hazard kwatch raised
    steps: Sequence[Step]  # every step kwatch derived, in order
    facts: Mapping[str, Any]  # what the script measured itself (see ScenarioContext.facts)

    def hazard_kinds(self) -> set[str]:
        return {h.kind for h in self.hazards}

    def steps_named(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.step == name]


Check = Callable[[Observed], str | None]  # None when as expected, else what went wrong


@dataclass(frozen=True, slots=True)
class Expect:
    description: str  # the lesson's claim, e.g. "some requests were refused (503)"
    check: Check


@dataclass(frozen=True, slots=True)
class ExpectResult:
    description: str
    ok: bool
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"expect": self.description, "ok": self.ok, "problem": self.problem}


class ObjectLog:
    """Every version of one kind's objects, as a watcher saw them, with simulated times.

    Scenarios use it to measure facts kwatch does not compute itself (a rollout's
    replica sums over time, the order pods became Ready) from an independent watch.
    """

    def __init__(self, client: KubeClient, clock: Clock, kind: ResourceKind,
                 namespace: str | None) -> None:
        self.clock = clock
        self.kind = kind
        self.versions: list[tuple[float, str, JSON]] = []  # (t, ADDED/MODIFIED/DELETED, obj)
        self.current: dict[str, JSON] = {}
        # Cluster-scoped kinds and kinds with a home namespace (leader Leases live in
        # kube-system) ignore the scenario's namespace.
        scoped = kind.namespaced and kind.fixed_namespace is None
        self._informer = Informer(client, kind, self._on_change,
                                  namespace=namespace if scoped else None)

    def _on_change(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        if new is None:
            self.current.pop(object_key(obj), None)
        else:
            self.current[object_key(obj)] = new
        self.versions.append((self.clock.now(), type_, obj))

    async def start(self) -> None:
        self._informer.start()
        await asyncio.wait_for(self._informer.synced.wait(), MIN_WAIT_WALL)

    async def stop(self) -> None:
        await self._informer.stop()


class ScenarioContext:
    """What a running script gets: the cluster, a kubectl-like client, the clock, a
    narrator, and a place to put measured facts for the expectations."""

    def __init__(self, cluster: DemoCluster, narrate: Callable[[str], None],
                 namespace: str = NAMESPACE) -> None:
        self.cluster = cluster
        self.clock = cluster.clock
        self.client = cluster.client(KUBECTL_USER_AGENT)
        self.namespace = namespace
        self._narrate = narrate
        self.facts: dict[str, Any] = {}
        self._logs: list[ObjectLog] = []

    def narrate(self, text: str) -> None:
        self._narrate(text)

    async def log(self, kind: ResourceKind) -> ObjectLog:
        """Start recording every version of `kind` in this namespace (stopped at close)."""
        log = ObjectLog(self.client, self.clock, kind, self.namespace)
        self._logs.append(log)
        await log.start()
        return log

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass (the audience watches)."""
        await self.clock.sleep(seconds)

    async def wait_for(self, probe: Callable[[], Awaitable[T | None]], *,
                       within: float, what: str) -> T:
        """Poll `probe` until it returns something truthy, like `kubectl wait`.

        `within` is in simulated seconds, but never less than MIN_WAIT_WALL of wall
        time: a slow machine must not fail a lesson that is merely late.
        """
        deadline = time.monotonic() + max(self.clock.wall_seconds(within), MIN_WAIT_WALL)
        poll = max(self.clock.wall_seconds(POLL_SIM), POLL_MIN_WALL)
        while True:
            result = await probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise ScenarioError(f"timed out waiting for {what}")
            await asyncio.sleep(poll)

    async def close(self) -> None:
        for log in self._logs:
            await log.stop()
        self._logs.clear()


Action = Callable[[ScenarioContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Act:
    """One beat of the script: say what to watch for, then do it, then let it show."""

    say: str
    do: Action | None = None
    watch: float = 0.0  # simulated seconds to let pass after the action


@dataclass(frozen=True, init=False)
class Scenario:
    name: str
    description: str  # one line, for `kwatch demo --list`
    default_speed: float
    acts: tuple[Act, ...]
    expect: tuple[Expect, ...] = field(default=())
    min_nodes: int = 1

    def __init__(self, name: str, description: str, default_speed: float, *acts: Act,
                 expect: Sequence[Expect] = (), min_nodes: int = 1) -> None:
        # A frozen dataclass with a varargs constructor: Scenario(name, desc, speed, *acts).
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "default_speed", default_speed)
        object.__setattr__(self, "acts", tuple(acts))
        object.__setattr__(self, "expect", tuple(expect))
        object.__setattr__(self, "min_nodes", min_nodes)

    async def run(self, ctx: ScenarioContext) -> None:
        for act in self.acts:
            ctx.narrate(act.say)
            if act.do is not None:
                await act.do(ctx)
            if act.watch > 0:
                await ctx.sleep(act.watch)

    def check(self, observed: Observed) -> list[ExpectResult]:
        results: list[ExpectResult] = []
        for e in self.expect:
            try:
                problem = e.check(observed)
            except Exception as exc:  # a check that crashes is a failed check, not a crash
                problem = f"check failed: {exc!r}"
            results.append(ExpectResult(e.description, problem is None, problem or ""))
        return results
