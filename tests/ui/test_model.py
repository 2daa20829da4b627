"""The UI's pure parts: tree lines, lane cells, timeline text, filters, spans, registry."""

from __future__ import annotations

import pytest

from kwatch.core.labels import SelectorError
from kwatch.core.store import Lane, LaneMark
from kwatch.ui.actions import ACTIONS, BY_ID, bindings, palette_actions
from kwatch.ui.app import KwatchApp
from kwatch.ui.model.filters import ViewFilter
from kwatch.ui.model.lanes import Axis, State, axis_for, lane_cells, state_at
from kwatch.ui.model.spans import cut, fit, plain
from kwatch.ui.model.timeline import describe, entry_spans
from kwatch.ui.model.tree import MORE, build_tree
from kwatch.ui.model.tree_text import pod_status, tree_line_spans
from kwatch.ui.screens.dialogs import Dialog
from kwatch.ui.state import ViewState
from kwatch.ui.widgets.lanes import LanesView
from kwatch.ui.widgets.linelist import LineList
from kwatch.ui.widgets.tree import OwnershipTree

from .fixtures import START, FakeClock, feed, new_session, rolling_update, shutdown_without_prestop


def _state_at(scenario_name: str, t: float) -> ViewState:
    scenario = rolling_update() if scenario_name == "rolling" else shutdown_without_prestop()
    session = new_session()
    state = ViewState(session)
    state.attach()
    feed(session, scenario, START + t)
    state.drain()
    return state


def _texts(state: ViewState, width: int = 100) -> list[str]:
    lines = build_tree(state.store, state.filter, state.tree)
    return [plain(tree_line_spans(line, width, state.now, state.hazard_uids)) for line in lines]


# -- registry -----------------------------------------------------------------------------


def test_every_action_has_a_handler_on_the_class_that_binds_it() -> None:
    owners = {"app": KwatchApp, "list": LineList, "tree": OwnershipTree, "lanes": LanesView,
              "dialog": Dialog}  # fmt: skip
    for action in ACTIONS:
        owner = owners[action.scope]
        assert callable(getattr(owner, action.handler, None)), (action.id, owner)


def test_keys_are_unique_within_each_binding_scope() -> None:
    app_keys = [k for a in ACTIONS if a.scope == "app" for k in a.keys.split(",")]
    assert len(app_keys) == len(set(app_keys))
    list_keys = [k for a in ACTIONS if a.scope == "list" for k in a.keys.split(",")]
    assert len(list_keys) == len(set(list_keys))


def test_bindings_and_palette_come_from_the_registry() -> None:
    assert [b.action for b in bindings("app")] == [a.id for a in ACTIONS if a.scope == "app"]
    ids = {a.id for a in palette_actions()}
    assert "delete_pod" in ids and "toggle_pause" in ids and "command_palette" not in ids
    assert BY_ID["filter"].keys == "slash" and BY_ID["help"].keys == "question_mark"
    assert BY_ID["delete_pod"].keys == "ctrl+d" and BY_ID["toggle_pause"].keys == "p,space"
    assert all(a.help and a.description for a in ACTIONS)


# -- spans ----------------------------------------------------------------------------------


def test_fit_keeps_the_right_columns_aligned_and_cuts_the_name() -> None:
    out = fit([("a-very-long-pod-name", "")], [(" Running", "ok")], 20)
    assert plain(out) == "a-very-long… Running"
    assert len(plain(fit([("short", "")], [(" x", "")], 12))) == 12


def test_cut_never_leaves_a_lonely_ellipsis() -> None:
    assert plain(cut([("abcdef", ""), ("  details", "")], 7)) == "abcdef"
    assert plain(cut([("abcdef", ""), ("  details", "")], 10)) == "abcdef  d…"


# -- tree -----------------------------------------------------------------------------------


