"""Recorder: a tee of KEvents into a JSON Lines file (``.gz`` by extension).

Format (docs/recording-format.md): a header line, then one line per KEvent with a time
offset from the start, plus note/bookmark marker lines. Every line is flushed (and, for
gzip, sync-flushed) as it is written, so a killed process loses nothing already written.
Objects arrive already slimmed and redacted (kwatch.core.slim); Secrets are dropped here
as a second line of defence.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from kwatch import __version__
from kwatch.core.events import KEvent
from kwatch.core.slim import slim

FORMAT_NAME = "kwatch-recording"
FORMAT_VERSION = 1


class Recorder:
    """An EventSink that appends every batch to a recording file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scope: dict[str, Any],
        source: str = "live",
        clock: float | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._gz = self.path.endswith(".gz")
        self._raw: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._gzip: gzip.GzipFile | None = (
            gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0) if self._gz else None
        )
        self.start = clock if clock is not None else time.time()
        self.lines = 0
        self._write(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "kwatch": __version__,
                "source": source,
                # Scope only: namespaces and selector. Never the server URL or credentials.
                "scope": scope,
                "start": self.start,
                "started": datetime.fromtimestamp(self.start, UTC).isoformat(),
            }
        )

    def _write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        if self._gzip is not None:
            self._gzip.write(line)
            # Z_SYNC_FLUSH makes everything so far decodable even if we are killed.
            self._gzip.flush(zlib.Z_SYNC_FLUSH)
        else:
            self._raw.write(line)
        self._raw.flush()
        self.lines += 1

    def __call__(self, batch: Sequence[KEvent]) -> None:
        for ev in batch:
            if ev.obj.get("kind") == "Secret":
                continue
            rec: dict[str, Any] = {
                "o": round(ev.t - self.start, 6),
                "k": ev.kind,
                "e": ev.type.value,
            }
            if ev.resource_version:
                rec["rv"] = ev.resource_version
            if ev.obj:
                # slim() is idempotent; re-applying it guards against a source that forgot.
                rec["obj"] = slim(ev.obj)
            self._write(rec)
        if len(batch) > 1:
            # Mark batch ends so replay can re-apply a relist as one atomic batch.
            self._write({"o": round(batch[-1].t - self.start, 6), "batch_end": len(batch)})

    def note(self, text: str, *, t: float | None = None, bookmark: bool = False) -> None:
        now = t if t is not None else time.time()
        self._write({"o": round(now - self.start, 6), "note": text, "bookmark": bookmark})

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        self._raw.close()


