"""Event stories for the replay tests: a fixed one, and random ones for hypothesis.

Objects come from the core engineer's builders (tests/core/builders.py), so they look
like what the sources emit (already slimmed). A random story is a sequence of
operations on a small world — one ReplicaSet, a Service with one EndpointSlice, a few
pods going through their lives, relists, Events — cut into batches of random sizes at
non-decreasing times: enough to exercise rows, lanes, endpoint memberships, Events
filing and the hazard tracker (serving-while-dying, ready-without-probe).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:  # tests/ holds the core builders (tests/core/builders.py)
    sys.path.insert(0, str(_TESTS))

from core.builders import (  # noqa: E402
    T0,
    Cluster,
    PodSim,
    deployment,
    endpoint,
    endpointslice,
    k8s_event,
    node,
    owner_ref,
    pod_template,
    replicaset,
    service,
)

from kwatch.core.events import JSON, KEvent  # noqa: E402
from kwatch.sources.record import Recorder  # noqa: E402

__all__ = ["T0", "Batches", "World", "fixed_story", "record", "stories"]

Batches = list[list[KEvent]]
KINDS = ("Node", "Deployment", "ReplicaSet", "Pod", "Service", "EndpointSlice", "Event")


class World:
    """A tiny cluster whose changes become KEvents."""

    def __init__(self, prestop: bool = False, probe: bool = True) -> None:
        self.c = Cluster(T0)
        self.t = T0
        tmpl = pod_template(
            "nginx:1.25",
            labels={"app": "web"},
            readiness_probe=probe,
            prestop={"exec": {"command": ["sleep", "5"]}} if prestop else None,
        )
        self.dep = deployment("web", uid="dep-web", replicas=3, template=tmpl, t=T0 - 60)
        self.rs = replicaset(
            self.dep, "5d8f7c9b4", replicas=3, revision="1", uid="rs-web", t=T0 - 60
        )
        self.svc = service("web", t=T0 - 60)
        self.svc["metadata"]["uid"] = "svc-web"
        self.pods: dict[str, PodSim] = {}
        self.gone: set[str] = set()
        self.eps: dict[str, JSON] = {}
        self.serial = 0
        self.probe = probe
        self.prestop = prestop

    def at(self, dt: float) -> None:
        self.t += dt
        self.c.at(self.t)

    def initial(self) -> list[KEvent]:
        c = self.c
        return [
            c.added(node("node-1")),
            c.added(node("node-2")),
            c.added(self.dep),
            c.added(self.rs),
            c.added(self.svc),
            c.added(self.slice()),
            *(c.listed(k) for k in KINDS),
        ]

    def slice(self) -> JSON:
        return endpointslice("web", list(self.eps.values()), name="web-x7k2p", uid="slice-web")

    def live_pods(self) -> list[PodSim]:
        return [p for uid, p in self.pods.items() if uid not in self.gone]

    def new_pod(self) -> list[KEvent]:
        self.serial += 1
        name = f"web-5d8f7c9b4-p{self.serial}"
        pod = PodSim(
            name,
            uid=f"pod-{self.serial}",
            owner=owner_ref("ReplicaSet", "web-5d8f7c9b4", "rs-web"),
            labels={"app": "web", "pod-template-hash": "5d8f7c9b4"},
            readiness_probe=self.probe,
            prestop={"exec": {"command": ["sleep", "5"]}} if self.prestop else None,
            created=self.t,
        )
        self.pods[pod.uid] = pod
        ev = k8s_event(
            f"ev-{self.serial}",
            regarding=self.rs,
            reason="SuccessfulCreate",
            note=f"Created pod: {name}",
            controller="replicaset-controller",
            t=self.t,
        )
        return [self.c.added(pod.obj()), self.c.added(ev)]

    def advance(self, pod: PodSim) -> list[KEvent]:
        """The pod's next life step (schedule, start, ready, delete, exit, gone)."""
        t, c = self.t, self.c
        if pod.uid in self.gone:
            return []
        n = int(pod.uid.removeprefix("pod-"))
        if not pod.node:
            return [c.modified(pod.schedule(f"node-{n % 2 + 1}", t))]
        if pod.running_at is None:
            return [c.modified(pod.start(t, ip=f"10.244.0.{n + 10}"))]
        if not pod.ready and pod.deletion is None and pod.terminated is None:
            return [c.modified(pod.become_ready(t))]
        if pod.deletion is None:
            return [c.modified(pod.delete(t, grace=30))]
        if pod.terminated is None:
            return [c.modified(pod.terminate(t))]
        self.gone.add(pod.uid)
        self.eps.pop(pod.uid, None)
        return [c.deleted(pod.obj())]

    def endpoints(self) -> list[KEvent]:
        """The endpointslice controller catches up with every pod's state."""
        self.eps = {}
        for pod in self.live_pods():
            if not pod.ip:
                continue
            dying = pod.deletion is not None
            self.eps[pod.uid] = endpoint(
                pod, ready=pod.ready and not dying, serving=pod.ready, terminating=dying
            )
        return [self.c.modified(self.slice())]

    def relist(self) -> list[KEvent]:
        """A relist: RESET, every object re-sent, LISTED (what sources do after a 410)."""
        c = self.c
        out = [c.reset("Pod")]
        out += [c.modified(p.obj()) for p in self.live_pods()]
        out.append(c.listed("Pod"))
        return out


