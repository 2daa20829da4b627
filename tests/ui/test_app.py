"""Pilot tests: navigation, filters, pause/resume, teaching actions, keys, themes."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Label, OptionList

from kwatch.ui.actions import ACTIONS, UiAction
from kwatch.ui.app import KwatchApp
from kwatch.ui.screens.dialogs import ConfirmDialog, ImageDialog, ScaleDialog
from kwatch.ui.screens.filters import NamespaceDialog, SelectorDialog
from kwatch.ui.screens.help import _GROUP_ORDER, HelpScreen
from kwatch.ui.widgets.detail import DetailView
from kwatch.ui.widgets.lanes import LanesView
from kwatch.ui.widgets.timeline import TimelineView

from .fixtures import (
    START,
    FakeActions,
    app_at,
    feed,
    rolling_update,
    select,
    shutdown_without_prestop,
    until,
)

SIZE = (160, 50)


def tree_keys(app: KwatchApp) -> list[str]:
    return [line.key for line in app.ownership.lines]


def help_order() -> list[UiAction]:
    return [a for group in _GROUP_ORDER for a in ACTIONS if a.group == group]


def record_notes(app: KwatchApp) -> list[str]:
    """Every notification's message (toasts expire; a slow test must not miss one)."""
    messages: list[str] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        messages.append(message)
        notify(message, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return messages


# -- navigation ------------------------------------------------------------------------------


async def test_keys_move_through_the_tree_and_the_detail_follows() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.ownership
        assert tree.has_focus and tree.cursor == 0
        await pilot.press("j")
        assert tree.selected is not None and tree.selected.key == "dep-web"
        detail = app.query_one(DetailView)
        await until(pilot, lambda: detail.border_title == "Detail · Deployment web")
        await pilot.press("j", "j")
        assert tree.selected is not None and tree.selected.key == "pod-2xkqp"
        await until(pilot, lambda: "Terminating" in str(detail.query_one("#detail-body").render()))
        await pilot.press("left")  # a pod has no children: go to its ReplicaSet
        assert tree.selected is not None and tree.selected.key == "rs-old"
        count = len(tree.lines)
        await pilot.press("enter")  # collapse the ReplicaSet
        await until(pilot, lambda: len(tree.lines) == count - 3)
        await pilot.press("right")
        await until(pilot, lambda: len(tree.lines) == count)
        await pilot.press("G")
        assert tree.cursor == count - 1
        await pilot.press("g")
        assert tree.cursor == 0


async def test_selecting_a_pod_in_the_tree_moves_the_lanes_cursor_and_enter_jumps_back() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "pod-m4c7d")
        lanes = app.query_one(LanesView)
        assert lanes.selected is not None and lanes.selected.uid == "pod-m4c7d"
        lanes.focus()
        await pilot.press("k", "enter")
        await until(pilot, lambda: app.ownership.has_focus)
        assert app.ownership.selected is not None and app.ownership.selected.key == "pod-hq8zr"


async def test_timeline_follows_live_unless_scrolled_and_focus_filters_it() -> None:
    scenario = rolling_update()
    app = app_at(scenario, "mid")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        timeline = app.query_one(TimelineView)
        await until(pilot, lambda: timeline.max_scroll_y > 0)
        await until(pilot, lambda: timeline.scroll_y == timeline.max_scroll_y)
        assert timeline.following
        feed(app.session, scenario, scenario.moments["done"], since=scenario.moments["mid"])
        app.refresh_view()
        await until(pilot, lambda: timeline.scroll_y == timeline.max_scroll_y)
        timeline.focus()
        await pilot.press("k", "k")
        assert not timeline.following
        # f: only the selected object's subtree (the new ReplicaSet and its pods)
        await select(pilot, "rs-new")
        app.ownership.focus()
        await pilot.press("f")
        await pilot.pause()
        names = {e.step.name for e in timeline.entries if e.step is not None}
        assert names and all(n.startswith("web-7c6b9d44f") for n in names)
        assert "focus ReplicaSet web-7c6b9d44f" in str(app.query_one("#status").render())
        await pilot.press("escape")
        await pilot.pause()
        assert any(e.step is not None and e.step.name == "web" for e in timeline.entries)


# -- filters ------------------------------------------------------------------------------------


