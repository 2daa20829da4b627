"""Hazards: serving while dying (lab 2), ready without a readinessProbe (lab 1), extras."""

from __future__ import annotations

from typing import Any

from kwatch.core.hazards import (
    DAEMONSET_OUTDATED,
    GRACE_SHORTER_THAN_PRESTOP,
    KILLED_AT_GRACE_PERIOD,
    NODE_NOT_READY,
    READY_WITHOUT_PROBE,
    ROLLOUT_STUCK,
    SERVING_WHILE_DYING,
    STUCK_TERMINATING,
    Hazard,
)
from kwatch.core.pipeline import Pipeline
from tests.core.builders import (
    T0,
    Cluster,
    PodSim,
    deployment,
    deployment_status,
    endpoint,
    endpointslice,
    graceful_shutdown_batches,
    load_events,
    node,
    owner_ref,
)


class Lab:
    """A synced pipeline recording every hazard version it emits."""

    def __init__(self) -> None:
        self.c = Cluster()
        self.p = Pipeline()
        self.emitted: list[Hazard] = []
        self.p.on_hazards(self.emitted.extend)
        self.p([self.c.listed(k) for k in ("Pod", "EndpointSlice", "Deployment", "Event",
                                           "DaemonSet", "Node")])

    def batch(self, t: float, *events: tuple[str, dict[str, Any]]) -> list[Hazard]:
        before = len(self.emitted)
        self.c.at(t)
        self.p([getattr(self.c, how)(obj) for how, obj in events])
        return self.emitted[before:]

    def current(self, kind: str) -> list[Hazard]:
        return [h for h in self.p.hazards.hazards if h.kind == kind]


def _serving_pod(lab: Lab, **kw: Any) -> PodSim:
    """A pod that started, became ready and joined the `web` slice as ready."""
    pod = PodSim("web-1", **kw)
    lab.batch(T0, ("added", pod.obj()))
    lab.batch(T0 + 1, ("modified", pod.schedule("n1", T0 + 1)))
    lab.batch(T0 + 2, ("modified", pod.start(T0 + 2, ip="10.0.0.5")))
    if pod.readiness_probe:
        lab.batch(T0 + 3, ("modified", pod.become_ready(T0 + 3)))
    lab.batch(T0 + 3.5, ("added", endpointslice("web", [endpoint(pod)])))
    return pod


def _terminating(pod: PodSim) -> dict[str, Any]:
    return endpointslice("web", [endpoint(pod, ready=False, serving=True, terminating=True)])


def test_serving_while_dying_without_prestop_measures_the_window() -> None:
    lab = Lab()
    pod = _serving_pod(lab)
    (raised,) = lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10)))
    assert (raised.kind, raised.uid, raised.open, raised.window_s) == (
        SERVING_WHILE_DYING,
        pod.uid,
        True,
        None,
    )
    assert raised.revision == 0 and raised.details["slices"] == ["web-abcde"]
    assert "still routable in web-abcde (preStop: none)" in raised.message

    (closed,) = lab.batch(T0 + 10.25, ("modified", _terminating(pod)))
    assert closed.key == raised.key and closed.revision == 1
    assert (closed.open, closed.window_s) == (False, 0.25)
    assert closed.details["closed_by"] == "EndpointConditionChanged"
    assert closed.details["exited_while_routable"] is False
    assert "routable for 0.25s after the delete request" in closed.message
    assert lab.p.hazards.hazards == [closed]  # one hazard, latest version

    # Raised once per pod: later steps do not raise it again.
    assert lab.batch(T0 + 11, ("modified", pod.terminate(T0 + 11))) == []
    assert lab.batch(T0 + 12, ("deleted", pod.obj())) == []


def test_exited_while_still_routable() -> None:
    lab = Lab()
    pod = _serving_pod(lab)
    lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10)))
    lab.batch(T0 + 10.1, ("modified", pod.terminate(T0 + 10.1)))
    (closed,) = lab.batch(T0 + 10.6, ("modified", endpointslice("web", [])))
    assert closed.window_s == 0.6 and closed.details["closed_by"] == "EndpointRemoved"
    assert closed.details["exited_while_routable"] is True
    assert closed.details["routable_after_exit_s"] == 0.5
    assert "already exited 0.50s earlier" in closed.message


