"""The core's one entry point: KEvent batches in, changes / steps / hazards out.

`Pipeline` is an `EventSink`: sources call it with each batch. It applies the batch to
the store, derives steps from the resulting changes, feeds them to the hazard tracker
and notifies listeners — once per batch, never once per event, so views can coalesce.

With `suppress_initial_list_steps` (the default) changes made by the first LIST of a
(kind, namespace) view produce no per-object steps: the LISTED marker becomes one
`Synced` step with the count instead of 50,000 `PodCreated` lines. Everything after
that, relists included (those become `Relisted` plus the steps of what really changed),
is narrated normally.

Listeners must not raise; if one does, the error is logged and the pipeline goes on:
a broken view must not stop the watch that feeds the others.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Generic, TypeVar

from kwatch.core.events import EventType, KEvent
from kwatch.core.hazards import Hazard, HazardTracker
from kwatch.core.steps import Step, StepName, derive_steps
from kwatch.core.store import Change, Store

log = logging.getLogger(__name__)

_T = TypeVar("_T")
Listener = Callable[[Sequence[_T]], None]

# Steps that describe a once-per-object fact but can be derived from two sources (the
# pod's DisruptionTarget condition and the evictor's Event): keep the first.
_ONCE_PER_OBJECT = frozenset({StepName.POD_EVICTED.value})
_ONCE_MEMORY = 10_000
_LISTED = EventType.LISTED
_kind_of = attrgetter("kind")
_type_of = attrgetter("type")
_t_of = attrgetter("t")


@dataclass(frozen=True, slots=True)
class PipelineStats:
    events: int  # KEvents received, markers included
    changes: int
    steps: int
    hazards: int  # hazard versions emitted (raises and updates)
    batches: int
    suppressed: int  # initial-list changes summarised instead of narrated
    events_per_s: float  # over the sliding window
    per_kind: Mapping[str, int]  # KEvents per kind


class _Listeners(Generic[_T]):
    """Callbacks of one kind, each called with every non-empty sequence."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._callbacks: list[Listener[_T]] = []

    def add(self, callback: Listener[_T]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def __call__(self, items: Sequence[_T]) -> None:
        for callback in list(self._callbacks):
            try:
                callback(items)
            except Exception:
                log.exception("%s listener %r failed", self._what, callback)

    def __bool__(self) -> bool:
        return bool(self._callbacks)


class Pipeline:
    def __init__(
        self,
        store: Store | None = None,
        *,
        suppress_initial_list_steps: bool = True,
        hazards: HazardTracker | None = None,
        rate_window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store if store is not None else Store()
        self.hazards = hazards if hazards is not None else HazardTracker()
        self.suppress_initial_list_steps = suppress_initial_list_steps
        self.rate_window_s = rate_window_s
        self._clock = clock

        self.events = 0
        self.changes = 0
        self.steps = 0
        self.hazard_count = 0
        self.batches = 0
        self.suppressed = 0
        self.per_kind: Counter[str] = Counter()
        self._rate: deque[tuple[float, int]] = deque()
        self._once: OrderedDict[tuple[str, str], None] = OrderedDict()

        self._on_changes: _Listeners[Change] = _Listeners("changes")
        self._on_steps: _Listeners[Step] = _Listeners("steps")
        self._on_hazards: _Listeners[Hazard] = _Listeners("hazards")

    # ------------------------------------------------------------------ listeners

    def on_changes(self, callback: Listener[Change]) -> Callable[[], None]:
        """Call `callback(changes)` after each batch that changed the store (views use
        it to mark rows dirty). Returns a function that unsubscribes."""
        return self._on_changes.add(callback)

    def on_steps(self, callback: Listener[Step]) -> Callable[[], None]:
        return self._on_steps.add(callback)

    def on_hazards(self, callback: Listener[Hazard]) -> Callable[[], None]:
        """Hazards raised or updated (replace by `Hazard.key`)."""
        return self._on_hazards.add(callback)

    # ------------------------------------------------------------------ the sink

    def __call__(self, batch: Sequence[KEvent]) -> None:
        if not batch:
            return
        store = self.store
        self.batches += 1
        self.events += len(batch)
        # map/attrgetter keep the per-event bookkeeping in C: a LIST batch is 50k events.
        self.per_kind.update(map(_kind_of, batch))
        self._rate.append((self._clock(), len(batch)))

        # Whether each LISTED marker completes a view's *first* list must be known
        # before the store records it.
        listed: list[tuple[KEvent, bool]] = []
        if _LISTED in set(map(_type_of, batch)):
            listed = [
                (ev, not store.is_synced(ev.kind, ev.namespace))
                for ev in batch
                if ev.type is _LISTED
            ]
        changes = store.apply(batch)
        self.changes += len(changes)

        narrated = changes
        if self.suppress_initial_list_steps:
            narrated = [c for c in changes if not c.initial]
            self.suppressed += len(changes) - len(narrated)
        steps: list[Step] = []
        for change in narrated:
            steps.extend(derive_steps(change, store))
        for marker, first in listed:
            steps.append(self._list_step(marker, first))
        if any(s.step in _ONCE_PER_OBJECT for s in steps):
            steps = self._drop_repeats(steps)
        self.steps += len(steps)

        if steps:
            hazards = self.hazards.observe(steps, store)
        else:
            hazards = self.hazards.check_timeouts(max(map(_t_of, batch)))
        self.hazard_count += len(hazards)

        if changes and self._on_changes:
            self._on_changes(changes)
        if steps and self._on_steps:
            self._on_steps(steps)
        if hazards and self._on_hazards:
            self._on_hazards(hazards)

    def check_timeouts(self, now: float) -> list[Hazard]:
        """For a UI timer while no events flow: raise time-based hazards at `now`."""
        hazards = self.hazards.check_timeouts(now)
        if hazards:
            self.hazard_count += len(hazards)
            self._on_hazards(hazards)
        return hazards

    def _list_step(self, marker: KEvent, first: bool) -> Step:
        kind, ns = marker.kind, marker.namespace
        rows = self.store.rows(kind)
        count = len(rows) if not ns else sum(1 for r in rows.values() if r.namespace == ns)
        details: dict[str, object] = {"count": count}
        if not first:
            details["relists"] = self.store.relists.get(kind, 0)
        name = StepName.SYNCED if first else StepName.RELISTED
        return Step(marker.t, kind, ns, "", "", "kwatch", name.value, details)

    def _drop_repeats(self, steps: list[Step]) -> list[Step]:
        out = []
        for s in steps:
            if s.step in _ONCE_PER_OBJECT:
                key = (s.step, s.uid or f"{s.kind}/{s.namespace}/{s.name}")
                if key in self._once:
                    continue
                self._once[key] = None
                if len(self._once) > _ONCE_MEMORY:
                    self._once.popitem(last=False)
            out.append(s)
        return out

    # ------------------------------------------------------------------ counters

    def events_per_second(self) -> float:
        now = self._clock()
        horizon = now - self.rate_window_s
        while self._rate and self._rate[0][0] < horizon:
            self._rate.popleft()
        if not self._rate:
            return 0.0
        return sum(n for _, n in self._rate) / self.rate_window_s

    @property
    def stats(self) -> PipelineStats:
        return PipelineStats(
            events=self.events,
            changes=self.changes,
            steps=self.steps,
            hazards=self.hazard_count,
            batches=self.batches,
            suppressed=self.suppressed,
            events_per_s=self.events_per_second(),
            per_kind=dict(self.per_kind),
        )