def test_tree_shows_ownership_mid_rollout() -> None:
    texts = _texts(_state_at("rolling", 14.5))
    assert texts[0].startswith("▾ default")
    assert "deploy web" in texts[1] and "want 3" in texts[1] and "upd 1" in texts[1]
    assert "rs web-5d8f7c9b4" in texts[2] and "rev 1" in texts[2]
    terminating = [t for t in texts if "Terminating" in t]
    assert len(terminating) == 2 and all("left" in t for t in terminating)
    assert any("rs web-7c6b9d44f" in t and "rev 2" in t for t in texts)
    assert any("svc web" in t for t in texts) and any("slice web-x7k2p" in t for t in texts)
    endpoint = next(t for t in texts if "10.244.1.11" in t)
    assert "ready✗" in endpoint and "serving✓" in endpoint and "terminating✓" in endpoint


def test_terminating_pod_counts_down_its_grace_period_on_the_session_clock() -> None:
    state = _state_at("shutdown", 11.5)
    line = next(t for t in _texts(state) if "k2x9p" in t)
    assert "28.5s left" in line and "⚠" in line  # deleted at +10 with 30s grace
    assert isinstance(state.session.clock, FakeClock)
    state.session.clock.t = START + 45.0
    line = next(t for t in _texts(state) if "k2x9p" in t)
    assert "5.00s over" in line


def test_collapse_and_big_groups_fold_into_more_lines() -> None:
    state = _state_at("rolling", 14.5)
    lines = build_tree(state.store, state.filter, state.tree)
    rs = next(line for line in lines if line.kind == "ReplicaSet")
    state.tree.toggle(rs.key)
    folded = build_tree(state.store, state.filter, state.tree)
    assert len(folded) == len(lines) - 3
    state.tree.toggle(rs.key)
    state.tree.limits[rs.key] = 1
    limited = build_tree(state.store, state.filter, state.tree)
    more = next(line for line in limited if line.kind == MORE)
    assert more.hidden == 2 and more.group_key == rs.key
    state.tree.show_more(rs.key)
    assert all(line.kind != MORE for line in build_tree(state.store, state.filter, state.tree))


def test_text_filter_keeps_ancestors_and_descendants() -> None:
    state = _state_at("rolling", 14.5)
    state.filter = ViewFilter().with_text("tz6wn")
    texts = _texts(state)
    assert ["default" in texts[0], "deploy web" in texts[1], "rs web-5d8f7c9b4" in texts[2],
            "tz6wn" in texts[3]] == [True] * 4  # fmt: skip
    assert len([t for t in texts if "web-5d8f7c9b4-" in t]) == 2  # the pod and its endpoint
    state.filter = ViewFilter().with_text("web-7c6b9d44f")
    texts = _texts(state)
    assert any("rs web-7c6b9d44f" in t for t in texts)
    assert not any("rs web-5d8f7c9b4" in t for t in texts)


def test_namespace_and_selector_filters() -> None:
    state = _state_at("rolling", 14.5)
    state.filter = ViewFilter().with_namespace("other")
    texts = _texts(state)  # no workloads there; the nodes are context for any namespace
    assert texts[0].startswith("▾ nodes  2 nodes") and len(texts) == 3
    assert "node-1" in texts[1] and "Ready · 3 pods" in texts[1]
    state.filter = ViewFilter().with_selector("pod-template-hash=7c6b9d44f")
    texts = _texts(state)
    assert any("rs web-7c6b9d44f" in t for t in texts)
    assert not any("web-5d8f7c9b4-2xkqp" in t and "Terminating" in t for t in texts)
    assert not any("nodes" in t for t in texts)  # a selector narrows to what it matches
    with pytest.raises(SelectorError):
        ViewFilter().with_selector("app in (")


def test_pod_status_reads_like_kubectl() -> None:
    state = _state_at("rolling", 14.5)
    pods = {p.name.rsplit("-", 1)[-1]: p for p in state.store.rows("Pod").values()}
    assert pod_status(pods["2xkqp"]) == "Terminating"  # type: ignore[arg-type]
    assert pod_status(pods["w2n6s"]) == "ContainerCreating"  # type: ignore[arg-type]
    assert pod_status(pods["hq8zr"]) == "Running"  # type: ignore[arg-type]


