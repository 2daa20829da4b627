"""A Markdown transcript of a recording: notes, hazards, steps, lifecycle lanes."""

from __future__ import annotations

from kwatch.headless import format_details
from kwatch.replay.transcript import (
    LANE_LEGEND,
    Transcript,
    lane_ascii,
    lane_marks_text,
)

LANE_WIDTH = 72


def _cell(text: str) -> str:
    """Table-safe: pipes would split the cell, newlines would end the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _obj(kind: str, namespace: str, name: str) -> str:
    if not name:
        return kind
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def render_markdown(tr: Transcript) -> str:
    out: list[str] = [f"# kwatch recording: {_cell(tr.title)}", ""]
    out += [
        f"- File: `{tr.file}` (source: {tr.source}, scope: {tr.scope}, kwatch {tr.kwatch})",
        f"- Started: {tr.started}",
        f"- {tr.summary()}",
    ]
    if not tr.closed:
        out.append("- The recording was not closed cleanly (kwatch was stopped abruptly).")
    out.append("")

    if tr.notes:
        out += ["## Notes", ""]
        for n in tr.notes:
            mark = "★ " if n.bookmark else ""
            added = " *(added in replay)*" if n.sidecar else ""
            out.append(f"- `{tr.offset(n.t)}` {mark}{_cell(n.text)}{added}")
        out.append("")

    out += ["## Hazards", ""]
    if tr.hazards:
        out += ["| raised | hazard | pod | window | what happened |", "|---|---|---|---|---|"]
        for h in tr.hazards:
            window = "open" if h.open else (f"{h.window_s:.3f}s" if h.window_s is not None else "")
            out.append(
                f"| `{tr.offset(h.t)}` | {h.kind} | {_cell(h.namespace)}/{_cell(h.name)} "
                f"| {window} | {_cell(h.message)} |"
            )
    else:
        out.append("None.")
    out.append("")

    out += ["## Controller steps", ""]
    if tr.steps:
        out += ["| # | time | actor | step | object | details |", "|---:|---|---|---|---|---|"]
        for i, s in enumerate(tr.steps, start=1):
            out.append(
                f"| {i} | `{tr.offset(s.t)}` | {_cell(s.actor)} | {s.step} | "
                f"{_cell(_obj(s.kind, s.namespace, s.name))} | {_cell(format_details(s.details))} |"
            )
    else:
        out.append("No controller steps.")
    out.append("")

    out += ["## Pod lifecycle lanes", ""]
    if tr.lanes:
        t0, t1 = tr.start, max(tr.at, tr.start + 1e-3)
        name_w = min(40, max(len(ln.name) for ln in tr.lanes))
        axis = f"+0s{' ' * (LANE_WIDTH - 3 - len(tr.moment))}{tr.moment}"
        out += ["```text", f"{'pod':<{name_w}}  {axis}"]
        for ln in tr.lanes:
            out.append(f"{ln.name[:name_w]:<{name_w}}  {lane_ascii(ln, t0, t1, LANE_WIDTH)}")
        out += ["```", "", f"*{LANE_LEGEND}*", ""]
        for ln in tr.lanes:
            where = f" on {ln.node}" if ln.node else ""
            out.append(
                f"- **{_cell(ln.namespace)}/{_cell(ln.name)}**{where}: "
                f"{_cell(lane_marks_text(ln, tr.start))}"
            )
    else:
        out.append("No pod lanes.")
    out.append("")
    return "\n".join(out)
