"""Recorder: a tee of KEvent batches into a JSON Lines file (``.gz`` by extension).

Format: docs/recording-format.md (version 2). A header line, then one line per KEvent
with its time offset from the start, ``batch`` lines announcing multi-event batches,
note/bookmark lines, and an ``end`` line when the recording is closed cleanly.

Durability: each batch is written and flushed (gzip: sync-flushed, so everything so far
is decodable) before the recorder returns, and sources call the recorder before the
pipeline. So everything kwatch has shown is already on disk when it is shown; a killed
process loses at most the tail of the batch it was writing, which a reader detects.

Redaction happens here, before anything reaches the disk, on top of what
kwatch.core.slim already did (slim is idempotent and re-applied in case a source forgot):
Secrets are dropped, env values and last-applied-configuration go, annotations whose
key names a credential lose their value, and anything that looks like a bearer token, a
JWT (service-account tokens are JWTs) or ``password=…`` inside any string is masked.
The header holds the scope only: never the server address, user or credentials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from kwatch import __version__
from kwatch.core.events import JSON, KEvent
from kwatch.core.slim import REDACTED, slim

log = logging.getLogger(__name__)

FORMAT_NAME = "kwatch-recording"
FORMAT_VERSION = 2
SECRET_KIND = "Secret"
_FLUSH_BYTES = 1 << 16  # inside a huge batch (a 50k-pod list), flush every 64 KiB anyway

# -- redaction --------------------------------------------------------------------------

# Cheap prefilter on the serialized object: only objects that match are walked. (Plain
# substring searches: a case-insensitive regex alternation costs ~70 µs per pod.)
# JSON dict keys are followed by `":`, so `"serviceAccountToken":{` (in every pod's
# projected volume) does not trip the key=value pattern, which only allows an escaped
# quote there (`\"password\": …`: JSON inside a string, e.g. an annotation).
_AFTER_KEY = re.compile(rb'\w*(?:\\")?\s*[:=]')
_KEY_WORDS = (b"token", b"passw", b"secret", b"apikey", b"api_key", b"api-key")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+")
_KEY_VALUE = re.compile(
    r"(?i)\b(\w*(?:token|passw(?:or)?d?|secret|api[-_]?key)\w*)(\"?\s*[:=]\s*)(\"?)([^\s\"',;&}]+)"
)
# Annotation keys that name a credential: their values never reach the disk.
_CREDENTIAL_KEY = re.compile(r"(?i)token|passw|secret|credential|api[-_]?key|auth")


def _suspect(data: bytes) -> bool:
    low = data.lower()
    if b"eyj" in low or b"bearer" in low:
        return True
    for word in _KEY_WORDS:
        i = low.find(word)
        while i >= 0:
            if _AFTER_KEY.match(low, i + len(word)):
                return True
            i = low.find(word, i + 1)
    return False


def scrub_text(text: str) -> str:
    """Mask tokens, JWTs and `password=…` style values inside free text."""
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _redact_annotations(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    ann = meta.get("annotations")
    if not isinstance(ann, dict) or not any(_CREDENTIAL_KEY.search(k) for k in ann):
        return obj
    clean = {k: (REDACTED if _CREDENTIAL_KEY.search(k) else v) for k, v in ann.items()}
    return {**obj, "metadata": {**meta, "annotations": clean}}


def _slim_again(obj: JSON) -> JSON:
    """slim() for an object that sources have (usually) slimmed already.

    slim() is not idempotent for managedFields: summarising a summary drops the fields
    each manager touched (the step deriver's actor rules need them). So summarised
    entries (no ``fieldsV1``) are kept as they are; the rest of slim() — redaction —
    is applied again as a second line of defence.
    """
    meta = obj.get("metadata")
    managed = meta.get("managedFields") if isinstance(meta, dict) else None
    if (
        not isinstance(meta, dict)
        or not isinstance(managed, list)
        or any(not isinstance(e, dict) or "fieldsV1" in e for e in managed)
    ):
        return slim(obj)
    out = slim({**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}})
    out["metadata"]["managedFields"] = managed
    return out


def redact(obj: JSON) -> bytes:
    """The object as it may be written: slimmed, redacted, serialized."""
    clean = _redact_annotations(_slim_again(obj))
    data = orjson.dumps(clean)
    if _suspect(data):
        data = orjson.dumps(_scrub(clean))
    return data


def safe_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Only what describes the scope; anything else a caller passes is dropped."""
    namespaces = scope.get("namespaces")
    selector = scope.get("selector")
    return {
        "namespaces": (
            [str(n) for n in namespaces] if isinstance(namespaces, list | tuple) else None
        ),
        "selector": str(selector) if selector else None,
    }


# -- the recorder ---------------------------------------------------------------------------


def _open_private(path: str) -> BinaryIO:
    # Recordings describe a cluster: readable by their owner only, like a kubeconfig.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


class Recorder:
    """An EventSink that appends every batch to a recording file.

    Write failures (disk full, file removed) never break the watch that feeds the
    recorder: it stops recording, keeps the error in `error` and reports it once to
    `on_error` (default: the log).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scope: Mapping[str, Any],
        source: str = "live",
        clock: float | None = None,
        title: str | None = None,
        on_error: Callable[[str], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        # `now` is the session's clock (the demo's is simulated): notes and the end line
        # without an explicit time are stamped with it, in the same time as the events.
        self._now = now
        self.start = clock if clock is not None else now()
        self._last_o = 0.0
        self.lines = 0
        self.events = 0
        self.error: OSError | None = None
        self._on_error = on_error
        self._lock = threading.Lock()  # notes may come from another thread than batches
        self._closed = False
        self._raw = _open_private(self.path)
        # Raw deflate in a gzip wrapper written by hand: GzipFile would put the file name
        # and a timestamp in the gzip header; we want neither.
        self._deflate = (
            zlib.compressobj(6, zlib.DEFLATED, 31) if self.path.endswith(".gz") else None
        )
        header: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kwatch": __version__,
            "source": source,
            "scope": safe_scope(scope),
            "start": self.start,
            "started": datetime.fromtimestamp(self.start, UTC).isoformat(),
        }
        if title:
            header["title"] = scrub_text(title)
        self._emit([orjson.dumps(header)])

    # -- writing -------------------------------------------------------------------------

    def _offset(self, t: float) -> float:
        # Not rounded: start + (t - start) == t exactly for epoch times (Sterbenz), so a
        # replay reproduces observation times bit for bit.
        o = t - self.start
        self._last_o = max(self._last_o, o)
        return o

    def _emit(self, lines: Sequence[bytes]) -> None:
        """Write lines and flush them to the OS (in 64 KiB chunks for huge batches)."""
        if self._closed or self.error is not None:
            return
        try:
            chunk: list[bytes] = []
            size = 0
            for line in lines:
                chunk.append(line)
                chunk.append(b"\n")
                size += len(line) + 1
                if size >= _FLUSH_BYTES:
                    self._write(b"".join(chunk))
                    chunk, size = [], 0
            if chunk:
                self._write(b"".join(chunk))
            self.lines += len(lines)
        except OSError as e:
            self._fail(e)

    def _write(self, data: bytes) -> None:
        if self._deflate is not None:
            # Z_SYNC_FLUSH: everything so far is decodable even if we are killed now.
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self._raw.write(data)
        self._raw.flush()

    def _fail(self, error: OSError) -> None:
        self.error = error
        message = f"recording to {self.path} stopped: {error.strerror or error}"
        if self._on_error is not None:
            self._on_error(message)
        else:
            log.warning("%s", message)

    def __call__(self, batch: Sequence[KEvent]) -> None:
        events = [e for e in batch if SECRET_KIND not in (e.kind, e.obj.get("kind"))]
        if not events:
            return
        lines: list[bytes] = []
        if len(events) > 1:
            # Announce the batch: replay applies it as one unit (a relist is atomic), and
            # a batch cut short by a kill is detectable.
            lines.append(orjson.dumps({"o": self._offset(events[0].t), "batch": len(events)}))
        for ev in events:
            head = orjson.dumps(
                {"o": self._offset(ev.t), "k": ev.kind, "e": ev.type.value}
                | ({"rv": ev.resource_version} if ev.resource_version else {})
            )
            if ev.obj:
                # Splice the redacted object in without parsing it again.
                head = head[:-1] + b',"obj":' + redact(ev.obj) + b"}"
            lines.append(head)
        with self._lock:
            self._emit(lines)
            self.events += len(events)

    def note(self, text: str, *, t: float | None = None, bookmark: bool = False) -> None:
        """A teacher's note (or the demo's narration) at time t (default: now)."""
        now = t if t is not None else self._now()
        line = {"o": self._offset(now), "note": scrub_text(text), "bookmark": bookmark}
        with self._lock:
            self._emit([orjson.dumps(line)])

    def close(self, *, t: float | None = None) -> None:
        """Write the end line and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            # Never before the last line written (a clock that is not the events' clock
            # would otherwise cut the recording short).
            end = max(self._offset(t if t is not None else self._now()), self._last_o)
            self._emit([orjson.dumps({"o": end, "end": True, "events": self.events})])
            self._closed = True
            try:
                if self._deflate is not None and self.error is None:
                    self._raw.write(self._deflate.flush(zlib.Z_FINISH))
                self._raw.close()
            except OSError as e:
                if self.error is None:  # reported once: a failed file fails again here
                    self._fail(e)
                with contextlib.suppress(OSError):
                    self._raw.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