# -- lanes ----------------------------------------------------------------------------------


def _lane(*marks: tuple[float, LaneMark]) -> Lane:
    lane = Lane("u", "default", "p")
    for t, mark in marks:
        lane.add(t, mark)
    return lane


def test_lane_states_follow_the_marks() -> None:
    lane = _lane((0, LaneMark.PENDING), (1, LaneMark.SCHEDULED), (2, LaneMark.RUNNING),
                 (4, LaneMark.READY), (6, LaneMark.DELETION_REQUESTED),
                 (6.5, LaneMark.NOT_READY), (8, LaneMark.GONE))  # fmt: skip
    assert [state_at(lane.entries, t) for t in (0.5, 1.5, 3, 5, 7, 9)] == [
        State.PENDING, State.SCHEDULED, State.NOT_READY, State.READY, State.TERMINATING,
        State.GONE,
    ]  # fmt: skip


def test_lane_cells_draw_states_and_marks_on_the_shared_axis() -> None:
    lane = _lane((0, LaneMark.PENDING), (2, LaneMark.RUNNING), (4, LaneMark.READY),
                 (4.1, LaneMark.ENDPOINT_JOINED), (6, LaneMark.DELETION_REQUESTED),
                 (7, LaneMark.CONTAINER_TERMINATED), (8, LaneMark.ENDPOINT_LEFT),
                 (9, LaneMark.GONE))  # fmt: skip
    cells = lane_cells(lane, Axis(0, 10, 10), upto=10)
    assert plain(cells) == "░░▓▓+█Dx-·"
    roles = "".join(role[0] if role else " " for text, role in cells for _ in text)
    assert roles == "mmwwmommmm"  # muted, warn, marker, ok, markers, muted


def test_lane_cells_mark_the_hazard_window_and_stop_at_the_frozen_now() -> None:
    from kwatch.core.hazards import Hazard

    lane = _lane((0, LaneMark.READY), (2, LaneMark.DELETION_REQUESTED))
    hz = Hazard("serving-while-dying", 2.0, "default", "p", "u", "m", window_s=3.0)
    cells = lane_cells(lane, Axis(0, 10, 10), upto=6, hazards=[hz])
    text = plain(cells)
    assert text == "██D▓▓▓▓   "  # nothing after the frozen "now" (6s)
    roles = [role for text, role in cells for _ in text]
    assert roles[:6] == ["ok", "ok", "marker", "hazard", "hazard", "hazard"]


def test_axis_zoom_keeps_the_latest_seconds() -> None:
    assert axis_for(100.0, 400.0, 30, None).t0 == 100.0
    assert axis_for(100.0, 400.0, 30, 60.0).t0 == 340.0


# -- timeline ---------------------------------------------------------------------------------


def test_timeline_entries_read_as_who_did_what() -> None:
    state = _state_at("shutdown", 16.0)
    texts = [plain(entry_spans(e, 160, START, state.hazards, state.hazard_uids))
             for e in state.timeline]  # fmt: skip
    deletion = next(t for t in texts if "DeletionRequested" in t)
    assert deletion.startswith("  +10.000s ⚠ user") and "preStop none" in deletion
    hazard = next(t for t in texts if "serving-while-dying" in t)
    assert "window 1.20s" in hazard
    # the hazard line follows the step that raised it
    assert texts.index(hazard) == texts.index(deletion) + 1
    assert any("endpointslice-controller" in t and "EndpointRemoved" in t for t in texts)


def test_describe_falls_back_to_key_values() -> None:
    from kwatch.core.steps import Step

    step = Step(0.0, "Node", "", "n1", "u", "kubelet", "NodeTainted", {"key": "k", "effect": "E"})
    assert describe(step) == "key=k effect=E"


# -- view state -------------------------------------------------------------------------------


