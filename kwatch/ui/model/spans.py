"""Spans: a line as (text, role) pairs, before any colour is chosen.

Roles name *meaning* ("ok", "bad", "hazard"), never colours: the widgets map each role
to a component class styled in kwatch.tcss with theme variables, so every pane follows
the light and dark themes and the formatting code stays testable as plain text.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["", "muted", "ok", "warn", "bad", "hazard", "accent", "bold", "kind", "marker"]
Span = tuple[str, Role]
ROLES: tuple[Role, ...] = (
    "muted", "ok", "warn", "bad", "hazard", "accent", "bold", "kind", "marker"
)


def plain(spans: list[Span]) -> str:
    return "".join(text for text, _ in spans)


def width_of(spans: list[Span]) -> int:
    return sum(len(text) for text, _ in spans)


def fit(left: list[Span], right: list[Span], width: int) -> list[Span]:
    """`left`, then `right` flush to `width`; the left side is cut first when short.

    Why this shape: names vary in length while the columns after them (status, age)
    are what the eye scans down, so they stay aligned at the right edge.
    """
    room = width - width_of(right)
    if room < 8:  # too narrow for columns: let the right side go instead
        return cut([*left, (" ", ""), *right], width)
    out = cut(left, room)
    pad = room - width_of(out)
    if pad > 0:
        out.append((" " * pad, ""))
    return out + right


def cut(spans: list[Span], width: int) -> list[Span]:
    """At most `width` cells; a cut span ends with "…"."""
    out: list[Span] = []
    used = 0
    for text, role in spans:
        if used + len(text) <= width:
            out.append((text, role))
            used += len(text)
            continue
        room = width - used
        kept = text[: room - 1]
        if kept.strip():  # an ellipsis after nothing but spaces says nothing
            out.append((kept + "…", role))
        break
    return out
