"""The replicaset controller against the embedded API server (real HTTP, fast clock)."""

from __future__ import annotations

import asyncio

from lab_cluster import NS, Cluster, History, owner_uid, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import POD, REPLICASET
from kwatch.demo.clock import Clock
from kwatch.demo.controllers._podranking import pods_to_delete
from kwatch.demo.controllers._uidexpectations import PodExpectations
from kwatch.demo.controllers.replicaset import ReplicaSetController

RS_ONLY = (ReplicaSetController,)
RS_PATH = REPLICASET.collection_path(NS)
POD_PATH = POD.collection_path(NS)


def replicaset(name: str, replicas: int, *, min_ready_seconds: int = 0) -> JSON:
    lab = {"app": name}
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": lab},
        "template": {"metadata": {"labels": lab}, "spec": {
            "containers": [{"name": "app", "image": "nginx:1.25"}],
            "terminationGracePeriodSeconds": 5}},
    }
    if min_ready_seconds:
        spec["minReadySeconds"] = min_ready_seconds
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


async def get_rs(c: Cluster, name: str) -> JSON:
    rs = await c.api.get(f"{RS_PATH}/{name}")
    assert rs is not None
    return rs


def active(pods: list[JSON]) -> list[JSON]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def status_is(c: Cluster, name: str, **want: int) -> bool:
    s = (await get_rs(c, name)).get("status") or {}
    return all(s.get(k, 0) == v for k, v in want.items())


async def test_creates_owned_pods_from_the_template_and_reports_status() -> None:
    async with Cluster(controllers=RS_ONLY, kubelet=True) as c:
        rs = await c.api.create(RS_PATH, replicaset("web", 3))
        await wait_for(lambda: status_is(c, "web", replicas=3, fullyLabeledReplicas=3,
                                           readyReplicas=3, availableReplicas=3))
        pods = await c.pods("web")
        assert len(pods) == 3
        for p in pods:
            assert p["metadata"]["name"].startswith("web-")
            assert len(p["metadata"]["name"]) == len("web-") + 5  # generateName suffix
            [ref] = p["metadata"]["ownerReferences"]
            assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                           "uid": rs["metadata"]["uid"], "controller": True,
                           "blockOwnerDeletion": True}
            assert p["spec"]["containers"][0]["image"] == "nginx:1.25"
        s = (await get_rs(c, "web"))["status"]
        assert s["observedGeneration"] == rs["metadata"]["generation"]

        async def create_events() -> bool:
            notes = {e["note"] for e in await c.events("SuccessfulCreate")}
            return notes == {f"Created pod: {p['metadata']['name']}" for p in pods}

        await wait_for(create_events)
        [ev, *_] = await c.events("SuccessfulCreate")
        assert ev["reportingController"] == "replicaset-controller"
        assert ev["regarding"]["kind"] == "ReplicaSet"
        assert ev["related"]["kind"] == "Pod"


async def test_scale_down_deletes_not_ready_pods_first() -> None:
    async with Cluster(controllers=RS_ONLY, kubelet=True, ready=False) as c:
        await c.api.create(RS_PATH, replicaset("web", 3))

        async def three() -> bool:
            return len(await c.pods("web")) == 3

        await wait_for(three)
        pods = sorted(p["metadata"]["name"] for p in await c.pods("web"))
        assert c.kubelet is not None
        for name in pods[:2]:
            await c.kubelet.make_ready(name)
        await wait_for(lambda: status_is(c, "web", readyReplicas=2))
        await c.api.patch(f"{RS_PATH}/web", {"spec": {"replicas": 2}})

        async def two_left() -> bool:
            return sorted(p["metadata"]["name"] for p in await c.pods("web")) == pods[:2]

        await wait_for(two_left)

        async def delete_event() -> bool:
            notes = [e["note"] for e in await c.events("SuccessfulDelete")]
            return notes == [f"Deleted pod: {pods[2]}"]

        await wait_for(delete_event)


async def test_terminating_pods_are_replaced_at_once_and_not_counted() -> None:
    # The fake kubelet takes 20 simulated seconds to finish a graceful deletion.
    async with Cluster(controllers=RS_ONLY, kubelet=True, terminate_delay=20) as c:
        await c.api.create(RS_PATH, replicaset("web", 2))
        await wait_for(lambda: status_is(c, "web", replicas=2, readyReplicas=2))
        victim = (await c.pods("web"))[0]["metadata"]["name"]
        await c.api.delete(f"{POD_PATH}/{victim}")

        async def replaced_while_terminating() -> bool:
            pods = await c.pods("web")
            names = {p["metadata"]["name"] for p in pods}
            return victim in names and len(active(pods)) == 2

        await wait_for(replaced_while_terminating)
        # Three pods exist, but the terminating one is not a replica any more.
        await wait_for(lambda: status_is(c, "web", replicas=2))
        assert len(await c.pods("web")) == 3


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching() -> None:
    async with Cluster(controllers=RS_ONLY, kubelet=True) as c:
        orphan = await c.api.create(POD_PATH, {
            "metadata": {"name": "stray", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}})
        rs = await c.api.create(RS_PATH, replicaset("web", 2))
        uid = rs["metadata"]["uid"]
        await wait_for(lambda: status_is(c, "web", replicas=2, readyReplicas=2))
        pods = {p["metadata"]["name"]: p for p in await c.pods("web")}
        assert len(pods) == 2, "the orphan counts as one of the two replicas"
        assert owner_uid(pods["stray"]) == uid
        assert pods["stray"]["metadata"]["uid"] == orphan["metadata"]["uid"]

        # Relabel an owned pod: it stops matching, so it is released and replaced.
        await c.api.patch(f"{POD_PATH}/stray", {"metadata": {"labels": {"app": "debug"}}})

        async def released_and_replaced() -> bool:
            stray = await c.api.get(f"{POD_PATH}/stray")
            matching = await c.pods("web")
            return (stray is not None and owner_uid(stray) is None
                    and len(matching) == 2 and all(owner_uid(p) == uid for p in matching))

        await wait_for(released_and_replaced)
        stray = await c.api.get(f"{POD_PATH}/stray")
        assert stray is not None and not stray["metadata"].get("ownerReferences")