def test_pause_buffers_without_dropping_and_resume_catches_up() -> None:
    scenario = shutdown_without_prestop()
    session = new_session()
    state = ViewState(session)
    state.attach()
    feed(session, scenario, START + 5)
    state.drain()
    before = len(state.timeline)
    state.pause()
    feed(session, scenario, START + 16, since=START + 5)
    assert state.drain() <= {"status"}
    assert len(state.timeline) == before
    buffered = state.buffered
    assert buffered.steps == 11 and buffered.events > 0 and buffered.hazards == 1
    assert state.store.by_uid("pod-k2x9p") is None  # the store kept applying
    state.resume()
    dirty = state.drain()
    assert {"tree", "timeline", "lanes", "hazards"} <= dirty
    assert len(state.timeline) == before + 12  # 11 steps + the hazard line
    assert not state.buffered.any


def test_statefulset_pods_by_ordinal_and_daemonset_outdated_pods() -> None:
    from kwatch.core.events import EventType, KEvent
    from kwatch.core.pipeline import Pipeline

    def obj(kind: str, name: str, uid: str, owner: tuple[str, str] | None = None,
            labels: dict[str, str] | None = None, **rest: object) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, "namespace": "default", "uid": uid,
                                   "resourceVersion": "1", "labels": labels or {}}
        if owner:
            meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": owner[1],
                                        "controller": True}]
        return {"kind": kind, "metadata": meta, **rest}  # fmt: skip

    def pod_spec(image: str, node: str) -> dict[str, object]:
        return {"nodeName": node, "containers": [{"name": "a", "image": image}]}

    tmpl = {"spec": {"containers": [{"name": "a", "image": "agent:2"}]}}
    objs = [
        obj("StatefulSet", "db", "db", spec={"replicas": 3},
            status={"updateRevision": "db-new", "currentRevision": "db-old"}),
        *(obj("Pod", f"db-{i}", f"db-{i}", ("StatefulSet", "db"),
              {"controller-revision-hash": "db-new" if i != 10 else "db-old"},
              spec=pod_spec("pg:16", "n1")) for i in (10, 2, 0)),
        obj("DaemonSet", "agent", "agent", spec={"updateStrategy": {"type": "OnDelete"},
                                                 "template": tmpl}),
        obj("Pod", "agent-b", "agent-b", ("DaemonSet", "agent"),
            {"controller-revision-hash": "h2"}, spec=pod_spec("agent:2", "node-b")),
        obj("Pod", "agent-a", "agent-a", ("DaemonSet", "agent"),
            {"controller-revision-hash": "h1"}, spec=pod_spec("agent:1", "node-a")),
    ]  # fmt: skip
    pipeline = Pipeline()
    pipeline([KEvent(START, str(o["kind"]), EventType.ADDED, o, "1") for o in objs])
    state = ViewState(new_session())
    state.store = pipeline.store
    texts = _texts(state, 120)
    names = [t.split()[1] for t in texts if t.split()[0] in ("●", "○", "◐")]
    assert names[:3] == ["db-0", "db-2", "db-10"]  # ordinals, not string order
    assert "outdated" in next(t for t in texts if "db-10 " in t)
    assert names[3:] == ["agent-a", "agent-b"]  # by node
    assert "outdated" in next(t for t in texts if "agent-a" in t)
    assert "outdated" not in next(t for t in texts if "agent-b" in t)
    assert "OnDelete" in next(t for t in texts if "ds agent" in t)


def test_status_bar_keeps_what_matters_when_narrow() -> None:
    from dataclasses import dataclass as dc

    from kwatch.session import TrafficCounters
    from kwatch.ui.widgets.status import layout_items, status_items

    @dc
    class Health:
        kind: str
        state: str

        def summary(self) -> str:
            return f"{self.kind} {self.state}"

    session = new_session(traffic=TrafficCounters(ok=1200, refused=12, target="svc web"),
                          recording="/tmp/x.jsonl")  # fmt: skip
    session.health = lambda: [Health("Pod", "synced"), Health("EndpointSlice", "backing-off")]
    state = ViewState(session)
    state.attach()
    feed(session, shutdown_without_prestop(), START + 12)
    state.drain()
    state.pause()
    wide = layout_items(status_items(state, 160), 160).plain
    assert "⏸ PAUSED" in wide and "⚠ 1 hazard" in wide and "● REC" in wide
    assert "ok 1,200" in wide and "503 12" in wide
    assert "slice backing-off" in layout_items(status_items(state, 140), 140).plain
    narrow = layout_items(status_items(state, 60), 60).plain
    assert "PAUSED" in narrow and "hazard" in narrow and len(narrow) <= 60
    detailed = layout_items(status_items(state, 200), 200).plain
    assert "pod✓" in detailed and "slice✗" in detailed