OPS = ("new", "advance", "advance", "advance", "endpoints", "endpoints", "relist")


@st.composite
def stories(draw: st.DrawFn, max_ops: int = 40) -> Batches:
    """Random, plausible batches at non-decreasing times (the initial list first)."""
    world = World(prestop=draw(st.booleans()), probe=draw(st.booleans()))
    batches: Batches = [world.initial()]
    ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=max_ops))
    pending: list[KEvent] = []
    for op in ops:
        world.at(draw(st.sampled_from((0.0, 0.05, 0.3, 1.0, 7.0))))
        if op == "new":
            pending += world.new_pod()
        elif op == "advance" and world.live_pods():
            pending += world.advance(draw(st.sampled_from(world.live_pods())))
        elif op == "endpoints":
            pending += world.endpoints()
        elif op == "relist":
            pending += world.relist()
        # Cut here? Batches are mostly single events, sometimes several (a relist).
        if pending and draw(st.integers(0, 3)) > 0:
            batches.append(pending)
            pending = []
    if pending:
        batches.append(pending)
    return batches


def fixed_story() -> Batches:
    """A deterministic story with every kind of moment (examples, CLI tests)."""
    world = World(prestop=False, probe=True)
    batches: Batches = [world.initial()]
    world.at(1.0)
    batches.append(world.new_pod())
    world.at(0.5)
    batches.append(world.new_pod())
    first, second = world.live_pods()
    for _ in range(3):  # schedule, start, ready
        for pod in (first, second):
            world.at(0.7)
            batches.append(world.advance(pod))
        world.at(0.2)
        batches.append(world.endpoints())
    world.at(2.0)
    batches.append(world.advance(first))  # delete: still ready in the slice
    world.at(0.1)
    batches.append(world.advance(first))  # exits
    world.at(0.3)
    batches.append(world.endpoints())  # terminating
    world.at(0.5)
    batches.append(world.relist())
    world.at(0.4)
    batches.append(world.advance(first))  # gone
    world.at(0.1)
    batches.append(world.endpoints())
    return batches


def record(
    path: Path | str,
    batches: Sequence[Sequence[KEvent]],
    *,
    notes: Sequence[tuple[float, str, bool]] = (),
    close: bool = True,
    **kw: Any,
) -> Path:
    """Write batches (and notes: seconds after T0, text, bookmark) with the Recorder."""
    rec = Recorder(path, scope={"namespaces": ["default"], "selector": None}, clock=T0, **kw)
    pending = sorted(notes)
    for batch in batches:
        while pending and T0 + pending[0][0] <= batch[0].t:
            dt, text, bookmark = pending.pop(0)
            rec.note(text, t=T0 + dt, bookmark=bookmark)
        rec(batch)
    for dt, text, bookmark in pending:
        rec.note(text, t=T0 + dt, bookmark=bookmark)
    if close:
        last = max((ev.t for b in batches for ev in b), default=T0)
        rec.close(t=last + 1.0)
    return Path(path)
