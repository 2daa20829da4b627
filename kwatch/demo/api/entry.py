"""One stored object version, and one committed change to a collection.

Objects are kept as their orjson bytes plus the few parsed fields that list filtering,
watch fan-out and garbage collection need. Serving a LIST then only joins bytes, and a
pod costs its ~5 KB of JSON instead of ~25 KB of Python dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

JSON = dict[str, Any]


class Entry:
    __slots__ = ("alt", "data", "fields", "key", "labels", "namespace", "owners", "rv", "uid")

    def __init__(
        self,
        key: str,
        data: bytes,
        rv: int,
        *,
        namespace: str,
        uid: str,
        labels: dict[str, str],
        fields: dict[str, str],
        owners: tuple[str, ...],
    ) -> None:
        self.key = key
        self.data = data
        self.rv = rv
        self.namespace = namespace
        self.uid = uid
        self.labels = labels
        self.fields = fields
        self.owners = owners
        # Bytes of the object as another API version presents it (events.k8s.io), lazily.
        self.alt: bytes | None = None

    def obj(self) -> JSON:
        """A private, mutable copy of the stored object."""
        result: JSON = orjson.loads(self.data)
        return result


EventLineCache = dict[tuple[str, str], bytes]


class Change:
    """A committed ADDED / MODIFIED / DELETED, kept in the history for watch replay.

    `entry` is the state after the change (for DELETED: the last state, stamped with the
    deletion's resourceVersion, as the real watch cache sends it); `prev` the state
    before it, which is also what paged lists need to rebuild an older snapshot.
    """

    __slots__ = ("_lines", "entry", "key", "prev", "rv", "type")

    def __init__(self, type_: str, entry: Entry, prev: Entry | None) -> None:
        self.type = type_
        self.rv = entry.rv
        self.key = entry.key
        self.entry = entry
        self.prev = prev
        self._lines: EventLineCache | None = None

    def line(self, type_: str, view: str, render: Callable[[Entry], bytes]) -> bytes:
        """The watch line for this change as event `type_`, memoized per type and view
        (`view` names how `render` presents objects: "" for the stored JSON).

        `type_` "LEFT" is a DELETED for a watcher whose selector the object stopped
        matching: the *previous* content with this change's resourceVersion.
        """
        cache = self._lines
        if cache is None:
            cache = self._lines = {}
        hit = cache.get((type_, view))
        if hit is not None:
            return hit
        if type_ == "LEFT":
            assert self.prev is not None
            old = self.prev.obj()
            old.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            left = Entry(self.key, orjson.dumps(old), self.rv, namespace=self.prev.namespace,
                         uid=self.prev.uid, labels=self.prev.labels, fields=self.prev.fields,
                         owners=self.prev.owners)
            body, name = render(left), "DELETED"
        else:
            body, name = render(self.entry), type_
        line = b'{"type":"' + name.encode() + b'","object":' + body + b"}\n"
        cache[(type_, view)] = line
        return line
