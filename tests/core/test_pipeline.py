"""Pipeline: list summarising, listeners, counters, dedupe."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from kwatch.core.hazards import Hazard
from kwatch.core.pipeline import Pipeline
from kwatch.core.steps import Step
from kwatch.core.store import Change
from tests.core.builders import T0, Cluster, PodSim, k8s_event


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _listed_pods(c: Cluster, n: int, ns: str = "default") -> list[PodSim]:
    return [PodSim(f"p{i}", ns=ns) for i in range(n)]


def test_initial_list_is_summarised_then_steps_flow() -> None:
    c = Cluster()
    p = Pipeline()
    steps: list[Step] = []
    p.on_steps(steps.extend)
    pods = _listed_pods(c, 5)
    p([*(c.added(x.obj()) for x in pods), c.listed("Pod")])
    assert [(s.step, s.kind, s.actor, dict(s.details)) for s in steps] == [
        ("Synced", "Pod", "kwatch", {"count": 5})
    ]
    assert p.suppressed == 5 and p.store.counts() == {"Pod": 5}

    steps.clear()
    p([c.at(T0 + 1).modified(pods[0].schedule("n1", T0 + 1))])
    assert [(s.step, s.name) for s in steps] == [("PodScheduled", "p0")]


def test_without_suppression_the_list_is_narrated() -> None:
    c = Cluster()
    p = Pipeline(suppress_initial_list_steps=False)
    steps: list[Step] = []
    p.on_steps(steps.extend)
    p([*(c.added(x.obj()) for x in _listed_pods(c, 3)), c.listed("Pod")])
    assert [s.step for s in steps] == ["PodCreated"] * 3 + ["Synced"]


def test_views_sync_per_namespace() -> None:
    c = Cluster()
    p = Pipeline()
    steps: list[Step] = []
    p.on_steps(steps.extend)
    p([*(c.added(x.obj()) for x in _listed_pods(c, 2, ns="a")), c.listed("Pod", "a")])
    p([*(c.added(x.obj()) for x in _listed_pods(c, 3, ns="b")), c.listed("Pod", "b")])
    assert [(s.step, s.namespace, s.details["count"]) for s in steps] == [
        ("Synced", "a", 2),
        ("Synced", "b", 3),
    ]


def test_relist_narrates_only_what_changed() -> None:
    c = Cluster()
    p = Pipeline()
    steps: list[Step] = []
    p.on_steps(steps.extend)
    a, b = PodSim("a"), PodSim("b")
    first = [c.added(a.obj()), c.added(b.obj())]
    p([*first, c.listed("Pod")])
    steps.clear()
    # The relist batch as the sources send it: RESET, tombstone for b, a re-sent
    # unchanged (same resourceVersion), a new pod, LISTED.
    tomb = {
        "kind": "Pod",
        "metadata": {k: first[1].obj["metadata"][k] for k in ("name", "namespace", "uid")},
    }
    newcomer = PodSim("c")
    p(
        [
            c.reset("Pod"),
            c.deleted(tomb),
            first[0],
            c.added(newcomer.obj()),
            c.listed("Pod"),
        ]
    )
    assert [(s.step, s.name) for s in steps] == [
        ("PodGone", "b"),
        ("PodCreated", "c"),
        ("Relisted", ""),
    ]
    assert steps[-1].details == {"count": 2, "relists": 1}


def test_listeners_once_per_batch_and_unsubscribe() -> None:
    c = Cluster()
    p = Pipeline()
    calls: list[tuple[str, int]] = []

    def on_changes(changes: Sequence[Change]) -> None:
        calls.append(("changes", len(changes)))

    def on_steps(steps: Sequence[Step]) -> None:
        calls.append(("steps", len(steps)))

    def on_hazards(hazards: Sequence[Hazard]) -> None:
        calls.append(("hazards", len(hazards)))

    p.on_changes(on_changes)
    stop = p.on_steps(on_steps)
    p.on_hazards(on_hazards)
    p([c.listed("Pod")])
    assert calls == [("steps", 1)]  # Synced; no changes, no hazards
    calls.clear()
    pods = [PodSim(f"x{i}") for i in range(3)]
    p([c.added(x.obj()) for x in pods])
    assert calls == [("changes", 3), ("steps", 3)]
    calls.clear()
    stop()
    p([c.modified(pods[0].schedule("n1", T0))])
    assert calls == [("changes", 1)]
    p([])  # an empty batch is nothing at all
    assert p.batches == 3


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    c = Cluster()
    p = Pipeline()
    seen: list[Step] = []

    def broken(steps: Sequence[Step]) -> None:
        raise RuntimeError("view bug")

    p.on_steps(broken)
    p.on_steps(seen.extend)
    with caplog.at_level(logging.ERROR, logger="kwatch.core.pipeline"):
        p([c.listed("Pod")])
    assert [s.step for s in seen] == ["Synced"]
    assert "steps listener" in caplog.text and "view bug" in caplog.text


def test_counters_and_rate() -> None:
    clock = FakeClock()
    c = Cluster()
    p = Pipeline(clock=clock, rate_window_s=5.0)
    p([c.added(PodSim(f"p{i}").obj()) for i in range(10)] + [c.listed("Pod")])
    clock.now += 2
    p([c.added(k8s_event("e1", regarding=PodSim("p0").obj(), reason="Pulled"))])
    stats = p.stats
    assert (stats.events, stats.changes, stats.batches, stats.suppressed) == (12, 11, 2, 11)
    assert stats.per_kind == {"Pod": 11, "Event": 1}
    assert stats.events_per_s == pytest.approx(12 / 5)
    clock.now += 4  # the first batch left the window
    assert p.events_per_second() == pytest.approx(1 / 5)
    clock.now += 10
    assert p.events_per_second() == 0.0


def test_pod_evicted_is_reported_once() -> None:
    """The DisruptionTarget condition and the evictor's Event describe one eviction."""
    c = Cluster()
    p = Pipeline()
    steps: list[Step] = []
    p.on_steps(steps.extend)
    p([c.listed("Pod"), c.listed("Event")])
    pod = PodSim("p")
    pod.schedule("n1", T0)
    p([c.added(pod.obj())])
    pod.disruption = "DeletionByTaintManager"
    p([c.at(T0 + 1).modified(pod.delete(T0 + 1))])
    ev = k8s_event("p.1", regarding=pod.obj(), reason="TaintManagerEviction", note="evict")
    p([c.at(T0 + 1.1).added(ev)])
    assert [s.step for s in steps].count("PodEvicted") == 1


def test_lanes_through_the_pipeline() -> None:
    c = Cluster()
    p = Pipeline()
    p([c.listed("Pod"), c.listed("EndpointSlice")])
    pod = PodSim("p")
    p([c.at(T0).added(pod.obj())])
    p([c.at(T0 + 1).modified(pod.schedule("n1", T0 + 1))])
    p([c.at(T0 + 5).deleted(pod.obj())])
    lane = p.store.lanes[pod.uid]
    assert [e.mark.value for e in lane.entries] == ["Pending", "Scheduled", "Gone"]
    assert lane.gone
