"""Per-reflector health: what the status bar and `kwatch doctor`-style output show.

One ``KindHealth`` per (kind, namespace) reflector. The engine mutates it in place (it
is the only writer); readers get the same object, so they always see current values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

State = Literal["syncing", "synced", "backing-off", "unavailable"]


def health_key(kind: str, namespace: str) -> str:
    """Key of a reflector in ``WatchEngine.health``: "Pod" or "Pod/team-a"."""
    return f"{kind}/{namespace}" if namespace else kind


@dataclass(slots=True)
class KindHealth:
    kind: str
    namespace: str  # "" when the reflector spans all namespaces or the kind is cluster-scoped
    state: State = "syncing"
    reason: str = ""  # why we are backing off / unavailable; last error otherwise
    next_retry_at: float | None = None  # clock() time of the next attempt while not healthy
    resource_version: str = ""  # last resourceVersion seen (list, event or bookmark)
    relists: int = 0  # lists after the first one (410 Gone, RBAC regained, crash)
    reconnects: int = 0  # watches re-opened without a relist
    restarts: int = 0  # unexpected exceptions the supervisor recovered from
    malformed: int = 0  # watch lines that were not a valid watch event
    events: int = 0  # objects delivered to the sink (list items + watch events)
    last_event_at: float | None = None  # clock() time we last heard from the server

    @property
    def key(self) -> str:
        return health_key(self.kind, self.namespace)

    @property
    def healthy(self) -> bool:
        return self.state == "synced"

    def summary(self) -> str:
        """One line for the status bar, e.g. ``Pod ✓ rv 1234 · 3 relists``."""
        if self.state == "synced":
            head = f"{self.key} ✓"
        elif self.state == "syncing":
            head = f"{self.key} syncing…"
        else:
            head = f"{self.key} {self.state}"
            if self.reason:
                head += f": {self.reason}"
        extras = [
            f"{n} {label}"
            for n, label in (
                (self.relists, "relists"),
                (self.reconnects, "reconnects"),
                (self.restarts, "restarts"),
                (self.malformed, "malformed"),
            )
            if n
        ]
        return " · ".join([head, *extras])


def overall_summary(healths: Iterable[KindHealth]) -> str:
    """The whole engine in one line: all good, or the reflectors that are not."""
    items = list(healths)
    if not items:
        return "not watching"
    bad = [h for h in items if h.state != "synced"]
    if not bad:
        return f"watching {len(items)} ✓"
    return f"{len(items) - len(bad)}/{len(items)} synced · " + " · ".join(h.summary() for h in bad)