async def test_slash_filters_by_name_and_esc_clears() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        everything = len(app.ownership.lines)
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        await until(pilot, lambda: box.display and box.has_focus)
        await pilot.press(*"tz6wn")
        app.refresh_view()
        keys = tree_keys(app)
        assert "pod-tz6wn" in keys and "pod-2xkqp" not in keys and len(keys) < everything
        await pilot.press("enter")
        await until(pilot, lambda: not box.display and app.ownership.has_focus)
        assert "/tz6wn" in str(app.query_one("#status").render())
        await pilot.press("escape")
        app.refresh_view()
        assert len(app.ownership.lines) == everything


async def test_namespace_switcher() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NamespaceDialog))
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2  # all + default
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.state.filter.namespace == "default")
        app.refresh_view()
        assert "ns default" in str(app.query_one("#status").render())
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NamespaceDialog))
        await pilot.press("up", "enter")
        await until(pilot, lambda: app.state.filter.namespace is None)


async def test_invalid_selector_shows_an_inline_error_and_cannot_be_applied() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, SelectorDialog))
        dialog = app.screen
        await pilot.press(*"app in (", "enter")
        error = dialog.query_one("#selector-error", Label)
        assert "expected" in str(error.render())
        assert dialog.query_one(Input).has_class("-invalid")
        assert app.screen is dialog  # enter refused
        field = dialog.query_one(Input)
        field.value = "pod-template-hash=7c6b9d44f"
        await pilot.pause()
        assert str(error.render()) == ""
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is not dialog)
        assert app.state.filter.selector_text == "pod-template-hash=7c6b9d44f"
        app.refresh_view()
        assert "pod-2xkqp" not in tree_keys(app) and "pod-hq8zr" in tree_keys(app)


# -- pause --------------------------------------------------------------------------------------


async def test_pause_freezes_the_view_counts_what_waits_and_resume_catches_up() -> None:
    scenario = shutdown_without_prestop()
    app = app_at(scenario, "dying")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "pod-k2x9p" in tree_keys(app)
        steps = len(app.query_one(TimelineView).entries)
        await pilot.press("p")
        assert app.state.paused
        feed(app.session, scenario, scenario.moments["after"], since=scenario.moments["dying"])
        app.refresh_view()
        await pilot.pause()
        assert "pod-k2x9p" in tree_keys(app)  # frozen: the pod is gone from the store
        assert app.state.store.by_uid("pod-k2x9p") is None
        assert len(app.query_one(TimelineView).entries) == steps
        status = str(app.query_one("#status").render())
        assert "PAUSED" in status and "5 steps buffered" in status
        await pilot.press("space")
        assert not app.state.paused
        assert "pod-k2x9p" not in tree_keys(app)
        assert len(app.query_one(TimelineView).entries) == steps + 5
        assert "PAUSED" not in str(app.query_one("#status").render())


# -- teaching actions ---------------------------------------------------------------------------


async def test_delete_pod_asks_first_then_calls_the_cluster() -> None:
    fake = FakeActions()
    app = app_at(shutdown_without_prestop(), "dying", actions=fake)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "pod-r7m4q")
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.screen, ConfirmDialog)
        assert "no preStop sleep" in app.screen.body
        await pilot.press("n")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        assert fake.calls == []
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls == [("delete_pod", "default", "web-6f9c8d7b5-r7m4q")]
        assert any("requested" in n for n in notes)


async def test_scale_restart_and_set_image_go_through_their_dialogs() -> None:
    fake = FakeActions()
    app = app_at(rolling_update(), "done", actions=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "dep-web")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog))
        app.screen.query_one(Input).value = "5"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ImageDialog))
        app.screen.query_one("#image", Input).value = "nginx:1.28"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        await app.workers.wait_for_complete()
        assert fake.calls == [
            ("scale", "Deployment", "default", "web", 5),
            ("rollout_restart", "Deployment", "default", "web"),
            ("set_image", "Deployment", "default", "web", "app", "nginx:1.28"),
        ]


async def test_invalid_replicas_keep_the_dialog_open() -> None:
    fake = FakeActions()
    app = app_at(rolling_update(), "done", actions=fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "dep-web")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog))
        dialog = app.screen
        dialog.query_one(Input).value = "-3"
        await pilot.press("enter")
        assert app.screen is dialog and fake.calls == []
        await pilot.press("escape")
        assert app.screen is not dialog and fake.calls == []


async def test_actions_are_refused_in_a_read_only_session() -> None:
    fake = FakeActions()
    app = app_at(rolling_update(), "done", actions=fake, read_only=True)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "pod-hq8zr")
        for key in ("ctrl+d", "s", "r", "i"):
            await pilot.press(key)
            assert len(app.screen_stack) == 1  # no dialog at all
        assert fake.calls == []
        assert sum("Refused" in n for n in notes) == 4