def test_pod_gone_before_the_slice_changed_closes_the_window() -> None:
    lab = Lab()
    pod = _serving_pod(lab)
    lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10, grace=0)))
    (closed,) = lab.batch(T0 + 10.05, ("deleted", pod.obj()))
    assert (closed.window_s, closed.details["closed_by"]) == (0.05, "PodGone")


def test_prestop_sleep_long_enough_is_safe() -> None:
    for prestop in ({"exec": {"command": ["sleep", "10"]}}, {"sleep": {"seconds": 5}}):
        lab = Lab()
        pod = _serving_pod(lab, prestop=prestop)
        assert lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10))) == []
        lab.batch(T0 + 10.2, ("modified", _terminating(pod)))
        assert lab.p.hazards.hazards == []


def test_short_prestop_sleep_is_not_enough() -> None:
    lab = Lab()
    pod = _serving_pod(lab, prestop={"exec": {"command": ["/bin/sh", "-c", "sleep 2"]}})
    (raised,) = lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10)))
    assert raised.kind == SERVING_WHILE_DYING and raised.details["prestop_s"] == 2.0


def test_not_routable_when_deleted_is_no_hazard() -> None:
    lab = Lab()
    pod = _serving_pod(lab)
    lab.batch(T0 + 5, ("modified", pod.become_not_ready(T0 + 5)))
    lab.batch(
        T0 + 5.1, ("modified", endpointslice("web", [endpoint(pod, ready=False, serving=False)]))
    )
    assert lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10))) == []


def test_deletion_and_slice_update_in_one_batch() -> None:
    """The store applies the whole batch before steps are observed; the tracker must
    judge the deletion against the slice as it was before this batch."""
    lab = Lab()
    pod = _serving_pod(lab)
    hazards = lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10)), ("modified", _terminating(pod)))
    assert [(h.kind, h.revision, h.open) for h in hazards] == [(SERVING_WHILE_DYING, 1, False)]
    assert hazards[0].window_s == 0.0


def test_endpoints_from_the_initial_list_are_known() -> None:
    c = Cluster()
    p = Pipeline()
    pod = PodSim("web-1", ip="10.0.0.5")
    pod.schedule("n1", T0 - 100)
    pod.start(T0 - 99, ip="10.0.0.5")
    listed = [
        c.added(pod.become_ready(T0 - 98)),
        c.added(endpointslice("web", [endpoint(pod)])),
        c.listed("Pod"),
        c.listed("EndpointSlice"),
    ]
    p(listed)
    assert p.hazards.hazards == []
    p([c.at(T0).modified(pod.delete(T0))])
    (h,) = p.hazards.hazards
    assert h.kind == SERVING_WHILE_DYING and h.open


def test_ready_without_readiness_probe() -> None:
    lab = Lab()
    pod = _serving_pod(lab, readiness_probe=False)  # started at +2, ready endpoint at +3.5
    (h,) = lab.current(READY_WITHOUT_PROBE)
    assert (h.uid, h.window_s, h.open) == (pod.uid, 1.5, False)
    assert h.details == {"slice": "web-abcde", "service": "web"}
    assert "1.50s after its container started with no readinessProbe" in h.message
    # Once per pod, even if it flaps.
    lab.batch(T0 + 4, ("modified", endpointslice("web", [endpoint(pod, ready=False)])))
    lab.batch(T0 + 5, ("modified", endpointslice("web", [endpoint(pod)])))
    assert len(lab.current(READY_WITHOUT_PROBE)) == 1
    assert [x.kind for x in lab.emitted].count(READY_WITHOUT_PROBE) == 1


def test_ready_with_probe_is_fine() -> None:
    lab = Lab()
    _serving_pod(lab)
    assert lab.p.hazards.hazards == []


def test_grace_shorter_than_prestop() -> None:
    lab = Lab()
    pod = _serving_pod(lab, prestop={"sleep": {"seconds": 30}})
    (h,) = lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10, grace=10)))
    assert h.kind == GRACE_SHORTER_THAN_PRESTOP
    assert h.details == {"prestop_s": 30.0, "grace_s": 10.0}


