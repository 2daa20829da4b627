"""The status bar: where the data comes from and how healthy the flow is.

Context, scope, per-kind watch health, events/s, recording, hazards, pause with what
is buffered, the view filter, while a demo runs the traffic counters and, when wide,
who leads the control plane (the leader-election Leases' holders). Items have
priorities: at 80 columns the least important ones drop out instead of wrapping.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.markup import escape
from textual.widget import Widget

from kwatch.ui.model.fmt import count
from kwatch.ui.model.leases import SHORT_LEASE, lease_state, leases
from kwatch.ui.model.tree_text import SHORT_KIND
from kwatch.ui.state import ViewState


def _short(kind: str) -> str:
    return SHORT_KIND.get(kind, kind.lower())


@dataclass(frozen=True, slots=True)
class Item:
    markup: str
    priority: int  # 0: always shown; higher drops first
    width: int


def _item(markup: str, priority: int) -> Item:
    return Item(markup, priority, Content.from_markup(markup).cell_length)


def health_items(state: ViewState, detailed: bool) -> str:
    healths = list(state.session.health())
    if not healths:
        return ""
    bad = [h for h in healths if h.state != "synced"]
    if detailed:
        parts = []
        for h in healths:
            name = _short(h.kind)
            if h.state == "synced":
                parts.append(f"{name}[$text-success]✓[/]")
            elif h.state == "syncing":
                parts.append(f"{name}[$text-warning]…[/]")
            else:
                parts.append(f"[$text-error]{name}✗[/]")
        return " ".join(parts)
    if not bad:
        return f"watch [$text-success]✓ {len(healths)}[/]"
    return "watch " + " ".join(
        f"[$text-error]{escape(_short(h.kind))} {escape(h.state)}[/]" for h in bad
    )


LEADERS_MIN_WIDTH = 120  # narrower, the tree's "control plane" group tells it


def leader_items(state: ViewState) -> str:
    """ "leader kcm host-a · sched host-b": the holder of each leader-election Lease."""
    parts = []
    for lease in leases(state.store):
        st = lease_state(lease, state.now)
        name = escape(SHORT_LEASE.get(lease.name, lease.name))
        if st.expired:
            parts.append(f"{name} [$text-error]expired[/]")
        elif st.holder:
            parts.append(f"{name} [$text-success]{escape(st.holder)}[/]")
        else:
            parts.append(f"{name} [$text-warning]none[/]")
    return ("[$text-muted]leader[/] " + " ".join(parts)) if parts else ""


def status_items(state: ViewState, width: int) -> list[Item]:
    s = state.session
    items: list[Item] = [_item(f"[b $text-accent]kwatch[/] [$text-muted]{s.source}[/]", 0)]
    if state.paused:
        b = state.buffered
        items.append(_item("[reverse $warning] ⏸ PAUSED [/]", 0))
        waiting = f"{count(b.events)} events · {count(b.steps)} steps buffered"
        items.append(_item(f"[$text-warning]{waiting}[/]", 1))
    n = len(state.hazards)
    if n:
        items.append(_item(f"[b $text-error]⚠ {n} hazard{'s' if n != 1 else ''}[/]", 0))
    if s.recording_path:
        items.append(_item("[b $text-error]● REC[/]", 1))
    items.append(_item(f"[$text-muted]ctx[/] {escape(s.context)}", 2))
    items.append(_item(f"[$text-muted]scope[/] {escape(s.scope)}", 2))
    view = state.filter.describe()
    if view:
        items.append(_item(f"[$text-muted]view[/] [$text-accent]{escape(view)}[/]", 1))
    if state.focus_uid:
        row = state.store.by_uid(state.focus_uid)
        name = f"{row.KIND} {row.name}" if row is not None else "selection"
        items.append(_item(f"[$text-muted]focus[/] [$text-accent]{escape(name)}[/]", 1))
    traffic = s.traffic()
    if traffic is not None:
        bad = "$text-error" if traffic.refused or traffic.timeout else "$text-muted"
        items.append(
            _item(
                f"[$text-muted]traffic[/] [$text-success]ok {count(traffic.ok)}[/] "
                f"[{bad}]503 {count(traffic.refused)} timeout {count(traffic.timeout)}[/]",
                1,
            )
        )
    rate = s.pipeline.events_per_second()
    items.append(_item(f"[$text-muted]{rate:,.0f} ev/s[/]", 3))
    leaders = leader_items(state) if width >= LEADERS_MIN_WIDTH else ""
    # The per-kind health is detail (a troubled kind shows by name either way): when
    # the leaders are shown, the compact "watch ✓ N" leaves them the room.
    health = health_items(state, detailed=width >= 150 and not leaders)
    if health:
        # A watch in trouble explains a frozen picture: it outranks everything but
        # the name; "all synced" is the first thing to go when space is short.
        troubled = any(h.state != "synced" for h in s.health())
        items.append(_item(health, 0 if troubled else 3))
    if leaders:
        items.append(_item(leaders, 3))  # after health: the first to go when short
    return items


def layout_items(items: list[Item], width: int) -> Content:
    """Keep items by priority while they fit, shown in their original order."""
    sep = 3  # " · "
    chosen: set[int] = set()
    used = 0
    for index in sorted(range(len(items)), key=lambda i: items[i].priority):
        need = items[index].width + (sep if chosen else 0)
        if used + need <= width:
            chosen.add(index)
            used += need
    parts = [items[i].markup for i in sorted(chosen)]
    return Content.from_markup(" [$text-muted]·[/] ".join(parts))


class StatusBar(Widget):
    def __init__(self, state: ViewState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state

    def render(self) -> Content:
        width = self.content_region.width or 80
        return layout_items(status_items(self.state, width), width)
