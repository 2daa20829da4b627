"""A standalone HTML transcript: notes, hazards, steps, and the lanes as a timeline.

One file, no scripts, no external assets (it gets attached to incidents and opened
offline). Every recorded string is escaped: recordings hold whatever the cluster had.
"""

from __future__ import annotations

from html import escape

from kwatch.headless import format_details
from kwatch.replay.transcript import (
    MARK_CHAR,
    Phase,
    Transcript,
    lane_marks_text,
    lane_segments,
)

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d232a; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #dde2e8; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f3f5f8; } td.t, td.n { font-family: ui-monospace, monospace;
     white-space: nowrap; } td.n { text-align: right; color: #6b7785; }
td.d { font-family: ui-monospace, monospace; font-size: 12px; color: #4b5563; }
tr.kwatch td { color: #6b7785; } .hz { color: #b42318; font-weight: 600; }
.note { background: #fff7d6; padding: .1rem .3rem; }
.lane { position: relative; height: 22px; background: #f6f7f9; border-radius: 3px; }
.seg { position: absolute; top: 3px; height: 16px; }
.p-pending { background: #d0d5dd; } .p-scheduled { background: #98a2b3; }
.p-running { background: #f4c95d; } .p-ready { background: #32b36b; }
.p-terminating { background: #e0524b; }
.mark { position: absolute; top: 0; font: 11px ui-monospace, monospace; color: #111;
        transform: translateX(-50%); }
td.lanename { white-space: nowrap; font-family: ui-monospace, monospace; width: 1%; }
.legend span { display: inline-block; padding: 0 .4rem; margin-right: .3rem; }
"""

_PHASE_CLASS = {
    Phase.PENDING: "p-pending",
    Phase.SCHEDULED: "p-scheduled",
    Phase.RUNNING: "p-running",
    Phase.READY: "p-ready",
    Phase.TERMINATING: "p-terminating",
}


def _obj(kind: str, namespace: str, name: str) -> str:
    if not name:
        return kind
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _pct(t: float, t0: float, span: float) -> str:
    return f"{max(0.0, min(100.0, (t - t0) / span * 100)):.3f}%"


def render_html(tr: Transcript) -> str:
    e = escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>kwatch: {e(tr.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>kwatch recording: {e(tr.title)}</h1>",
        f"<p>File <code>{e(tr.file)}</code> · source {e(tr.source)} · scope {e(tr.scope)} · "
        f"kwatch {e(tr.kwatch)}<br>Started {e(tr.started)} · {e(tr.summary())}</p>",
    ]
    if not tr.closed:
        out.append("<p>The recording was not closed cleanly (kwatch was stopped abruptly).</p>")

    if tr.notes:
        out.append("<h2>Notes</h2><ul>")
        for n in tr.notes:
            mark = "★ " if n.bookmark else ""
            out.append(
                f'<li><code>{e(tr.offset(n.t))}</code> <span class="note">'
                f"{mark}{e(n.text)}</span></li>"
            )
        out.append("</ul>")

    out.append("<h2>Hazards</h2>")
    if tr.hazards:
        out.append(
            "<table><tr><th>raised</th><th>hazard</th><th>pod</th><th>window</th>"
            "<th>what happened</th></tr>"
        )
        for h in tr.hazards:
            window = "open" if h.open else (f"{h.window_s:.3f}s" if h.window_s is not None else "")
            out.append(
                f'<tr><td class="t">{e(tr.offset(h.t))}</td><td class="hz">{e(h.kind)}</td>'
                f"<td>{e(h.namespace)}/{e(h.name)}</td><td>{e(window)}</td>"
                f"<td>{e(h.message)}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Pod lifecycle lanes</h2>")
    if tr.lanes:
        t0, t1 = tr.start, max(tr.at, tr.start + 1e-3)
        span = t1 - t0
        out.append(
            '<p class="legend">'
            + "".join(
                f'<span class="{c}">{e(name)}</span>'
                for name, c in (
                    ("pending", "p-pending"),
                    ("scheduled", "p-scheduled"),
                    ("running", "p-running"),
                    ("ready", "p-ready"),
                    ("terminating", "p-terminating"),
                )
            )
            + " marks: P pending, S scheduled, R running, Y ready, N not ready, "
            "D deletion requested, x exited, G gone; endpoint + joined, "
            "t terminating, - left</p>"
        )
        out.append(f"<table><tr><th>pod</th><th>+0s … {e(tr.moment)}</th></tr>")
        for ln in tr.lanes:
            cells = []
            for a, b, phase in lane_segments(ln, t0, t1):
                width = max(0.0, (b - a) / span * 100)
                cells.append(
                    f'<div class="seg {_PHASE_CLASS[phase]}" style="left:'
                    f'{_pct(a, t0, span)};width:{width:.3f}%"></div>'
                )
            for entry in ln.entries:
                label = f"{entry.mark.value} {entry.detail}".strip()
                cells.append(
                    f'<span class="mark" style="left:{_pct(entry.t, t0, span)}" '
                    f'title="{e(label)} {e(tr.offset(entry.t))}">'
                    f"{e(MARK_CHAR.get(entry.mark, '?'))}</span>"
                )
            title = e(lane_marks_text(ln, tr.start))
            out.append(
                f'<tr><td class="lanename" title="{title}">{e(ln.namespace)}/{e(ln.name)}</td>'
                f'<td><div class="lane">{"".join(cells)}</div></td></tr>'
            )
        out.append("</table>")
    else:
        out.append("<p>No pod lanes.</p>")

    out.append("<h2>Controller steps</h2>")
    if tr.steps:
        out.append(
            "<table><tr><th>#</th><th>time</th><th>actor</th><th>step</th><th>object</th>"
            "<th>details</th></tr>"
        )
        for i, s in enumerate(tr.steps, start=1):
            cls = ' class="kwatch"' if s.actor == "kwatch" else ""
            out.append(
                f'<tr{cls}><td class="n">{i}</td><td class="t">{e(tr.offset(s.t))}</td>'
                f"<td>{e(s.actor)}</td><td>{e(s.step)}</td>"
                f"<td>{e(_obj(s.kind, s.namespace, s.name))}</td>"
                f'<td class="d">{e(format_details(s.details))}</td></tr>'
            )
        out.append("</table>")
    else:
        out.append("<p>No controller steps.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)
