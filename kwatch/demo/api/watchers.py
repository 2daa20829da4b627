"""Per-watch state: its filters and the bounded queue storage feeds synchronously.

Storage pushes ready-made lines at commit time, so a watch stream only has to drain and
write. A watcher that falls `max_pending` events behind is closed (its stream ends),
as the real watch cache does with unresponsive watchers: the client re-watches from
the last resourceVersion it saw.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from kwatch.core.labels import Selector
from kwatch.demo.api.entry import Change, Entry
from kwatch.demo.api.selectors import FieldSelector


class Watcher:
    def __init__(
        self,
        *,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        view: str,
        render: Callable[[Entry], bytes],
        max_pending: int,
    ) -> None:
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.view = view
        self.render = render
        self.max_pending = max_pending
        self.pending: deque[bytes] = deque()
        # History a resumed watch replays, rendered only as the stream drains it: a
        # backlog of 30k pods would otherwise be ~150 MB of lines before the first write.
        self.backlog: deque[tuple[Change, str]] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.overflowed = False
        # The snapshot a watch starts with (sent before `pending`), and the RV of the
        # "initial-events-end" bookmark that follows it when sendInitialEvents was asked.
        self.initial: list[Entry] = []
        self.initial_end_rv: int | None = None
        # The resourceVersion this watcher is known to be at: the RV it started from or
        # of the last event queued. A bookmark is only worth sending past it.
        self.last_rv = 0
        # Changes at or below this resourceVersion are not for this watcher (a watch from
        # a version the server has not reached yet starts after it).
        self.after_rv = 0

    def matches(self, entry: Entry) -> bool:
        if self.namespace is not None and entry.namespace != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(entry.labels):
            return False
        return self.fields is None or self.fields.matches(entry.fields)

    def event_type(self, change: Change) -> str | None:
        """Which event this watcher sees for `change`, following the cacher's rules:
        an object entering the selection is ADDED, one leaving it is DELETED."""
        if change.type == "ADDED":
            return "ADDED" if self.matches(change.entry) else None
        if change.type == "DELETED":
            return "DELETED" if self.matches(change.entry) else None
        now = self.matches(change.entry)
        before = change.prev is not None and self.matches(change.prev)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "LEFT" if before else None

    def offer(self, change: Change) -> None:
        if self.closed or change.rv <= self.after_rv:
            return
        kind = self.event_type(change)
        if kind is not None:
            self.push(change.line(kind, self.view, self.render))
            self.last_rv = change.rv

    def replay(self, changes: list[Change]) -> None:
        """Queue history a watch resumes from (catching up does not count as lag)."""
        for change in changes:
            kind = self.event_type(change)
            if kind is not None:
                self.backlog.append((change, kind))
                self.last_rv = change.rv
        if self.backlog:
            self.wakeup.set()

    @property
    def has_pending(self) -> bool:
        return bool(self.backlog or self.pending)

    def push(self, line: bytes) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.max_pending:
            self.overflowed = True
            self.close()
            return
        self.pending.append(line)
        self.wakeup.set()

    def drain(self, max_bytes: int = 1 << 20) -> list[bytes]:
        """The next lines to send: replayed history first (about `max_bytes` of it per
        call), then everything queued live."""
        if self.backlog:
            lines: list[bytes] = []
            size = 0
            backlog = self.backlog
            while backlog and size < max_bytes:
                change, kind = backlog.popleft()
                line = change.line(kind, self.view, self.render)
                lines.append(line)
                size += len(line)
            return lines
        lines = list(self.pending)
        self.pending.clear()
        self.wakeup.clear()
        return lines

    def close(self) -> None:
        self.closed = True
        if self.overflowed:
            # Unsent events are replayed when the client re-watches.
            self.pending.clear()
            self.backlog.clear()
        self.wakeup.set()
