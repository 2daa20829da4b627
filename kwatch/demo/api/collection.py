"""The objects of one resource type: current state, bounded history, watchers.

Keys are `namespace/name` (or `name`), kept sorted so lists come out in etcd's key order
and a namespace is one contiguous slice. The history holds the last `history_size`
changes; anything older is compacted, so a watch or a paged list that needs it gets
410 Expired, like etcd compaction in a real cluster.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterator

from kwatch.demo.api.entry import Change, Entry
from kwatch.demo.api.registry import ResourceDef
from kwatch.demo.api.watchers import Watcher


def object_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


class TooOld(Exception):
    """The requested resourceVersion has been compacted out of the history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Collection:
    def __init__(self, rdef: ResourceDef, history_size: int) -> None:
        self.rdef = rdef
        self.history_size = max(1, history_size)
        self.entries: dict[str, Entry] = {}
        self.keys: list[str] = []
        self.history: deque[Change] = deque()
        # Every change with rv > compacted_rv is still in `history`.
        self.compacted_rv = 0
        self.watchers: set[Watcher] = set()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    # -- writes -------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Make `change` the current state, remember it, and tell the watchers."""
        key = change.key
        if change.type == "DELETED":
            if self.entries.pop(key, None) is not None:
                i = bisect.bisect_left(self.keys, key)
                del self.keys[i]
        else:
            if key not in self.entries:
                bisect.insort(self.keys, key)
            self.entries[key] = change.entry
        self.history.append(change)
        if len(self.history) > self.history_size:
            self.compacted_rv = self.history.popleft().rv
        for w in self.watchers:
            w.offer(change)

    def load(self, entries: list[Entry], compacted_rv: int) -> None:
        """Bulk insert of new keys without history: older resourceVersions become too
        old. Sorting once beats an insort per key by far for tens of thousands."""
        for e in entries:
            self.entries[e.key] = e
        self.keys.extend(e.key for e in entries)
        self.keys.sort()
        self.history.clear()
        self.compacted_rv = compacted_rv

    def compact(self, rv: int) -> None:
        self.history.clear()
        self.compacted_rv = max(self.compacted_rv, rv)

    # -- reads --------------------------------------------------------------------

    def span(self, namespace: str | None) -> tuple[int, int]:
        """Index range of `keys` holding `namespace` (everything when None)."""
        if not namespace or not self.rdef.namespaced:
            return 0, len(self.keys)
        # '0' sorts right after '/', so [ns/, ns0) is exactly the namespace's keys.
        lo = bisect.bisect_left(self.keys, namespace + "/")
        hi = bisect.bisect_left(self.keys, namespace + "0", lo)
        return lo, hi

    def check_rv(self, rv: int) -> None:
        if rv < self.compacted_rv:
            raise TooOld(rv, self.compacted_rv)

    def changes_after(self, rv: int) -> list[Change]:
        """Changes with resourceVersion > rv, oldest first; TooOld if compacted."""
        self.check_rv(rv)
        out: list[Change] = []
        for ch in reversed(self.history):
            if ch.rv <= rv:
                break
            out.append(ch)
        out.reverse()
        return out

    def snapshot(self, rv: int | None, namespace: str | None, start: str) -> Iterator[Entry]:
        """Entries as of resourceVersion `rv` (now when None), from key `start` on.

        Older snapshots are rebuilt from the history: the first change after `rv` to a
        key tells what that key held at `rv` (`prev`, or nothing for an ADDED).
        """
        lo, hi = self.span(namespace)
        first = max(lo, bisect.bisect_left(self.keys, start, lo, hi)) if start else lo
        overlay: dict[str, Entry | None] = {}
        if rv is not None:
            for ch in self.changes_after(rv):
                overlay.setdefault(ch.key, ch.prev)
        current = (self.keys[i] for i in range(first, hi))
        if not overlay:
            for k in current:
                yield self.entries[k]
            return
        ns_prefix = namespace + "/" if namespace and self.rdef.namespaced else ""
        gone = sorted(
            k
            for k, e in overlay.items()
            if e is not None and k not in self.entries and k >= start and k.startswith(ns_prefix)
        )
        for k in heapq.merge(current, gone):
            e = overlay[k] if k in overlay else self.entries[k]
            if e is not None:
                yield e