# -- control plane: leader-election Leases ----------------------------------------------


def test_control_plane_group_shows_who_leads_and_the_failover() -> None:
    from core.builders import Cluster, lease

    from kwatch.ui.model.detail import build_detail, control_plane_detail
    from kwatch.ui.widgets.status import layout_items, status_items

    from .fixtures import FakeClock

    clock = FakeClock()
    session = new_session(clock=clock)
    state = ViewState(session)
    state.attach()
    feed(session, shutdown_without_prestop(), START + 5)
    t = START + 5
    uuid = "_0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    cluster = Cluster(t)
    session.pipeline([cluster.added(lease("kube-controller-manager", "cp-1" + uuid, t=t))])
    clock.t = t + 1
    state.drain()
    texts = _texts(state)
    assert texts[0].startswith("▾ control plane") and "1 leader lease" in texts[0]
    assert "kube-controller-manager" in texts[1] and "▸ cp-1 " in texts[1] + " "
    assert "uuid" not in texts[1] and "0 transitions" in texts[1]
    assert texts[2].startswith("▾ default")  # the namespaces follow
    assert "leader kcm cp-1" in layout_items(status_items(state, 160), 160).plain
    assert "leader" not in layout_items(status_items(state, 80), 80).plain

    clock.t = t + 8  # the holder stopped renewing: the failover is under way
    assert "unrenewed 8s" in _texts(state)[1]
    clock.t = t + 20
    assert "expired 20s" in _texts(state)[1]
    assert "kcm expired" in layout_items(status_items(state, 160), 160).plain

    renewed = lease("kube-controller-manager", "cp-2" + uuid, transitions=1, t=t + 20)
    session.pipeline([cluster.at(t + 20).modified(renewed)])
    state.drain()
    line = _texts(state)[1]
    assert "▸ cp-2" in line and "1 transition" in line and "expired" not in line
    row = state.store.by_uid("lease-uid-kube-controller-manager")
    detail = build_detail(row, state.store, START, clock.t, [], 100)
    assert "cp-2" + uuid in detail and "transitions" in detail
    assert "cp-2" in control_plane_detail(state.store, clock.t)


def test_nodes_group_shows_readiness_cordon_taints_and_pods() -> None:
    from core.builders import Cluster, node

    from .fixtures import FakeClock

    clock = FakeClock()
    session = new_session(clock=clock)
    state = ViewState(session)
    state.attach()
    feed(session, shutdown_without_prestop(), START + 5)
    t = START + 6
    unreachable = [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                   {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    session.pipeline([Cluster(t).modified(node(
        "node-2", ready="Unknown", reason="NodeStatusUnknown", t=t, taints=unreachable,
        unschedulable=True))])
    clock.t = t + 1
    state.drain()
    texts = _texts(state, width=120)
    at = next(i for i, x in enumerate(texts) if x.startswith("▾ nodes"))
    assert texts[at].startswith("▾ nodes  2 nodes") and at > 0  # after the workloads
    node1, node2 = texts[at + 1], texts[at + 2]
    on = {n: len(state.store.pods_on_node(n)) for n in ("node-1", "node-2")}
    assert on == {"node-1": 1, "node-2": 1}
    assert "node-1" in node1 and node1.rstrip().endswith("Ready · 1 pod")
    assert "node-2 ⚠" in node2 and node2.rstrip().endswith("· 1 pod")  # node-not-ready
    assert "NotReady (Unknown, NodeStatusUnknown) · cordoned · unreachable:NoExecute" in node2
    assert "unschedulable:" not in node2  # the cordon's own taint is the cordon