def test_stuck_terminating() -> None:
    lab = Lab()
    pod = _serving_pod(lab, prestop={"sleep": {"seconds": 5}})
    lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10, grace=10)))
    assert lab.p.check_timeouts(T0 + 49) == []  # 10 s grace + 30 s slack
    (h,) = lab.p.check_timeouts(T0 + 51)
    assert (h.kind, h.open, h.t) == (STUCK_TERMINATING, True, T0 + 51)
    assert lab.p.check_timeouts(T0 + 60) == []  # raised once
    (closed,) = lab.batch(T0 + 70, ("deleted", pod.obj()))
    assert (closed.kind, closed.open, closed.window_s) == (STUCK_TERMINATING, False, 60.0)


def test_rollout_stuck_opens_and_closes() -> None:
    lab = Lab()
    d = deployment(replicas=2, revision="2")
    lab.batch(T0, ("added", d))
    d["status"] = deployment_status(
        generation=1,
        replicas=2,
        updated=1,
        ready=1,
        available=1,
        progressing=("False", "ProgressDeadlineExceeded"),
    )
    (h,) = lab.batch(T0 + 600, ("modified", d))
    assert (h.kind, h.open, h.name) == (ROLLOUT_STUCK, True, "web")
    d["status"]["conditions"][1].update(status="True", reason="NewReplicaSetAvailable")
    (closed,) = lab.batch(T0 + 660, ("modified", d))
    assert (closed.open, closed.window_s, closed.revision) == (False, 60.0, 1)
    # Stuck again: the same hazard reopens, measured afresh.
    d["status"]["conditions"][1].update(status="False", reason="ProgressDeadlineExceeded")
    (again,) = lab.batch(T0 + 700, ("modified", d))
    assert (again.key, again.open, again.window_s, again.t) == (h.key, True, None, T0 + 700)


def test_hazard_json() -> None:
    h = Hazard(SERVING_WHILE_DYING, T0, "default", "p", "u", "msg", open=True)
    assert h.key == "serving-while-dying:u"
    assert h.to_json()["open"] is True and h.to_json()["window_s"] is None


def test_kevent_batches_from_the_jsonl_fixture() -> None:
    """The recorded graceful-shutdown lab (no preStop) replays to the same verdict."""
    p = Pipeline()
    for batch in load_events("graceful_shutdown_no_prestop.jsonl"):
        p(batch)
    (h,) = p.hazards.hazards
    assert (h.kind, h.name, h.open, h.window_s) == (SERVING_WHILE_DYING, "web-7c9d-x1", False, 0.3)
    assert h.details["exited_while_routable"] is True
    # The file is what graceful_shutdown_batches() builds (regenerate: see builders).
    assert load_events("graceful_shutdown_no_prestop.jsonl") == graceful_shutdown_batches()


def test_slice_seen_terminating_before_the_pod_deletion_still_raises() -> None:
    """Slices and pods arrive on separate watches: the endpointslice controller's
    `terminating` can be observed before the pod's deletionTimestamp. `terminating` is
    only set because of a deletion, so the pod was routable when it was told to stop."""
    lab = Lab()
    pod = _serving_pod(lab)
    assert lab.batch(T0 + 10.02, ("modified", _terminating(pod))) == []
    raised = lab.batch(T0 + 10.05, ("modified", pod.delete(T0 + 10)))
    assert [(h.kind, h.uid) for h in raised] == [(SERVING_WHILE_DYING, pod.uid)] * len(raised)
    final = lab.p.hazards.get(f"{SERVING_WHILE_DYING}:{pod.uid}")
    assert final is not None and final.open is False
    assert final.details["slices"] == ["web-abcde"]
    assert final.details["closed_by"] == "EndpointTerminating"
    assert final.window_s == 0.0


def test_endpoint_terminating_without_having_been_routable_raises_nothing() -> None:
    lab = Lab()
    pod = _serving_pod(lab)
    lab.batch(T0 + 5, ("modified", pod.become_not_ready(T0 + 5)))
    lab.batch(
        T0 + 5.1, ("modified", endpointslice("web", [endpoint(pod, ready=False, serving=False)]))
    )
    lab.batch(
        T0 + 9.9,
        ("modified", endpointslice("web", [endpoint(pod, ready=False, serving=False,
                                                    terminating=True)])),
    )
    assert lab.batch(T0 + 10, ("modified", pod.delete(T0 + 10))) == []


