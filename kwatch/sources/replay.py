"""Reading recordings (docs/recording-format.md) back into KEvent batches, and playing them.

`read_recording(path)` returns a `Recording`: the header, the batches exactly as the
recorder received them (a relist stays one atomic batch), the notes (from the file and
from its sidecar `FILE.notes.jsonl`) and any warnings. Every failure is a one-line
`KwatchError` (exit 1) that names the file and, for a bad line, its number:

* missing / unreadable / empty file, not a recording, unknown format version, corrupt
  gzip data → error;
* a bad line in the middle → error, unless `skip_bad` (then skipped, with a warning);
* a cut-off last line, a batch cut short, a recording never closed (kwatch was killed),
  a gzip stream that just stops → recovered, with a warning: that is how a killed
  recorder leaves its file, and everything before it is good.

`play(recording, sink)` feeds the batches to a sink in order, optionally paced at a
speed factor: replay is just another source.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from kwatch.core.events import JSON, EventSink, EventType, KEvent
from kwatch.sources.errors import KwatchError
from kwatch.sources.record import FORMAT_NAME

SUPPORTED_VERSIONS = (1, 2)  # 1: batches closed by "batch_end"; 2: announced by "batch"
NOTES_FORMAT = "kwatch-notes"
NOTES_SUFFIX = ".notes.jsonl"
_CHUNK = 1 << 20
_MAX_LINE = 64 << 20  # no object is that large; a line that is, is not a recording
_GZIP_MAGIC = b"\x1f\x8b"
_EVENT_TYPES = {t.value: t for t in EventType}


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    kwatch: str
    source: str
    scope: JSON
    start: float
    title: str = ""

    def scope_text(self) -> str:
        namespaces = self.scope.get("namespaces")
        text = ",".join(namespaces) if namespaces else "all namespaces"
        selector = self.scope.get("selector")
        return f"{text} -l {selector}" if selector else text


@dataclass(frozen=True, slots=True)
class Batch:
    events: tuple[KEvent, ...]
    line: int  # line number of its first event (for error messages)

    @property
    def t(self) -> float:
        return max(ev.t for ev in self.events)


@dataclass(frozen=True, slots=True)
class Note:
    t: float
    text: str
    bookmark: bool
    position: int  # how many batches precede it
    line: int = 0
    sidecar: bool = False  # added during a replay (kept in FILE.notes.jsonl)

    def to_json(self, start: float) -> JSON:
        return {
            "o": self.t - start,
            "note": self.text,
            "bookmark": self.bookmark,
            "at": self.position,
        }


@dataclass
class Recording:
    path: str
    header: Header
    batches: list[Batch]
    notes: list[Note]
    closed: bool  # an end line was read: the recorder was closed cleanly
    end_t: float  # the end line's time, else the last line's
    warnings: list[str] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.header.start

    @property
    def events(self) -> int:
        return sum(len(b.events) for b in self.batches)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def notes_path(path: str) -> str:
    return path + NOTES_SUFFIX


# -- physical lines ------------------------------------------------------------------------


def _fail(path: str, message: str) -> KwatchError:
    return KwatchError(f"{path}: {message}", 1)


def _read_chunks(path: str) -> Iterator[bytes]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; a generator owns it
    except OSError as e:
        raise KwatchError(f"cannot read {path}: {e.strerror or e}", 1) from None
    with f:
        while True:
            try:
                chunk = f.read(_CHUNK)
            except OSError as e:
                raise KwatchError(f"cannot read {path}: {e.strerror or e}", 1) from None
            if not chunk:
                return
            yield chunk


def _gunzip(
    path: str,
    chunks: Iterator[bytes],
    skip_bad: bool,
    warnings: list[str],
) -> Iterator[bytes]:
    """Decompress gzip members one after the other; a stream that just stops is fine
    (the recorder sync-flushes, so everything up to the kill is decodable)."""
    d = zlib.decompressobj(31)
    done = 0  # compressed bytes consumed, for messages
    for chunk in chunks:
        while chunk:
            saved = d.copy()
            try:
                out = d.decompress(chunk)
            except zlib.error as e:
                message = f"corrupt gzip data after {done:,} compressed bytes ({e})"
                if not skip_bad:
                    raise _fail(path, message + "; --skip-bad keeps what came before") from None
                yield from _salvage(saved, chunk)
                warnings.append(f"{message}: stopped reading there")
                return
            done += len(chunk) - len(d.unused_data)
            if out:
                yield out
            if not d.eof:
                break
            rest = d.unused_data
            if rest[:2] != _GZIP_MAGIC:
                if rest.strip(b"\0"):
                    warnings.append(f"ignored {len(rest):,} bytes after the gzip stream")
                return
            d = zlib.decompressobj(31)  # another gzip member follows (appended file)
            chunk = rest
    tail = d.flush()
    if tail:
        yield tail


def _salvage(d: Any, chunk: bytes) -> Iterator[bytes]:
    """What decompresses of `chunk` before the corruption (fed in small pieces)."""
    for i in range(0, len(chunk), 64):
        try:
            out = d.decompress(chunk[i : i + 64])
        except zlib.error:
            return
        if out:
            yield out


def _lines(path: str, skip_bad: bool, warnings: list[str]) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, content, ended by a newline) for a plain or gzip file."""
    chunks = _read_chunks(path)
    first = next(chunks, b"")
    if not first:
        raise _fail(path, "the file is empty: not a kwatch recording")

    def raw() -> Iterator[bytes]:
        yield first
        yield from chunks

    data = _gunzip(path, raw(), skip_bad, warnings) if first[:2] == _GZIP_MAGIC else raw()
    number = 0
    pending = b""
    for block in data:
        pending += block
        parts = pending.split(b"\n")
        pending = parts.pop()
        for part in parts:
            number += 1
            yield number, part, True
        if len(pending) > _MAX_LINE:
            raise _fail(
                path,
                f"line {number + 1} is longer than {_MAX_LINE >> 20} MiB: not a kwatch recording",
            )
    if pending:
        yield number + 1, pending, False


