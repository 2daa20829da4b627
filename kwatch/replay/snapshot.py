"""Checkpoints of a Pipeline's state (for going backwards), and a comparable store picture.

Going backwards in a replay means "the pipeline as it was after batch N". Steps and
hazards are derived from the store's history (lanes, the hazard tracker's endpoint
state, the once-per-object memory), so the only exact way there is to re-apply
batches: from the nearest checkpoint at or before N.

A checkpoint is a deep copy of the pipeline's state (everything but its listeners and
clock). Rows, Events' rows and hazards are frozen, so the copy shares them instead of
copying them: a checkpoint costs the indexes and lanes, not the objects.

Restoring refills the *same* Store and HazardTracker objects (their ``__dict__``), not
new ones: views keep references to ``pipeline.store`` and must see the restored state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kwatch.core.pipeline import Pipeline
from kwatch.core.rows import Row
from kwatch.core.store import Store

_STORE = "store"
_HAZARDS = "hazards"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int  # batches applied when it was taken
    state: dict[str, Any]  # pipeline attributes; store and tracker as their __dict__
    shared: tuple[object, ...]  # immutable objects the state refers to (kept, not copied)

    def memo(self) -> dict[int, Any]:
        return {id(o): o for o in self.shared}


def _immutables(pipeline: Pipeline) -> tuple[object, ...]:
    store = pipeline.store
    rows = [row for kind in list(store.counts()) for row in store.rows(kind).values()]
    return (*rows, *pipeline.hazards.hazards)


def _state(pipeline: Pipeline) -> dict[str, Any]:
    # Listeners and the clock are callables: they belong to whoever runs the pipeline.
    state = {k: v for k, v in vars(pipeline).items() if not callable(v)}
    state[_STORE] = vars(pipeline.store)
    state[_HAZARDS] = vars(pipeline.hazards)
    return state


def take(pipeline: Pipeline, position: int) -> Checkpoint:
    shared = _immutables(pipeline)
    memo = {id(o): o for o in shared}
    return Checkpoint(position, copy.deepcopy(_state(pipeline), memo), shared)


def restore(pipeline: Pipeline, checkpoint: Checkpoint) -> None:
    """Make `pipeline` what it was at the checkpoint (the checkpoint stays reusable)."""
    state = copy.deepcopy(checkpoint.state, checkpoint.memo())
    for target, key in ((pipeline.store, _STORE), (pipeline.hazards, _HAZARDS)):
        fresh = state.pop(key)
        vars(target).clear()
        vars(target).update(fresh)
    for key, value in state.items():
        setattr(pipeline, key, value)


# -- comparing stores ----------------------------------------------------------------------


def store_picture(store: Store) -> dict[str, Any]:
    """What the views can read of a store, as plain comparable values.

    Two stores with equal pictures show the same thing: rows by (kind, key), lanes with
    every mark, endpoint memberships, the Events filed per object, and which views
    have been listed. (Used to check that replay at T equals live at T.)
    """
    rows: dict[tuple[str, str], Row] = {}
    for kind in sorted(store.counts()):
        for key, row in store.rows(kind).items():
            rows[(kind, key)] = row
    uids = sorted({row.uid for row in rows.values() if row.uid})
    lanes = {
        uid: (lane.namespace, lane.name, lane.node, lane.gone, tuple(lane.entries))
        for uid, lane in store.lanes.items()
    }
    return {
        "rows": rows,
        "lanes": lanes,
        "lane_order": list(store.lanes),
        "endpoints": {u: frozenset(store.endpoints_of_pod(u)) for u in uids},
        "events": {u: store.events_for(u) for u in uids},
        "synced": store.synced_views,
        "relists": dict(store.relists),
        "lists": dict(store.lists),
    }
