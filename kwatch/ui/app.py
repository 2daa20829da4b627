"""KwatchApp: the live TUI over a Session (it reads the model; it never fetches).

Data flow inside the app: pipeline listeners record into `ViewState` (cheap, per
batch); a 200 ms timer drains it and redraws only the panes that changed, inside
`batch_update()` so a redraw of several panes reaches the terminal as one frame. Key
presses act at once on the widget they concern (the cursor line is repainted on the
next frame), independent of the timer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, Static

from kwatch.core.labels import SelectorError
from kwatch.core.rows import (
    DaemonSetRow,
    DeploymentRow,
    PodRow,
    ReplicaSetRow,
    Row,
    StatefulSetRow,
)
from kwatch.session import Session
from kwatch.ui.actions import PANES, bindings
from kwatch.ui.commands import ActionCommands
from kwatch.ui.model.detail import build_detail, control_plane_detail, namespace_detail
from kwatch.ui.model.fmt import plural
from kwatch.ui.model.tree import (
    CONTROL_PLANE,
    ENDPOINT,
    NAMESPACE,
    build_tree,
    descendants,
)
from kwatch.ui.screens.dialogs import ConfirmDialog, ImageDialog, NoteDialog, ScaleDialog
from kwatch.ui.screens.filters import ALL_NAMESPACES, NamespaceDialog, SelectorDialog
from kwatch.ui.screens.help import HelpScreen
from kwatch.ui.state import (
    DETAIL,
    ENDPOINTS,
    HAZARDS,
    LANES,
    LANES_PAINT,
    STATUS,
    TIMELINE,
    TREE,
    TREE_ROWS,
    ViewState,
)
from kwatch.ui.widgets.detail import DetailView
from kwatch.ui.widgets.endpoints import EndpointsView
from kwatch.ui.widgets.hazards import HazardsView
from kwatch.ui.widgets.lanes import LanesPane, LanesView
from kwatch.ui.widgets.linelist import LineList
from kwatch.ui.widgets.status import StatusBar
from kwatch.ui.widgets.timeline import TimelineView
from kwatch.ui.widgets.tree import OwnershipTree

REFRESH_S = 0.2  # drain the view state at most 5 times a second
CLOCK_S = 1.0  # ages, countdowns and the lanes' time axis move with the clock
SPLIT_STEP = 5  # percent per < / > press

SCALABLE = (DeploymentRow, ReplicaSetRow, StatefulSetRow)
RESTARTABLE = (DeploymentRow, StatefulSetRow, DaemonSetRow)


class KwatchApp(App[int]):
    CSS_PATH = Path(__file__).with_name("kwatch.tcss")
    TITLE = "kwatch"
    BINDINGS: ClassVar[list[BindingType]] = [*bindings("app")]
    COMMANDS = App.COMMANDS | {ActionCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str] = "Footer, StatusBar"

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        # Listening starts now, not on mount: steps that arrive while the terminal is
        # being set up are buffered, not lost.
        self.state = ViewState(session)
        self.state.attach()
        self.split: int | None = None  # user-chosen width (or height) of the tree column
        self.redraws = 0  # completed redraw passes (tests and the benchmark read it)
        self._narration = ""
        self._follow_pending = False  # the detail/lanes catch-up after a cursor move
        self._detail_uid = ""

    # -- layout --------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(self.state, id="status")
        yield Static(id="narration", markup=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield OwnershipTree(self.state.tree, id="tree")
                yield DetailView(id="detail")
            with Vertical(id="right"):
                yield LanesPane(id="lanes")
                yield TimelineView(id="timeline")
                with Horizontal(id="bottom"):
                    yield EndpointsView(id="endpoints")
                    yield HazardsView(id="hazards")
        yield Input(id="filter", placeholder="filter by name — enter keeps it, esc clears it")
        yield Footer()

    def on_mount(self) -> None:
        titles = dict(PANES)
        for pane, title in titles.items():
            self.query_one(f"#{pane}").border_title = title
        self.query_one("#filter").display = False
        self.query_one("#narration").display = False
        self.ownership.resolve = self.state.store.by_uid
        self.ownership.focus()
        # The first drawing waits for the first layout: lists need their sizes to
        # place cursors and follow the newest timeline line.
        self.call_after_refresh(self.refresh_view)
        self.set_interval(REFRESH_S, self.refresh_view, name="drain")
        self.set_interval(CLOCK_S, self._clock_tick, name="clock")

    def on_unmount(self) -> None:
        self.state.detach()

    @property
    def ownership(self) -> OwnershipTree:
        return self.query_one(OwnershipTree)

    # -- redraw --------------------------------------------------------------------
    def _clock_tick(self) -> None:
        if self.state.paused or not self.is_running:
            return
        self.session.pipeline.check_timeouts(self.session.clock())
        self.state.mark(TREE_ROWS, LANES_PAINT, DETAIL, STATUS)

    def refresh_view(self) -> None:
        """Drain the view state and redraw what changed (the timer's callback)."""
        if not self.is_running:
            return  # shutting down: the panes may already be gone
        dirty = self.state.drain()
        if not dirty:
            return
        state = self.state
        with self.batch_update():
            changed = state.changed_uids
            if TREE in dirty:
                self._show_tree()
            elif TREE_ROWS in dirty or changed:
                full = TREE_ROWS in dirty
                self.ownership.repaint(state.now, state.hazard_uids, None if full else changed)
            if TIMELINE in dirty and self._shown("timeline"):
                timeline = self.query_one(TimelineView)
                timeline.show(state)
                follow = "following" if timeline.following else "scrolled: G follows"
                dropped = f" ({state.dropped_steps:,} older dropped)" if state.dropped_steps else ""
                timeline.border_title = (
                    f"Timeline · {len(timeline.entries):,} steps{dropped} · {follow}"
                )
            if LANES in dirty and self._shown("lanes"):
                self.query_one(LanesPane).show(state)
            elif (LANES_PAINT in dirty or changed) and self._shown("lanes"):
                self.query_one(LanesPane).repaint(None if LANES_PAINT in dirty else changed)
            if ENDPOINTS in dirty and self._shown("endpoints"):
                self.query_one(EndpointsView).show(state)
            if HAZARDS in dirty and self._shown("hazards"):
                self.query_one(HazardsView).show(state)
                n = len(state.hazards)
                self.query_one("#hazards").border_title = f"Hazards ({n})" if n else "Hazards"
            if DETAIL in dirty and self._shown("detail"):
                self._show_detail()
            if STATUS in dirty:
                self.query_one(StatusBar).refresh()
                self._show_narration()
        self.redraws += 1

    def _shown(self, pane: str) -> bool:
        return self.query_one(f"#{pane}").display

    def _show_tree(self) -> None:
        state = self.state
        lines = build_tree(state.store, state.filter, state.tree)
        self.ownership.show(lines, state.now, state.hazard_uids)
        counts = state.store.counts()
        parts = [
            f"{counts[kind]:,} {short}"
            for kind, short in (("Deployment", "deploy"), ("StatefulSet", "sts"),
                                ("DaemonSet", "ds"))
            if counts.get(kind)
        ]  # fmt: skip
        parts.append(plural(counts.get("Pod", 0), "pod"))
        self.ownership.border_title = " · ".join(["Ownership", *parts])

    def _show_narration(self) -> None:
        """The demo scenario's latest narration line (a layout only when it changes)."""
        lines = self.session.narration
        latest = lines[-1] if lines else ""
        if latest != self._narration:
            self._narration = latest
            narration = self.query_one("#narration", Static)
            narration.display = bool(latest)
            narration.update(latest)

    def _show_detail(self) -> None:
        row = self._selected_row(from_focus=False)
        uid = row.uid if row is not None else ""
        same_object, self._detail_uid = uid == self._detail_uid, uid
        hazards = self.state.hazards_of(row.uid) if row is not None else []
        view = self.query_one(DetailView)
        # -2: room for a scrollbar that may appear once the new text is longer.
        width = max(40, view.query_one("#detail-body").size.width - 2)
        line = self.ownership.selected
        if row is None and line is not None and line.kind == NAMESPACE:
            ns = line.key.removeprefix("ns:")
            markup = namespace_detail(ns, self.state.store, self.state.hazards.values())
            title = f"Detail · Namespace {ns}"
        elif row is None and line is not None and line.kind == CONTROL_PLANE:
            state = self.state
            markup = control_plane_detail(state.store, state.now)
            title = "Detail · Control plane"
        else:
            markup = build_detail(
                row, self.state.store, self.session.start, self.state.now, hazards, width
            )
            title = f"Detail · {row.KIND} {row.name}" if row is not None else "Detail"
        view.show(markup, title, same_object)

    # -- selection -----------------------------------------------------------------
    @on(LineList.CursorMoved, "#tree")
    def _tree_cursor(self, event: LineList.CursorMoved) -> None:
        line = self.ownership.selected
        uid = line.uid if line is not None else ""
        if line is not None and line.kind == ENDPOINT and line.endpoint is not None:
            uid = line.endpoint.pod_uid or uid
        changed = uid != self.state.selected_uid
        self.state.selected_uid = uid
        if not self._follow_pending:
            # After the frame that moves the cursor: the cursor answers the key at once;
            # the detail (a layout) and the lanes follow one frame later, once per
            # burst of keys (holding j does not rebuild the detail 30 times a second).
            self._follow_pending = True
            self.call_after_refresh(self.sync_to_selection)
        if changed and self.state.focus_uid and uid:
            self.state.set_focus(uid)

    def sync_to_selection(self) -> None:
        """Bring the detail pane and the lanes' cursor to the tree's selection."""
        self._follow_pending = False
        if not self.is_running:
            return
        uid = self.state.selected_uid
        if uid:
            self.query_one(LanesView).select_uid(uid)
        if self._shown("detail"):
            self._show_detail()

    @staticmethod
    def _pod_of_line(widget: object) -> str:
        """The pod uid under the cursor of the lanes, endpoints or hazards pane ("" else)."""
        if isinstance(widget, LanesView) and widget.selected is not None:
            return widget.selected.uid
        if isinstance(widget, EndpointsView) and widget.selected is not None:
            return widget.selected.pod_uid
        if isinstance(widget, HazardsView) and widget.selected is not None:
            return widget.selected.uid
        return ""

    @on(LineList.Activated)
    def _go_to_object(self, event: LineList.Activated) -> None:
        uid = self._pod_of_line(event.source)
        if uid and self.ownership.select_key(uid):
            self.ownership.focus()
        elif uid:
            self.notify("That object is not in the tree (deleted, or filtered out).")

    def _selected_row(self, *, from_focus: bool = True) -> Row | None:
        """The object an action or the detail pane is about: the focused list's line
        (lanes, endpoints, hazards), else the tree's selection; the store's newest
        version of it while it exists."""
        uid = self._pod_of_line(self.focused) if from_focus else ""
        if uid:
            return self.state.store.by_uid(uid)
        line = self.ownership.selected
        if line is None:
            return None
        if line.kind == ENDPOINT and line.endpoint is not None:
            return self.state.store.by_uid(line.endpoint.pod_uid)
        if line.row is None:
            return None
        if self.state.paused:
            return line.row  # the frozen picture, consistent with the tree
        return self.state.store.by_uid(line.row.uid) or line.row

    @on(OwnershipTree.StateChanged)
    def _tree_state_changed(self) -> None:
        self._show_tree()

    # -- view actions ----------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_pause(self) -> None:
        if self.state.paused:
            self.state.resume()
            self.notify("Resumed: caught up with everything that arrived.", timeout=2)
        else:
            self.state.pause()
        # Paused, the tree draws the rows it was built with: a frozen, consistent picture.
        self.ownership.resolve = None if self.state.paused else self.state.store.by_uid
        self.screen.set_class(self.state.paused, "-paused")
        self.refresh_view()

    async def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if self.focused is box:
            box.value = ""  # esc in the filter box clears the text filter
            box.display = False
            self.ownership.focus()
        elif self.screen.maximized is not None:
            self.screen.minimize()
        elif self.state.filter.text:
            self.state.set_filter(self.state.filter.with_text(""))
        elif self.state.focus_uid:
            self.state.set_focus("")
        self.refresh_view()

    def action_focus_selection(self) -> None:
        if self.state.focus_uid:
            self.state.set_focus("")
            self.notify("Timeline and lanes show everything again.", timeout=2)
        else:
            row = self._selected_row()
            if row is None:
                self.notify("Select an object first.", severity="warning")
                return
            self.state.set_focus(row.uid)
            self.notify(f"Timeline and lanes follow {row.KIND} {row.name}.", timeout=2)
        self.refresh_view()

    def action_bookmark(self) -> None:
        add_note = self.session.add_note
        if add_note is None:
            self.notify("Not recording: start kwatch with --record to keep notes.",
                        severity="warning")  # fmt: skip
            return

        def done(text: str | None) -> None:
            if text:
                add_note(text, True)
                self.notify(f"Bookmark added: {text}", timeout=2)

        self.push_screen(NoteDialog("Bookmark", "A note in the recording, at this moment.",
                                    "Add"), done)  # fmt: skip

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    # -- filter actions ---------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.state.filter.text
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.state.set_filter(self.state.filter.with_text(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#filter").display = False
        self.ownership.focus()
        self.refresh_view()

    def action_namespace(self) -> None:
        counts: dict[str, int] = {}
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Service"):
            for row in self.state.store.rows(kind).values():
                counts[row.namespace] = counts.get(row.namespace, 0) + 1

        def done(choice: str | None) -> None:
            if choice is None:
                return
            ns = None if choice == ALL_NAMESPACES else choice
            self.state.set_filter(self.state.filter.with_namespace(ns))
            self.refresh_view()

        self.push_screen(NamespaceDialog(sorted(counts.items()), self.state.filter.namespace),
                         done)  # fmt: skip

    def action_selector(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                self.state.set_filter(self.state.filter.with_selector(text))
            except SelectorError as e:  # the dialog validated it; be safe anyway
                self.notify(str(e), severity="error")
            self.refresh_view()

        self.push_screen(SelectorDialog(self.state.filter.selector_text), done)

    def action_clear_filters(self) -> None:
        self.state.set_filter(type(self.state.filter)())
        self.refresh_view()

    # -- panes -------------------------------------------------------------------------
    def action_toggle_pane(self, pane: str) -> None:
        widget = self.query_one(f"#{pane}")
        widget.display = not widget.display
        self._sync_containers()
        if widget.display:
            self.state.mark(pane)  # pane ids are the redraw names of kwatch.ui.state
            self.refresh_view()
            target = widget if widget.can_focus else widget.query_one(LineList)
            target.focus()

    def _sync_containers(self) -> None:
        """A column (or row) whose panes are all hidden hides too, so the others grow."""
        def any_shown(*ids: str) -> bool:
            return any(self.query_one(f"#{i}").display for i in ids)

        self.query_one("#bottom").display = any_shown("endpoints", "hazards")
        self.query_one("#left").display = any_shown("tree", "detail")
        self.query_one("#right").display = any_shown("lanes", "timeline", "bottom")

    def action_zoom(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        elif self.focused is not None:
            self.screen.maximize(self.focused)

    def action_resize(self, direction: str) -> None:
        narrow = self.screen.has_class("-narrow")
        current = self.split if self.split is not None else (50 if narrow else 42)
        step = SPLIT_STEP if direction == "+" else -SPLIT_STEP
        self.split = max(20, min(80, current + step))
        self._apply_split()

    def _apply_split(self) -> None:
        if self.split is None:
            return
        left = self.query_one("#left")
        if self.screen.has_class("-narrow"):
            left.styles.height = f"{self.split}%"
            left.styles.width = "1fr"
        else:
            left.styles.width = f"{self.split}%"
            left.styles.height = "1fr"

    def on_resize(self) -> None:
        self.call_after_refresh(self._apply_split)

    # -- cluster actions (teaching) ----------------------------------------------------
    def _writable(self, what: str) -> bool:
        if self.session.read_only or self.session.actions is None:
            reason = "read-only session" if self.session.read_only else "this source is read-only"
            self.notify(f"Refused to {what}: {reason}. kwatch changes nothing here.",
                        title="Read-only", severity="warning")  # fmt: skip
            return False
        return True

    def _target(self, kinds: tuple[type[Row], ...], what: str) -> Row | None:
        row = self._selected_row()
        if not isinstance(row, kinds):
            names = ", ".join(k.KIND for k in kinds)
            self.notify(f"Select a {names} to {what}.", severity="warning")
            return None
        return row

    def _run(self, description: str, call: Callable[[], Awaitable[None]]) -> None:
        """Run a cluster action off the UI's message loop; report how it went."""

        async def work() -> None:
            try:
                await call()
            except Exception as e:  # any API failure becomes a notification, not a crash
                self.notify(f"{description} failed: {e}", title="Action failed",
                            severity="error")  # fmt: skip
            else:
                self.notify(f"{description}: requested. Watch the steps arrive.", timeout=3)

        self.run_worker(work(), group="cluster-actions", exit_on_error=False)

    def action_delete_pod(self) -> None:
        if not self._writable("delete a pod"):
            return
        pod = self._target((PodRow,), "delete")
        actions = self.session.actions
        if not isinstance(pod, PodRow) or actions is None:
            return
        prestop = pod.prestop
        warning = (
            "It has no preStop sleep: it gets SIGTERM while proxies may still route to it."
            if prestop.sleeps == 0
            else f"Its preStop ({prestop.summary()}) keeps it serving while it leaves the "
            "endpoints."
        )
        body = (
            f"Pod {pod.namespace}/{pod.name} gets a deletionTimestamp, leaves its "
            f"EndpointSlices and is stopped within {pod.spec.grace}s.\n{warning}"
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._run(f"Delete pod {pod.name}",
                          lambda: actions.delete_pod(pod.namespace, pod.name))  # fmt: skip

        self.push_screen(ConfirmDialog("Delete pod?", body, "Delete", danger=True), done)

    def action_scale(self) -> None:
        if not self._writable("scale"):
            return
        row = self._target(SCALABLE, "scale")
        actions = self.session.actions
        if not isinstance(row, SCALABLE) or actions is None:
            return
        body = f"{row.KIND} {row.namespace}/{row.name} wants {row.replicas} replicas now."

        def done(replicas: int | None) -> None:
            if replicas is not None:
                self._run(
                    f"Scale {row.KIND} {row.name} to {replicas}",
                    lambda: actions.scale(row.KIND, row.namespace, row.name, replicas),
                )

        self.push_screen(ScaleDialog(f"Scale {row.KIND}", body, row.replicas), done)

    def action_rollout_restart(self) -> None:
        if not self._writable("restart a rollout"):
            return
        row = self._target(RESTARTABLE, "restart")
        actions = self.session.actions
        if row is None or actions is None:
            return
        body = (
            f"Every pod of {row.KIND} {row.namespace}/{row.name} is replaced, following its "
            "update strategy (a new template annotation: restartedAt)."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._run(
                    f"Restart {row.KIND} {row.name}",
                    lambda: actions.rollout_restart(row.KIND, row.namespace, row.name),
                )

        self.push_screen(ConfirmDialog("Rollout restart?", body, "Restart", danger=True), done)

    def action_set_image(self) -> None:
        if not self._writable("set an image"):
            return
        row = self._target(RESTARTABLE, "set an image of")
        actions = self.session.actions
        if not isinstance(row, RESTARTABLE) or actions is None:
            return
        containers = self._containers_of(row)
        if not containers:
            self.notify(f"No pod of {row.name} seen yet: container names unknown.",
                        severity="warning")  # fmt: skip
            return
        body = f"{row.KIND} {row.namespace}/{row.name}: a new template, so a rollout."

        def done(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                container, image = choice
                self._run(
                    f"Set image of {row.name}/{container} to {image}",
                    lambda: actions.set_image(row.KIND, row.namespace, row.name, container, image),
                )

        self.push_screen(ImageDialog("Set image", body, containers), done)

    def _containers_of(self, row: DeploymentRow | StatefulSetRow | DaemonSetRow) -> list[
        tuple[str, str]
    ]:
        """(container name, template image): names from a pod, images from the template."""
        store = self.state.store
        for uid in descendants(store, row.uid):
            pod = store.by_uid(uid)
            if isinstance(pod, PodRow) and pod.spec.containers:
                names = [c.name for c in pod.spec.containers]
                images = list(row.images) if len(row.images) == len(names) else [
                    c.image for c in pod.spec.containers
                ]
                return list(zip(names, images, strict=True))
        return []


async def run_tui(session: Session) -> int:
    """Run the TUI until the user quits; the exit code is 0."""
    app = KwatchApp(session)
    await app.run_async()
    return app.return_code or 0