# -- records -------------------------------------------------------------------------------


class _BadLine(Exception):
    """A line that is not a valid record (the message says why)."""


def _number(rec: JSON, key: str) -> float:
    value = rec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _BadLine(f'"{key}" is not a number')
    return float(value)


def _parse(line: bytes) -> JSON:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise _BadLine(f"not JSON ({e.msg})") from None
    if not isinstance(rec, dict):
        raise _BadLine("not a JSON object")
    return rec


def _header(path: str, rec: JSON) -> Header:
    if rec.get("format") != FORMAT_NAME:
        raise _fail(path, "not a kwatch recording (line 1 is not a kwatch header)")
    version = rec.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise _fail(
            path,
            f"recording format version {version!r} is not supported by this "
            f"kwatch (it reads versions {known}); a newer kwatch may read it",
        )
    try:
        start = _number(rec, "start")
    except _BadLine:
        raise _fail(path, 'line 1: the header has no valid "start" time') from None
    scope = rec.get("scope")
    return Header(
        version=version,
        kwatch=str(rec.get("kwatch", "")),
        source=str(rec.get("source", "")),
        scope=scope if isinstance(scope, dict) else {},
        start=start,
        title=str(rec.get("title") or ""),
    )


def _event(rec: JSON, start: float) -> KEvent:
    kind = rec.get("k")
    if not isinstance(kind, str) or not kind:
        raise _BadLine('"k" (kind) is not a name')
    etype = _EVENT_TYPES.get(rec.get("e"))  # type: ignore[arg-type]
    if etype is None:
        raise _BadLine(f'"e" is not an event type: {rec.get("e")!r}')
    rv = rec.get("rv", "")
    if not isinstance(rv, str):
        raise _BadLine('"rv" is not a string')
    obj = rec.get("obj", {})
    if not isinstance(obj, dict):
        raise _BadLine('"obj" is not an object')
    meta = obj.get("metadata", {})
    if not isinstance(meta, dict):
        raise _BadLine('"obj.metadata" is not an object')
    for key in ("name", "namespace", "uid", "resourceVersion"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise _BadLine(f'"obj.metadata.{key}" is not a string')
    return KEvent(start + _number(rec, "o"), kind, etype, obj, rv)


@dataclass
class _Builder:
    """Groups event lines into batches as the recorder wrote them."""

    path: str
    header: Header
    skip_bad: bool
    warnings: list[str]
    batches: list[Batch] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    closed: bool = False
    last_t: float = 0.0
    # v2: an announced batch being filled: (line, expected size, events so far)
    group: tuple[int, int, list[KEvent]] | None = None
    # v1: events not known yet to be singles (a later batch_end may claim them)
    loose: list[tuple[int, KEvent]] = field(default_factory=list)

    def add(self, number: int, rec: JSON) -> None:
        o = _number(rec, "o")
        self.last_t = max(self.last_t, self.header.start + o)
        if "k" in rec or "e" in rec:
            ev = _event(rec, self.header.start)
            self.closed = False  # events after an end line: appended to, after all
            if self.group is not None:
                self.group[2].append(ev)
                if len(self.group[2]) == self.group[1]:
                    self.batches.append(Batch(tuple(self.group[2]), self.group[0]))
                    self.group = None
            elif self.header.version == 1:
                self.loose.append((number, ev))
            else:
                self.batches.append(Batch((ev,), number))
        elif "batch" in rec:
            size = rec["batch"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise _BadLine('"batch" is not a positive count')
            self._close_group(number)
            self.group = (number + 1, size, [])
        elif "batch_end" in rec:
            size = rec["batch_end"]
            if (
                isinstance(size, bool)
                or not isinstance(size, int)
                or not 1 <= size <= len(self.loose)
            ):
                raise _BadLine(f'"batch_end" {size!r} does not close the events before it')
            self._flush_loose(keep=size)
            events = self.loose
            self.batches.append(Batch(tuple(ev for _, ev in events), events[0][0]))
            self.loose = []
        elif "note" in rec:
            text = rec["note"]
            if not isinstance(text, str):
                raise _BadLine('"note" is not text')
            self._close_group(number)  # the recorder never writes a note inside a batch
            self._flush_loose()
            self.notes.append(
                Note(
                    self.header.start + o,
                    text,
                    rec.get("bookmark") is True,
                    len(self.batches),
                    number,
                )
            )
        elif rec.get("end") is True:
            self._close_group(number)
            self._flush_loose()
            self.closed = True
        # Lines of other shapes are ignored: later writers may add record types that
        # older readers can skip (docs/recording-format.md, "Compatibility").

    def skipped(self) -> None:
        """A bad line was skipped: inside an announced batch, it was one of its events."""
        if self.group is None:
            return
        line, size, events = self.group
        self.group = (line, size - 1, events)
        if len(events) >= size - 1:
            self._close_group(0)

    def _flush_loose(self, keep: int = 0) -> None:
        """v1: loose events not claimed by a batch_end are single-event batches."""
        singles = self.loose[: len(self.loose) - keep]
        self.batches.extend(Batch((ev,), n) for n, ev in singles)
        self.loose = self.loose[len(singles) :]

    def _close_group(self, number: int) -> None:
        if self.group is None:
            return
        line, size, events = self.group
        message = f"line {line - 1}: a batch of {size} events has only {len(events)}"
        if not self.skip_bad and number:
            raise _BadLine(message)
        if events:
            self.batches.append(Batch(tuple(events), line))
        self.group = None

    def finish(self) -> None:
        if self.group is not None:
            line, size, events = self.group
            self.warnings.append(
                f"the last batch (line {line - 1}) was cut short: {len(events)} of {size} "
                "events were written; replaying them as one batch"
            )
            self._close_group(0)
        self._flush_loose()


def read_recording(
    path: str | os.PathLike[str], *, skip_bad: bool = False, with_notes: bool = True
) -> Recording:
    """Read a whole recording (and its sidecar notes); raise KwatchError if unusable."""
    # Reading builds hundreds of thousands of long-lived dicts: collector passes over
    # them meanwhile are pure overhead (they made reading 6x slower).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _read(os.fspath(path), skip_bad, with_notes)
    finally:
        if paused:
            gc.enable()


def _read(path: str, skip_bad: bool, with_notes: bool) -> Recording:
    warnings: list[str] = []
    lines = _lines(path, skip_bad, warnings)
    first = next(lines, None)
    if first is None:
        raise _fail(path, warnings[-1] if warnings else "the file is empty: not a kwatch recording")
    _, content, complete = first
    try:
        rec = _parse(content)
    except _BadLine:
        if not complete and content.startswith(b'{"format":"kwatch-recording"'):
            raise _fail(path, "the header line is cut off: nothing was recorded") from None
        raise _fail(path, "not a kwatch recording (line 1 is not a kwatch header)") from None
    header = _header(path, rec)
    builder = _Builder(path, header, skip_bad, warnings, last_t=header.start)
    skipped: list[str] = []
    for number, content, complete in lines:
        if not content.strip():
            continue
        try:
            builder.add(number, _parse(content))
        except _BadLine as e:
            if not complete:
                warnings.append(
                    f"line {number} is cut off (the recording ends mid-line); ignored it"
                )
                break
            if not skip_bad:
                raise _fail(
                    path, f"line {number}: corrupt record: {e}; --skip-bad skips bad lines"
                ) from None
            skipped.append(f"line {number}: {e}")
            builder.skipped()
    builder.finish()
    if skipped:
        warnings.append(
            f"skipped {len(skipped)} bad line{'s' if len(skipped) > 1 else ''} "
            f"(first: {skipped[0]})"
        )
    if not builder.closed:
        warnings.append(
            "the recording was not closed (kwatch was stopped abruptly?): "
            "replaying everything written up to then"
        )
    notes = builder.notes
    if with_notes:
        notes = sorted(
            [*notes, *read_notes(notes_path(path), header.start, warnings)],
            key=lambda n: (n.position, n.t),
        )
    return Recording(path, header, builder.batches, notes, builder.closed, builder.last_t, warnings)


# -- sidecar notes --------------------------------------------------------------------------


def read_notes(path: str, start: float, warnings: list[str]) -> list[Note]:
    """Notes added during replays. A bad sidecar never stops a replay: warn, skip."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        warnings.append(f"cannot read notes {path}: {e.strerror or e}")
        return []
    notes: list[Note] = []
    bad = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = _parse(line)
            if rec.get("format") == NOTES_FORMAT:
                continue
            text, at = rec.get("note"), rec.get("at")
            if not isinstance(text, str) or isinstance(at, bool) or not isinstance(at, int):
                raise _BadLine("not a note")
            notes.append(
                Note(
                    start + _number(rec, "o"),
                    text,
                    rec.get("bookmark") is True,
                    max(0, at),
                    number,
                    sidecar=True,
                )
            )
        except _BadLine:
            bad += 1
    if bad:
        warnings.append(f"{path}: ignored {bad} bad line{'s' if bad > 1 else ''}")
    return notes


class NotesFile:
    """Appends notes taken during a replay to FILE.notes.jsonl.

    Why a sidecar and not the recording: the recording stays exactly what was observed
    (it may be attached to an incident, compressed, or read-only); notes are a layer
    on top that `kwatch replay` and `kwatch export` merge back in.
    """

    def __init__(self, recording_path: str, start: float) -> None:
        self.path = notes_path(recording_path)
        self.start = start

    def append(self, note: Note) -> None:
        """Raise OSError if the sidecar cannot be written."""
        new = not os.path.exists(self.path)
        with open(self.path, "ab") as f:
            if new:
                f.write(orjson.dumps({"format": NOTES_FORMAT, "version": 1}) + b"\n")
            f.write(orjson.dumps(note.to_json(self.start)) + b"\n")


# -- playing ------------------------------------------------------------------------------


Sleep = Callable[[float], Awaitable[Any]]


async def play(
    recording: Recording,
    sink: EventSink,
    *,
    speed: float | None = None,
    on_note: Callable[[Note], None] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Feed every batch to `sink` in order; with `speed`, wait the recorded gaps / speed.

    Notes go to `on_note` where they were taken (between the batches around them).
    """
    notes = list(recording.notes)
    n = 0
    last = recording.start
    for position, batch in enumerate(recording.batches):
        while on_note is not None and n < len(notes) and notes[n].position <= position:
            on_note(notes[n])
            n += 1
        if speed is not None and batch.t > last:
            await sleep((batch.t - last) / speed)
        last = max(last, batch.t)
        sink(batch.events)
    while on_note is not None and n < len(notes):
        on_note(notes[n])
        n += 1