class LaggingPodWatch(ReplicaSetController):
    """The replicaset controller with a pod watch that delivers events late.

    A real watch lags behind the writes that cause it; here each pod event takes 20 ms
    to be handled, so pods the controller created stay invisible to it for a while —
    exactly the window in which a controller without expectations creates them twice.
    """

    async def _lagging(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        await asyncio.sleep(0.02)
        self._on_pod(type_, old, new)

    def setup(self) -> None:
        super().setup()
        self.pods.handler = self._lagging


async def test_expectations_prevent_over_creation_while_the_watch_lags() -> None:
    # No kubelet: only the controller's own writes touch pods, while the test keeps
    # poking the ReplicaSet (an annotation) to trigger syncs during the creation burst.
    async with Cluster(controllers=(LaggingPodWatch,)) as c, \
            History(c.api, POD) as pods_seen:
        await c.api.create(RS_PATH, replicaset("web", 25))
        for i in range(40):
            await c.api.patch(f"{RS_PATH}/web", {"metadata": {"annotations": {
                "poke": str(i)}}})
            await asyncio.sleep(0.005)

        async def settled() -> bool:
            return len(await c.pods("web")) == 25 and await status_is(c, "web", replicas=25)

        await wait_for(settled)
        await asyncio.sleep(0.3)  # any over-creation (and its clean-up) would show by now
        created = {p["metadata"]["uid"] for t, p in pods_seen.events if t == "ADDED"}
        assert len(created) == 25, f"created {len(created)} pods for 25 replicas"
        assert not await c.events("SuccessfulDelete"), "nothing created twice, so no deletes"


async def test_min_ready_seconds_delays_availability() -> None:
    async with Cluster(controllers=RS_ONLY, kubelet=True, speed=60) as c:
        await c.api.create(RS_PATH, replicaset("web", 2, min_ready_seconds=30))
        await wait_for(lambda: status_is(c, "web", readyReplicas=2, availableReplicas=0))
        ready_at = c.clock.now()
        # No pod event marks "available": the controller's own timer must notice.
        await wait_for(lambda: status_is(c, "web", readyReplicas=2, availableReplicas=2))
        assert c.clock.now() - ready_at >= 28  # ready ~1 s after creation, +30 s


# -- pure parts ---------------------------------------------------------------------------


def _pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True,
         ready_since: str = "2025-01-01T00:00:00Z", created: str = "2025-01-01T00:00:00Z",
         restarts: int = 0, cost: int | None = None) -> JSON:
    meta: JSON = {"name": name, "namespace": NS, "creationTimestamp": created}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                        "lastTransitionTime": ready_since}],
        "containerStatuses": [{"name": "app", "restartCount": restarts}]}}


def test_deletion_ranking_protects_pods_that_work() -> None:
    pods = [
        _pod("old-ready", created="2025-01-01T00:00:00Z"),
        _pod("unscheduled", node="", phase="Pending", ready=False),
        _pod("pending", phase="Pending", ready=False),
        _pod("not-ready", ready=False),
        _pod("cheap", cost=-10),
        _pod("recently-ready", ready_since="2025-01-01T01:00:00Z"),
        _pod("restarty", restarts=5),
    ]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, pods, len(pods) - 1)]
    assert order == ["unscheduled", "pending", "not-ready", "cheap", "recently-ready",
                     "restarty"]
    assert pods_to_delete(pods, pods, 10) == pods


def test_deletion_ranking_prefers_pods_doubled_up_on_a_node() -> None:
    a, b, c_ = _pod("a", node="n1"), _pod("b", node="n2"), _pod("c", node="n2")
    related = [a, b, c_, _pod("sibling", node="n2")]
    assert {p["metadata"]["name"] for p in pods_to_delete([a, b, c_], related, 2)} == {"b", "c"}


def test_expectations_count_each_tracked_deletion_once() -> None:
    exp = PodExpectations(Clock(1.0))
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed("ns/rs", "ns/a")  # deletionTimestamp set
    exp.deletion_observed("ns/rs", "ns/a")  # ...and later gone: not counted twice
    exp.deletion_observed("ns/rs", "ns/user-deleted")  # not ours: ignored
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed("ns/rs", "ns/b")
    assert exp.satisfied("ns/rs")
    exp.expect_creations("ns/rs", 2)
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creations_failed("ns/rs", 1)
    assert exp.satisfied("ns/rs")