async def test_actions_need_a_fitting_selection_and_report_failures() -> None:
    fake = FakeActions(fail="forbidden: pods is forbidden")
    app = app_at(rolling_update(), "done", actions=fake)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await select(pilot, "dep-web")
        await pilot.press("ctrl+d")
        assert len(app.screen_stack) == 1
        assert any("Select a Pod" in n for n in notes)
        await select(pilot, "pod-hq8zr")
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("failed: forbidden" in n for n in notes)


# -- keys, palette, panes, themes --------------------------------------------------------------


async def test_help_lists_every_key() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: bool(app.screen.query(".help-keys Static")))
        cells = [str(w.render()) for w in app.screen.query(".help-keys Static")]
        rows = [tuple(cells[i : i + 3]) for i in range(0, len(cells), 3)]
        assert rows == [(a.display_keys, a.description, a.help) for a in help_order()]
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_registry_actions() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Pause")
        palette = app.screen
        await until(pilot, lambda: palette.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await until(pilot, lambda: app.state.paused)


async def test_panes_toggle_and_zoom() -> None:
    app = app_at(rolling_update(), "mid")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        hazards = app.query_one("#hazards")
        await pilot.press("6")
        assert not hazards.display
        await pilot.press("4")  # endpoints too: their row disappears
        assert not app.query_one("#bottom").display
        await pilot.press("4", "6")
        assert hazards.display and app.query_one("#bottom").display
        app.ownership.focus()
        await pilot.press("z")
        assert app.screen.maximized is app.ownership
        await pilot.press("escape")
        assert app.screen.maximized is None
        left = app.query_one("#left")
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert left.styles.width is not None and left.styles.width.value == 47


async def test_narrow_screen_keeps_the_story_panes() -> None:
    app = app_at(shutdown_without_prestop(), "dying")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-narrow")
        assert not app.query_one("#detail").display and not app.query_one("#bottom").display
        assert app.query_one("#tree").display and app.query_one("#timeline").display
        await pilot.press("5")  # the detail pane on demand
        assert app.query_one("#detail").display


async def test_light_and_dark_themes_render() -> None:
    for theme in ("textual-light", "textual-dark"):
        app = app_at(shutdown_without_prestop(), "dying")
        app.theme = theme
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            svg = app.export_screenshot()
            assert "serving-while-dying" in svg.replace("&#160;", " ")
            await pilot.press("T")
            assert app.theme != theme


async def test_dismissing_the_lane_of_a_gone_pod() -> None:
    app = app_at(shutdown_without_prestop(), "after")
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lanes = app.query_one(LanesView)
        lanes.focus()
        gone = next(i for i, row in enumerate(lanes.rows) if row.gone)
        lanes.cursor = gone
        await pilot.press("x")
        assert "pod-k2x9p" not in app.state.store.lanes
        assert all(row.uid != "pod-k2x9p" for row in lanes.rows)
        lanes.cursor = 0
        await pilot.press("x")  # a live pod's lane stays
        assert any("Only lanes of deleted pods" in n for n in notes)


async def test_times_are_relative_to_the_session_start() -> None:
    app = app_at(shutdown_without_prestop(), "dying")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.session.start == START
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "+11.200s" in svg and "+10.000s" in svg  # the slice update, the delete
        assert "5m11s" in svg  # the surviving pod's age, on the session clock


# -- demo chrome: status bar, narration, control plane -------------------------------------


async def test_narration_sits_below_the_status_bar_and_hides_nothing() -> None:
    from textual.widgets import Footer, Static

    from kwatch.session import TrafficCounters
    from kwatch.ui.widgets.status import StatusBar

    traffic = TrafficCounters(ok=1963, refused=33, timeout=16, target="svc web")
    narration = ["The old pod gets SIGTERM while the proxies still route to it: " * 3]
    for size in ((80, 24), (160, 50)):
        app = app_at(shutdown_without_prestop(), "dying", traffic=traffic, narration=narration)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            status = app.query_one(StatusBar)
            line = app.query_one("#narration", Static)
            await until(pilot, lambda line=line: line.display)  # type: ignore[misc]
            assert status.region.y == 0 and status.region.height == 1
            assert line.region.y == 1 and line.region.height == 2, size  # wraps, capped
            assert app.query_one("#main").region.y == 3
            assert app.query_one(Footer).region.y == size[1] - 1
            shown = str(status.render())
            assert "ok 1,963" in shown and "503 33" in shown and "timeout 16" in shown, size
