"""Deterministic sessions for UI tests, snapshots and screenshots.

Two stories, told as timed KEvent batches with the core engineer's builders
(tests/core/builders.py), every uid and time fixed so screens are reproducible:

* `rolling_update()`: Deployment web (3 replicas, maxSurge 1 / maxUnavailable 0, a
  preStop sleep) moves from nginx:1.25 to nginx:1.27.
* `shutdown_without_prestop()`: a pod of a Deployment without preStop is deleted; its
  process exits on SIGTERM while the EndpointSlice still routes to it (lab 2).

`session_at(scenario, moment)` feeds every batch up to a named moment into a fresh
Pipeline and stops the session clock there: no wall-clock time leaks into a screen.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:  # tests/ holds the core builders (tests/core/builders.py)
    sys.path.insert(0, str(_TESTS))

from core.builders import (  # noqa: E402
    T0,
    Cluster,
    PodSim,
    deployment,
    deployment_status,
    endpoint,
    endpointslice,
    k8s_event,
    node,
    owner_ref,
    pod_template,
    replicaset,
    service,
)
from textual.pilot import Pilot  # noqa: E402

from kwatch.core.events import JSON, KEvent  # noqa: E402
from kwatch.core.pipeline import Pipeline  # noqa: E402
from kwatch.session import ClusterActions, Session, TrafficCounters  # noqa: E402
from kwatch.ui.app import KwatchApp  # noqa: E402

START = T0  # Session.start of every fixture session


@dataclass
class FakeClock:
    """The session's "now": tests move it; nothing reads the wall clock."""

    t: float = START

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeActions:
    """A ClusterActions that records calls (and can be told to fail)."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail: str | None = None

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail:
            raise RuntimeError(self.fail)

    async def delete_pod(self, namespace: str, name: str) -> None:
        self._record("delete_pod", namespace, name)

    async def scale(self, kind: str, namespace: str, name: str, replicas: int) -> None:
        self._record("scale", kind, namespace, name, replicas)

    async def rollout_restart(self, kind: str, namespace: str, name: str) -> None:
        self._record("rollout_restart", kind, namespace, name)

    async def set_image(
        self, kind: str, namespace: str, name: str, container: str, image: str
    ) -> None:
        self._record("set_image", kind, namespace, name, container, image)


_actions_check: ClusterActions = FakeActions()  # FakeActions satisfies the Protocol


@dataclass
class Scenario:
    name: str
    batches: list[tuple[float, list[KEvent]]]  # (time, events), in time order
    moments: dict[str, float]  # name → time to stop at
    selected: dict[str, str] = field(default_factory=dict)  # moment → uid worth selecting


class Story:
    """Collects timed batches; `at(dt)` is seconds after START."""

    def __init__(self) -> None:
        self.cluster = Cluster(START)
        self.batches: list[tuple[float, list[KEvent]]] = []

    def at(self, dt: float, *objs: tuple[str, JSON]) -> None:
        t = START + dt
        self.cluster.at(t)
        events = []
        for how, obj in objs:
            make: Callable[[JSON], KEvent] = getattr(self.cluster, how)
            events.append(make(obj))
        self.batches.append((t, events))

    def listed(self, dt: float, kinds: Sequence[str]) -> None:
        t = START + dt
        self.cluster.at(t)
        self.batches.append((t, [self.cluster.listed(k) for k in kinds]))


ALL_KINDS = ("Node", "Deployment", "ReplicaSet", "Pod", "Service", "EndpointSlice", "Event")


def _pod(rs: JSON, suffix: str, uid: str, created: float, **kw: Any) -> PodSim:
    labels = dict(rs["metadata"]["labels"])
    tmpl = rs["spec"]["template"]["spec"]["containers"][0]
    return PodSim(
        name=f"{rs['metadata']['name']}-{suffix}",
        ns=rs["metadata"]["namespace"],
        uid=uid,
        owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
        labels=labels,
        image=tmpl["image"],
        readiness_probe="readinessProbe" in tmpl,
        prestop=tmpl.get("lifecycle", {}).get("preStop"),
        grace=rs["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30),
        created=created,
        **kw,
    )


def _running_pod(pod: PodSim, node_name: str, ip: str, since: float) -> JSON:
    pod.schedule(node_name, since)
    pod.start(since + 1, ip=ip)
    return pod.become_ready(since + 3)


def _deploy_status(gen: int, replicas: int, updated: int, ready: int, t: float, *,
                   done: bool) -> JSON:  # fmt: skip
    return deployment_status(
        generation=gen,
        replicas=replicas,
        updated=updated,
        ready=ready,
        available=ready,
        progressing=("True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated"),
        t=t,
    )


# --------------------------------------------------------------------------- rolling update


def rolling_update() -> Scenario:
    s = Story()
    before = START - 600
    prestop = {"exec": {"command": ["sleep", "5"]}}
    tmpl_old = pod_template("nginx:1.25", labels={"app": "web"}, prestop=prestop, grace=30)
    dep = deployment(
        "web", uid="dep-web", replicas=3, max_surge=1, max_unavailable=0, revision="1",
        template=tmpl_old, t=before,
        status=_deploy_status(1, 3, 3, 3, before, done=True),
    )  # fmt: skip
    rs_old = replicaset(dep, "5d8f7c9b4", replicas=3, revision="1", uid="rs-old", t=before,
                        ready=3)  # fmt: skip
    pods_old = [
        _pod(rs_old, sfx, f"pod-{sfx}", before) for sfx in ("2xkqp", "9hv4m", "tz6wn")
    ]
    objs_old = [
        _running_pod(p, f"node-{i % 2 + 1}", f"10.244.{i % 2 + 1}.{11 + i}", before)
        for i, p in enumerate(pods_old)
    ]
    svc = service("web", t=before)
    svc["metadata"]["uid"] = "svc-web"

    def slice_of(eps: list[JSON]) -> JSON:
        return endpointslice("web", eps, name="web-x7k2p", uid="slice-web", t=before)

    eps: dict[str, JSON] = {p.uid: endpoint(p) for p in pods_old}
    s.at(
        0,
        ("added", node("node-1", t=before)),
        ("added", node("node-2", t=before)),
        ("added", dep),
        ("added", rs_old),
        *(("added", o) for o in objs_old),
        ("added", svc),
        ("added", slice_of(list(eps.values()))),
    )
    s.listed(0, ALL_KINDS)

    # +5s: kubectl set image → generation 2, a new ReplicaSet (revision 2).
    tmpl_new = pod_template("nginx:1.27", labels={"app": "web"}, prestop=prestop, grace=30)
    dep2 = deployment(
        "web", uid="dep-web", replicas=3, max_surge=1, max_unavailable=0, revision="1",
        template=tmpl_new, generation=2, t=before,
        status=_deploy_status(1, 3, 3, 3, before, done=True),
    )  # fmt: skip
    s.at(5.0, ("modified", dep2))
    rs_new = replicaset(dep2, "7c6b9d44f", replicas=1, revision="2", uid="rs-new",
                        t=START + 5.1)  # fmt: skip
    dep2b = deployment(
        "web", uid="dep-web", replicas=3, max_surge=1, max_unavailable=0, revision="2",
        template=tmpl_new, generation=2, t=before,
        status=_deploy_status(2, 4, 1, 3, START + 5.1, done=False),
    )  # fmt: skip
    s.at(5.1, ("added", rs_new), ("modified", dep2b))
    new_pods = [
        _pod(rs_new, sfx, f"pod-{sfx}", START + dt)
        for sfx, dt in (("hq8zr", 5.2), ("m4c7d", 9.3), ("w2n6s", 13.1))
    ]
    p1, p2, p3 = new_pods
    s.at(5.2, ("added", p1.obj()),
         ("added", k8s_event("ev-1", regarding=rs_new, reason="SuccessfulCreate",
                             note=f"Created pod: {p1.name}", controller="replicaset-controller",
                             t=START + 5.2)))  # fmt: skip
    s.at(5.3, ("modified", p1.schedule("node-2", START + 5.3)))
    s.at(6.6, ("modified", p1.start(START + 6.6, ip="10.244.2.21")))
    s.at(8.9, ("modified", p1.become_ready(START + 8.9)))
    eps[p1.uid] = endpoint(p1)
    s.at(9.1, ("modified", slice_of(list(eps.values()))))

    # New pod ready → old RS scaled to 2 (one old pod deleted), new RS scaled to 2.
    old_a = pods_old[0]
    rs_old2 = replicaset(dep, "5d8f7c9b4", replicas=2, revision="1", uid="rs-old", t=before,
                         ready=3)  # fmt: skip
    rs_new2 = replicaset(dep2, "7c6b9d44f", replicas=2, revision="2", uid="rs-new",
                         t=START + 5.1, ready=1)  # fmt: skip
    s.at(9.2, ("modified", rs_old2), ("modified", rs_new2))
    s.at(9.3, ("modified", old_a.delete(START + 9.3)), ("added", p2.obj()))
    eps[old_a.uid] = endpoint(old_a, ready=False, serving=True, terminating=True)
    s.at(9.6, ("modified", slice_of(list(eps.values()))),
         ("modified", p2.schedule("node-1", START + 9.6)))  # fmt: skip
    s.at(10.8, ("modified", p2.start(START + 10.8, ip="10.244.1.22")))
    # preStop sleep 5s → SIGTERM at +14.3, exits.
    s.at(12.9, ("modified", p2.become_ready(START + 12.9)))
    eps[p2.uid] = endpoint(p2)
    s.at(13.0, ("modified", slice_of(list(eps.values()))))
    old_b = pods_old[1]
    rs_old3 = replicaset(dep, "5d8f7c9b4", replicas=1, revision="1", uid="rs-old", t=before,
                         ready=1)  # fmt: skip
    rs_new3 = replicaset(dep2, "7c6b9d44f", replicas=3, revision="2", uid="rs-new",
                         t=START + 5.1, ready=2)  # fmt: skip
    s.at(13.1, ("modified", rs_old3), ("modified", rs_new3), ("added", p3.obj()),
         ("modified", old_b.delete(START + 13.1)))  # fmt: skip
    eps[old_b.uid] = endpoint(old_b, ready=False, serving=True, terminating=True)
    s.at(13.4, ("modified", slice_of(list(eps.values()))),
         ("modified", p3.schedule("node-2", START + 13.4)))  # fmt: skip
    s.at(14.4, ("modified", old_a.terminate(START + 14.4, exit_code=0)))
    mid = 14.5
    s.at(14.9, ("modified", p3.start(START + 14.9, ip="10.244.2.23")))
    s.at(15.1, ("deleted", old_a.obj()))
    del eps[old_a.uid]
    s.at(15.2, ("modified", slice_of(list(eps.values()))))
    s.at(17.0, ("modified", p3.become_ready(START + 17.0)))
    eps[p3.uid] = endpoint(p3)
    s.at(17.2, ("modified", slice_of(list(eps.values()))))
    old_c = pods_old[2]
    rs_old4 = replicaset(dep, "5d8f7c9b4", replicas=0, revision="1", uid="rs-old", t=before)
    s.at(17.3, ("modified", rs_old4), ("modified", old_c.delete(START + 17.3)))
    eps[old_c.uid] = endpoint(old_c, ready=False, serving=True, terminating=True)
    s.at(17.5, ("modified", slice_of(list(eps.values()))))
    s.at(18.2, ("modified", old_b.terminate(START + 18.2, exit_code=0)))
    s.at(18.9, ("deleted", old_b.obj()))
    del eps[old_b.uid]
    s.at(19.0, ("modified", slice_of(list(eps.values()))))
    s.at(22.4, ("modified", old_c.terminate(START + 22.4, exit_code=0)))
    s.at(23.0, ("deleted", old_c.obj()))
    del eps[old_c.uid]
    dep_done = deployment(
        "web", uid="dep-web", replicas=3, max_surge=1, max_unavailable=0, revision="2",
        template=tmpl_new, generation=2, t=before,
        status=_deploy_status(2, 3, 3, 3, START + 23.1, done=True),
    )  # fmt: skip
    s.at(23.1, ("modified", slice_of(list(eps.values()))), ("modified", dep_done))
    return Scenario(
        "rolling-update",
        s.batches,
        {"mid": START + mid, "done": START + 25.0},
        {"mid": old_a.uid, "done": "dep-web"},
    )


# --------------------------------------------------------------------------- lab 2


def shutdown_without_prestop() -> Scenario:
    s = Story()
    before = START - 300
    tmpl = pod_template("nginx:1.25", labels={"app": "web"}, grace=30)
    dep = deployment(
        "web", uid="dep-web", replicas=2, max_surge=1, max_unavailable=0, revision="1",
        template=tmpl, t=before, status=_deploy_status(1, 2, 2, 2, before, done=True),
    )  # fmt: skip
    rs = replicaset(dep, "6f9c8d7b5", replicas=2, revision="1", uid="rs-web", t=before, ready=2)
    a, b = (_pod(rs, sfx, f"pod-{sfx}", before) for sfx in ("k2x9p", "r7m4q"))
    svc = service("web", t=before)
    svc["metadata"]["uid"] = "svc-web"

    def slice_of(eps: list[JSON]) -> JSON:
        return endpointslice("web", eps, name="web-8fz2c", uid="slice-web", t=before)

    objs = [
        _running_pod(a, "node-1", "10.244.1.14", before),
        _running_pod(b, "node-2", "10.244.2.15", before),
    ]
    eps = {a.uid: endpoint(a), b.uid: endpoint(b)}
    s.at(
        0,
        ("added", node("node-1", t=before)),
        ("added", node("node-2", t=before)),
        ("added", dep),
        ("added", rs),
        *(("added", o) for o in objs),
        ("added", svc),
        ("added", slice_of(list(eps.values()))),
    )
    s.listed(0, ALL_KINDS)
    # +10s: kubectl delete pod → deletionTimestamp; the kubelet sends SIGTERM at once
    # (no preStop) and nginx exits in 0.3s, while the slice still says ready.
    s.at(10.0, ("modified", a.delete(START + 10.0)))
    c = _pod(rs, "x5t8v", "pod-x5t8v", START + 10.1)
    s.at(10.1, ("added", c.obj()),
         ("added", k8s_event("ev-kill", regarding=a.obj(), reason="Killing",
                             note="Stopping container app", controller="kubelet",
                             t=START + 10.1)))  # fmt: skip
    s.at(10.2, ("modified", c.schedule("node-2", START + 10.2)))
    s.at(10.3, ("modified", a.terminate(START + 10.3, exit_code=0)))
    eps[a.uid] = endpoint(a, ready=False, serving=False, terminating=True)
    s.at(11.2, ("modified", slice_of(list(eps.values()))))
    dying = 11.5
    s.at(11.9, ("modified", c.start(START + 11.9, ip="10.244.2.16")))
    s.at(12.4, ("deleted", a.obj()))
    del eps[a.uid]
    s.at(12.5, ("modified", slice_of(list(eps.values()))))
    s.at(14.0, ("modified", c.become_ready(START + 14.0)))
    eps[c.uid] = endpoint(c)
    s.at(14.2, ("modified", slice_of(list(eps.values()))))
    return Scenario(
        "shutdown-without-prestop",
        s.batches,
        {"dying": START + dying, "after": START + 16.0},
        {"dying": a.uid, "after": "svc-web"},
    )


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "rolling-update": rolling_update,
    "shutdown-without-prestop": shutdown_without_prestop,
}


# --------------------------------------------------------------------------- sessions


def new_session(
    *,
    clock: FakeClock | None = None,
    read_only: bool = False,
    actions: ClusterActions | None = None,
    traffic: TrafficCounters | None = None,
    recording: str | None = None,
    narration: list[str] | None = None,
) -> Session:
    clk = clock or FakeClock()
    return Session(
        # The pipeline's events/s uses the session clock too: no wall time on screen.
        pipeline=Pipeline(clock=clk),
        source="replay",
        context="fixture",
        scope="default",
        start=START,
        clock=clk,
        read_only=read_only,
        actions=actions,
        traffic=lambda: traffic,
        recording_path=recording,
        narration=narration or [],
    )


def feed(session: Session, scenario: Scenario, until: float, since: float = 0.0) -> None:
    """Apply the batches after `since` up to `until`; stop the session's clock there."""
    clock = session.clock
    for t, batch in scenario.batches:
        if t <= since:
            continue
        if t > until + 1e-9:
            break
        if isinstance(clock, FakeClock):
            clock.t = t
        session.pipeline(batch)
    if isinstance(clock, FakeClock):
        clock.t = until


def app_at(scenario: Scenario, moment: str, **kw: Any) -> KwatchApp:
    """An app whose session has lived through `scenario` up to `moment`.

    The app is created first, as the CLI does, so its timeline hears every step."""
    app = KwatchApp(new_session(**kw))
    feed(app.session, scenario, scenario.moments[moment])
    return app


async def select(pilot: Pilot[int], uid: str) -> None:
    """Put the tree cursor on `uid` and let the app handle what follows (detail, lanes)."""
    app = pilot.app
    assert isinstance(app, KwatchApp)
    app.refresh_view()
    assert app.ownership.select_key(uid), f"{uid} is not in the tree"
    await pilot.pause()
    app.sync_to_selection()  # (the app defers it past the cursor's frame)
    app.refresh_view()
    await pilot.pause()


async def until(pilot: Pilot[int], condition: Callable[[], bool], within: float = 3.0) -> None:
    """Wait (briefly, repeatedly) for what the app does after a frame or a timer."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.02)
