"""An asciicast v2 of the step log: the headless text lines, at their recorded times.

Play it with `asciinema play FILE.cast` or embed it with asciinema-player. Times are
seconds since the recording started, so the cast runs at the recording's pace; hazards
and notes are coloured lines between the steps.
"""

from __future__ import annotations

import orjson

from kwatch.headless import format_step_text
from kwatch.replay.transcript import Transcript

DEFAULT_SIZE = (120, 40)
_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_RED = "\x1b[1;31m"
_YELLOW = "\x1b[1;33m"
_CYAN = "\x1b[36m"


def _line(color: str, text: str) -> str:
    return f"{color}{text}{_RESET}\r\n"


def render_cast(tr: Transcript, size: tuple[int, int] = DEFAULT_SIZE) -> str:
    width, height = size
    header = {
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": int(tr.start),
        "title": f"kwatch: {tr.title}",
        "env": {"TERM": "xterm-256color"},
    }
    # (time, order, text): order keeps a hazard after the step that raised it.
    events: list[tuple[float, int, str]] = [
        (0.0, 0, _line(_DIM, f"# kwatch replay of {tr.file} ({tr.source}, {tr.scope})"))
    ]
    for s in tr.steps:
        text = format_step_text(s, tr.start)
        events.append((s.t - tr.start, 1, _line(_CYAN if s.actor == "kwatch" else "", text)))
    for h in tr.hazards:
        events.append((h.t - tr.start, 2, _line(_RED, f"⚠ {h.kind}: {h.message}")))
    for n in tr.notes:
        mark = "★ " if n.bookmark else ""
        events.append((n.t - tr.start, 0, _line(_YELLOW, f"# {mark}{n.text}")))
    events.sort(key=lambda e: (e[0], e[1]))
    lines = [orjson.dumps(header)]
    last = 0.0
    for t, _, text in events:
        last = max(last, t)  # asciicast times never go backwards
        lines.append(orjson.dumps([round(last, 6), "o", text]))
    return "\n".join(line.decode() for line in lines) + "\n"
