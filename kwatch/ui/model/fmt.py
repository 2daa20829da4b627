"""Short text for times, counts and names as the panes show them.

Every function takes the times it compares explicitly (`now`, `start`): the views get
"now" from `Session.clock`, never from the wall clock, so snapshots and replays are
reproducible.
"""

from __future__ import annotations

from kwatch.core.timefmt import format_duration


def rel(t: float | None, start: float) -> str:
    """Session-relative time of an observation: "+12.40s", "+3m05s"."""
    if t is None:
        return "—"
    d = t - start
    if d < 0:
        return "-" + format_duration(-d)
    return "+" + format_duration(d)


def clock_rel(t: float | None, start: float) -> str:
    """Fixed-width session time for the timeline gutter: "  +12.402s"."""
    if t is None:
        return " " * 10
    d = t - start
    if abs(d) < 100_000:
        return f"{d:+9.3f}s"
    return f"{d:+9.0f}s"


def age(t: float | None, now: float) -> str:
    """kubectl-style age: 12s, 3m, 2h5m, 4d."""
    if t is None:
        return "—"
    s = max(0, int(now - t))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 10:
        return f"{m}m{s}s" if s else f"{m}m"
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m}m" if m and h < 10 else f"{h}h"
    return f"{h // 24}d"


def countdown(deadline: float | None, now: float) -> str:
    """Time left before a deadline (grace period), or how long it is overdue."""
    if deadline is None:
        return ""
    left = deadline - now
    if left >= 0:
        return f"{format_duration(left)} left"
    return f"{format_duration(-left)} over"


def count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    """A counted noun: 1 pod, 2 pods, 12,000 pods (kwatch's nouns all take an s)."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def ellipsize(text: str, width: int) -> str:
    """Cut `text` to `width` cells, marking the cut (names are ASCII in Kubernetes)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"
