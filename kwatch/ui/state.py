"""ViewState: what the panes show, between the pipeline and the widgets.

The pipeline calls our listeners once per batch, possibly hundreds of times a second.
They only record (steps and hazards appended to a pending buffer, a dirty flag set) —
never touch a widget. The app drains this state on a timer (`drain`), at most 5 times
a second, and redraws what changed.

Pause: the store keeps applying every batch (sources are never blocked and nothing is
dropped); while paused `drain` leaves the pending steps and hazards buffered and
reports nothing to redraw, so the screen stays frozen. `buffered` counts what waits.
On resume the timeline appends everything buffered and the panes are rebuilt from the
store, which is already current: the view catches up exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kwatch.core.hazards import Hazard
from kwatch.core.rows import PodRow
from kwatch.core.steps import Step
from kwatch.core.store import Change, Store
from kwatch.session import Session
from kwatch.ui.model.filters import ViewFilter
from kwatch.ui.model.tree import TreeState, descendants

MAX_TIMELINE = 20_000  # steps kept for the timeline (oldest dropped first)

# What the app redraws, as drain() reports it. A *rebuild* recomputes a pane's lines
# (objects came, went or moved); a *repaint* draws every visible line again (the clock
# moved, a hazard appeared). Most watch events are status updates of objects already
# shown: they only name the uids whose lines to redraw (`ViewState.changed_uids`), so
# at 1,000 events/s over 10,000 pods a redraw touches the few lines on screen that
# really changed.
TREE = "tree"  # rebuild
TREE_ROWS = "tree-rows"  # repaint every visible line
LANES = "lanes"  # rebuild
LANES_PAINT = "lanes-paint"  # repaint (marks, the moving time axis)
TIMELINE = "timeline"
ENDPOINTS = "endpoints"
DETAIL = "detail"
HAZARDS = "hazards"
STATUS = "status"
STORE_PANES = frozenset({TREE, LANES, ENDPOINTS, DETAIL})

_TREE_KINDS = frozenset({"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})
_POD_MOVED = frozenset({TREE, LANES})
_WORKLOAD_MOVED = frozenset({TREE})
_NETWORK = frozenset({TREE, ENDPOINTS, LANES_PAINT})
_ALWAYS = frozenset({DETAIL, STATUS})
_HAZARD_PANES = frozenset({HAZARDS, TIMELINE, TREE_ROWS, LANES_PAINT, ENDPOINTS, DETAIL, STATUS})
MAX_CHANGED = 500  # beyond this many changed objects, repaint everything instead


@dataclass(frozen=True, slots=True)
class Entry:
    """One timeline line: a step, or a hazard (by key: it is redrawn as it updates)."""

    t: float
    step: Step | None = None
    hazard_key: str = ""


@dataclass
class Buffered:
    events: int = 0  # KEvents applied to the store since the pause
    steps: int = 0
    hazards: int = 0

    @property
    def any(self) -> bool:
        return bool(self.events or self.steps or self.hazards)


@dataclass
class ViewState:
    session: Session
    filter: ViewFilter = field(default_factory=ViewFilter)
    tree: TreeState = field(default_factory=TreeState)
    max_timeline: int = MAX_TIMELINE

    def __post_init__(self) -> None:
        self.store: Store = self.session.pipeline.store
        self.timeline: list[Entry] = []
        self.hazards: dict[str, Hazard] = {}
        self.hazard_uids: dict[str, list[str]] = {}  # uid → hazard keys
        self.selected_uid = ""
        self.focus_uid = ""  # follow-selection: timeline & lanes show this subtree
        self.focus_uids: set[str] = set()
        self.paused = False
        self.paused_at: float | None = None
        self._events_at_pause = 0
        self.dropped_steps = 0
        self._changed: set[str] = set()
        self.changed_uids: set[str] = set()  # objects whose lines the last drain repaints
        self._pending_steps: list[Step] = []
        self._pending_hazards: list[Hazard] = []
        self._dirty: set[str] = set(STORE_PANES | {TIMELINE, HAZARDS, STATUS})
        self._unsubscribe: list[Callable[[], None]] = []

    # -- pipeline listeners (called per batch: record only) --------------------------
    def attach(self) -> None:
        p = self.session.pipeline
        self._unsubscribe = [
            p.on_changes(self._on_changes),
            p.on_steps(self._on_steps),
            p.on_hazards(self._on_hazards),
        ]
        # Hazards raised before the view existed: drained with the first redraw.
        self._pending_hazards.extend(p.hazards.hazards)

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _on_changes(self, changes: Iterable[Change]) -> None:
        dirty = self._dirty
        changed = self._changed
        for change in changes:
            kind = change.kind
            if kind in _TREE_KINDS:
                old, new = change.old, change.new
                if old is None or new is None or old.owner != new.owner:
                    dirty |= _POD_MOVED if kind == "Pod" else _WORKLOAD_MOVED
                elif isinstance(new, PodRow) and getattr(old, "node_name", "") != new.node_name:
                    dirty |= _POD_MOVED  # scheduled: its node's pod count changes
                else:
                    changed.add(new.uid)
            elif kind in ("EndpointSlice", "Service"):
                dirty |= _NETWORK
            elif kind in ("Lease", "Node"):
                # Renewals and heartbeats (every few seconds) repaint the object's line;
                # only one appearing or going away changes the tree's shape.
                if change.old is None or change.new is None:
                    dirty |= _WORKLOAD_MOVED
                else:
                    changed.add(change.new.uid)
        dirty |= _ALWAYS

    def _on_steps(self, steps: Iterable[Step]) -> None:
        self._pending_steps.extend(steps)
        overflow = len(self._pending_steps) - self.max_timeline
        if overflow > 0:
            # The timeline would drop these anyway; a long pause must not grow memory.
            del self._pending_steps[:overflow]
            self.dropped_steps += overflow

    def _on_hazards(self, hazards: Iterable[Hazard]) -> None:
        self._pending_hazards.extend(hazards)

    # -- pause -------------------------------------------------------------------------
    @property
    def buffered(self) -> Buffered:
        if not self.paused:
            return Buffered()
        return Buffered(
            events=self.session.pipeline.events - self._events_at_pause,
            steps=len(self._pending_steps),
            hazards=len({h.key for h in self._pending_hazards}),
        )

    def pause(self) -> None:
        if self.paused:
            return
        self.paused = True
        self.paused_at = self.session.clock()
        self._events_at_pause = self.session.pipeline.events
        self._dirty.add(STATUS)

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.paused_at = None
        self._dirty.update(STORE_PANES | {TIMELINE, HAZARDS, STATUS, TREE_ROWS, LANES_PAINT})

    @property
    def now(self) -> float:
        """The view's "now": frozen while paused, so ages and lanes stand still too."""
        return self.paused_at if self.paused_at is not None else self.session.clock()

    # -- draining (the app's timer) ------------------------------------------------------
    def mark(self, *panes: str) -> None:
        self._dirty.update(panes)

    def drain(self) -> set[str]:
        """Apply what arrived since the last drain; return the panes to redraw."""
        if self.paused:
            dirty = self._dirty & {STATUS}
            self._dirty -= dirty
            self._changed.clear()  # resume repaints everything anyway
            self.changed_uids = set()
            return dirty
        new = [Entry(s.t, step=s) for s in self._pending_steps]
        if self._pending_hazards:
            for hazard in self._pending_hazards:
                if hazard.key not in self.hazards:
                    new.append(Entry(hazard.t, hazard_key=hazard.key))
                    self.hazard_uids.setdefault(hazard.uid, []).append(hazard.key)
                self.hazards[hazard.key] = hazard
            self._pending_hazards = []
            self._dirty.update(_HAZARD_PANES)
        if new:
            # A hazard line goes right after the step that raised it (stable sort).
            new.sort(key=lambda e: e.t)
            self._pending_steps = []
            self.timeline.extend(new)
            overflow = len(self.timeline) - self.max_timeline
            if overflow > 0:
                del self.timeline[:overflow]
                self.dropped_steps += overflow
            self._dirty.update({TIMELINE, STATUS})
        self.changed_uids, self._changed = self._changed, set()
        if len(self.changed_uids) > MAX_CHANGED:
            self._dirty.update({TREE_ROWS, LANES_PAINT})
        if self.focus_uid and self._dirty & {TREE, LANES}:
            # New children of the focused object (a new ReplicaSet, new pods) join it;
            # uids already in the set stay, so deleted pods keep their lines.
            self.focus_uids |= descendants(self.store, self.focus_uid)
        dirty, self._dirty = self._dirty, set()
        return dirty

    def hazards_of(self, uid: str) -> list[Hazard]:
        return [self.hazards[k] for k in self.hazard_uids.get(uid, ())]

    # -- filters -----------------------------------------------------------------------
    def set_filter(self, flt: ViewFilter) -> None:
        self.filter = flt
        self._dirty.update(STORE_PANES | {TIMELINE, STATUS})

    def set_focus(self, uid: str) -> None:
        """Follow `uid` (its subtree) in the timeline and lanes; "" shows everything."""
        self.focus_uid = uid
        self.focus_uids = descendants(self.store, uid) if uid else set()
        self._dirty.update({TIMELINE, LANES, STATUS})
