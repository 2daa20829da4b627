"""KEvent: the one normalized event type every source yields (live watch, replay, demo).

Sources emit *batches* (``Sequence[KEvent]``) to a sink; a batch is applied to the store
as a unit, which is how a relist swaps a kind's view atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    # Markers (obj is empty): a (re)list of `kind` is complete / a relist begins.
    LISTED = "LISTED"
    RESET = "RESET"


@dataclass(frozen=True, slots=True)
class KEvent:
    t: float  # wall-clock seconds (epoch) when observed; replay restores the recorded time
    kind: str  # "Pod", "Deployment", ... (see kwatch.core.kinds)
    type: EventType
    obj: JSON = field(default_factory=dict)  # slimmed object (see kwatch.core.slim)
    resource_version: str = ""

    @property
    def is_marker(self) -> bool:
        return self.type in (EventType.LISTED, EventType.RESET)

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", "") or "")

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", "") or "")

    @property
    def uid(self) -> str:
        return str(self.obj.get("metadata", {}).get("uid", "") or "")


EventSink = Callable[[Sequence[KEvent]], None]


def object_key(obj: JSON) -> str:
    """namespace/name (or name for cluster-scoped objects), as client-go's cache keys."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{ns}/{name}" if ns else str(name)


def fan_out(sinks: Sequence[EventSink]) -> EventSink:
    """One sink feeding several, in order (e.g. recorder first, then the pipeline)."""

    def sink(batch: Sequence[KEvent]) -> None:
        for s in sinks:
            s(batch)

    return sink