def _daemonset(strategy: str, image: str, *, generation: int, updated: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default", "uid": "ds-uid",
                     "generation": generation, "resourceVersion": str(generation + updated)},
        "spec": {"updateStrategy": {"type": strategy}, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"spec": {"containers": [{"name": "agent", "image": image}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                   "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": updated,
                   "observedGeneration": generation},
    }


def test_ondelete_daemonset_outdated_until_every_pod_is_replaced() -> None:
    lab = Lab()
    lab.batch(T0, ("added", _daemonset("OnDelete", "agent:1", generation=1, updated=3)))
    (raised,) = lab.batch(T0 + 10, ("modified", _daemonset("OnDelete", "agent:2",
                                                           generation=2, updated=0)))
    assert (raised.kind, raised.uid, raised.open) == (DAEMONSET_OUTDATED, "ds-uid", True)
    assert "updateStrategy is OnDelete" in raised.message
    assert lab.batch(T0 + 20, ("modified", _daemonset("OnDelete", "agent:2", generation=2,
                                                      updated=2))) == []
    (closed,) = lab.batch(T0 + 40, ("modified", _daemonset("OnDelete", "agent:2",
                                                           generation=2, updated=3)))
    assert (closed.open, closed.window_s, closed.revision) == (False, 30.0, 1)
    assert closed.message.endswith("all its pods run the new template after 30.0s")


def test_rolling_update_daemonsets_are_not_outdated() -> None:
    lab = Lab()
    lab.batch(T0, ("added", _daemonset("RollingUpdate", "agent:1", generation=1, updated=3)))
    assert lab.batch(T0 + 10, ("modified", _daemonset("RollingUpdate", "agent:2",
                                                      generation=2, updated=0))) == []


def test_switching_to_rolling_update_ends_the_outdated_wait() -> None:
    lab = Lab()
    lab.batch(T0, ("added", _daemonset("OnDelete", "agent:1", generation=1, updated=3)))
    lab.batch(T0 + 10, ("modified", _daemonset("OnDelete", "agent:2", generation=2, updated=0)))
    (closed,) = lab.batch(T0 + 15, ("modified", _daemonset("RollingUpdate", "agent:2",
                                                           generation=3, updated=0)))
    assert (closed.kind, closed.open, closed.window_s) == (DAEMONSET_OUTDATED, False, 5.0)
    assert "updateStrategy is RollingUpdate now" in closed.message


def _pod_on(name: str, node_name: str, lab: Lab, **kw: Any) -> PodSim:
    pod = PodSim(name, **kw)
    lab.batch(T0, ("added", pod.obj()))
    lab.batch(T0 + 1, ("modified", pod.schedule(node_name, T0 + 1)))
    lab.batch(T0 + 2, ("modified", pod.start(T0 + 2)))
    return pod


def test_node_not_ready_with_pods_until_they_are_evicted() -> None:
    lab = Lab()
    lab.batch(T0, ("added", node("n1")))
    web = _pod_on("web-1", "n1", lab)
    _pod_on("agent-1", "n1", lab, owner=owner_ref("DaemonSet", "agent", "ds-uid"))
    _pod_on("elsewhere", "n2", lab)
    (raised,) = lab.batch(T0 + 50, ("modified", node("n1", ready="Unknown",
                                                     reason="NodeStatusUnknown", t=T0 + 50)))
    assert (raised.kind, raised.name, raised.namespace, raised.open) == (
        NODE_NOT_READY, "n1", "", True)
    # The DaemonSet pod tolerates a not-ready node for ever; the other node's pod is fine.
    assert raised.details["pods"] == ["default/web-1"]
    assert "is not Ready (Ready=Unknown, NodeStatusUnknown)" in raised.message
    assert "tolerationSeconds" in raised.message
    web.phase = "Failed"
    lab.batch(T0 + 350, ("modified", web.delete(T0 + 350, grace=0)))
    (closed,) = lab.batch(T0 + 351, ("deleted", web.obj()))
    assert (closed.open, closed.window_s) == (False, 301.0)
    assert "all its pods are gone after" in closed.message


def test_node_ready_again_closes_it_and_a_podless_node_raises_nothing() -> None:
    lab = Lab()
    lab.batch(T0, ("added", node("n1")), ("added", node("n2")))
    _pod_on("web-1", "n1", lab)
    (raised,) = lab.batch(T0 + 50, ("modified", node("n1", ready="False", reason="KubeletDown",
                                                     t=T0 + 50)),
                          ("modified", node("n2", ready="Unknown", t=T0 + 50)))
    assert raised.name == "n1"  # n2 has no pods to strand
    (closed,) = lab.batch(T0 + 80, ("modified", node("n1", t=T0 + 80)))
    assert (closed.open, closed.window_s) == (False, 30.0)
    assert closed.message.endswith("Ready again after 30.0s")
    # A second outage reopens the same hazard, measured afresh.
    (again,) = lab.batch(T0 + 90, ("modified", node("n1", ready="Unknown", t=T0 + 90)))
    assert (again.key, again.open, again.window_s, again.t) == (raised.key, True, None, T0 + 90)
    assert again.revision == 2


def test_already_wrong_when_kwatch_started_shows_from_the_first_list() -> None:
    # No steps come from a first list, so these are found when the views are synced;
    # Nodes and Pods may finish listing in either order.
    c, p = Cluster(), Pipeline()
    emitted: list[Hazard] = []
    p.on_hazards(emitted.extend)
    pod = PodSim("web-1")
    pod.schedule("n1", T0 - 100)
    pod.start(T0 - 99)
    p([c.added(node("n1", ready="Unknown", reason="NodeStatusUnknown")), c.listed("Node")])
    assert emitted == []  # the pods are not listed yet
    ds = _daemonset("OnDelete", "agent:2", generation=2, updated=1)
    p([c.added(pod.obj()), c.listed("Pod"), c.added(ds), c.listed("DaemonSet")])
    by_kind = {h.kind: h for h in emitted}
    stranded, outdated = by_kind[NODE_NOT_READY], by_kind[DAEMONSET_OUTDATED]
    assert stranded.open and stranded.details["already"] is True
    assert "was already not Ready (Ready=Unknown, NodeStatusUnknown) when kwatch started" in (
        stranded.message)
    assert outdated.open and "already had 2 of 3 pods on an older template" in outdated.message
    c.at(T0 + 60)
    p([c.modified(node("n1", t=T0 + 60)),
       c.modified(_daemonset("OnDelete", "agent:2", generation=2, updated=3))])
    closed = {h.kind: h for h in emitted[2:]}
    assert not closed[NODE_NOT_READY].open and not closed[DAEMONSET_OUTDATED].open


def test_killed_at_the_end_of_the_grace_period() -> None:
    lab = Lab()
    pod = _serving_pod(lab, prestop={"sleep": {"seconds": 5}}, grace=10)
    lab.batch(T0 + 20, ("modified", pod.delete(T0 + 20)))
    (killed,) = lab.batch(T0 + 30, ("modified", pod.terminate(T0 + 30, 137, "Error")))
    assert (killed.kind, killed.uid, killed.window_s) == (KILLED_AT_GRACE_PERIOD, pod.uid, 10.0)
    assert "did not exit within its 10s grace period and was SIGKILLed (exit 137)" in (
        killed.message)


def test_a_clean_exit_or_an_oom_kill_is_not_a_grace_period_kill() -> None:
    for code, reason, deleted in ((0, "Completed", True), (137, "OOMKilled", True),
                                  (137, "Error", False)):
        lab = Lab()
        pod = _serving_pod(lab, prestop={"sleep": {"seconds": 5}})
        if deleted:
            lab.batch(T0 + 20, ("modified", pod.delete(T0 + 20)))
        lab.batch(T0 + 25, ("modified", pod.terminate(T0 + 25, code, reason)))
        assert not lab.current(KILLED_AT_GRACE_PERIOD), (code, reason, deleted)
