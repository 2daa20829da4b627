"""The deployment controller against the embedded API server (real HTTP, fast clock)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lab_cluster import (
    NS,
    ROLLOUT,
    Cluster,
    History,
    condition,
    deployment,
    deployment_complete,
    labels,
    owner_uid,
    wait_for,
)

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, POD, REPLICASET
from kwatch.demo.controllers import _deployutil as du
from kwatch.demo.controllers.hashing import POD_TEMPLATE_HASH_LABEL, compute_hash

REVISION = "deployment.kubernetes.io/revision"


def rs_by_revision(rses: list[JSON]) -> dict[str, JSON]:
    return {r["metadata"]["annotations"][REVISION]: r for r in rses}


async def wait_complete(c: Cluster, name: str, within: float = 6.0) -> JSON:
    await wait_for(lambda: deployment_complete(c, name), within=within)
    return await c.must_get(DEPLOYMENT, name)


def active_pods(pods: list[JSON]) -> list[JSON]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


# -- fenceposts (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "expected"), [
    (4, "25%", "25%", (1, 1)),
    (10, "30%", "30%", (3, 3)),  # surge rounds up, unavailable down: both exact here
    (10, "25%", "25%", (3, 2)),  # 2.5 → surge 3, unavailable 2
    (3, "25%", "25%", (1, 0)),
    (5, 0, 0, (0, 1)),  # both 0 would never progress: unavailable becomes 1
    (5, 2, 1, (2, 1)),
])
def test_fenceposts_round_like_the_real_controller(
    replicas: int, surge: Any, unavailable: Any, expected: tuple[int, int]
) -> None:
    assert du.resolve_fenceposts(surge, unavailable, replicas) == expected
    d = {"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": surge, "maxUnavailable": unavailable}}}}
    assert (du.max_surge(d), du.max_unavailable(d)) == expected


def test_recreate_has_no_surge_and_no_unavailable_budget() -> None:
    d = {"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}}
    assert (du.max_surge(d), du.max_unavailable(d)) == (0, 0)


# -- creation and scaling -----------------------------------------------------------------


async def test_create_makes_a_hashed_replicaset_with_revision_1_and_owned_pods() -> None:
    async with Cluster(controllers=ROLLOUT, kubelet=True) as c:
        created = await c.create(DEPLOYMENT, deployment("web", 3))
        d = await wait_complete(c, "web")
        [rs] = await c.replicasets("web")
        h = compute_hash(d["spec"]["template"])
        assert rs["metadata"]["name"] == f"web-{h}"
        assert labels(rs)[POD_TEMPLATE_HASH_LABEL] == h
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", POD_TEMPLATE_HASH_LABEL: h}
        assert rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == h
        anns = rs["metadata"]["annotations"]
        assert anns[REVISION] == "1"
        assert anns["deployment.kubernetes.io/desired-replicas"] == "3"
        assert anns["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + ceil(25% of 3)
        [ref] = rs["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                       "uid": created["metadata"]["uid"], "controller": True,
                       "blockOwnerDeletion": True}
        pods = await c.pods("web")
        assert len(pods) == 3
        for p in pods:
            assert owner_uid(p) == rs["metadata"]["uid"]
            assert p["metadata"]["name"].startswith(f"web-{h}-")
            assert labels(p)[POD_TEMPLATE_HASH_LABEL] == h
        assert d["metadata"]["annotations"][REVISION] == "1"
        s = d["status"]
        assert (s["replicas"], s["updatedReplicas"], s["readyReplicas"],
                s["availableReplicas"]) == (3, 3, 3, 3)
        assert s.get("unavailableReplicas", 0) == 0
        assert s["observedGeneration"] == d["metadata"]["generation"]
        available = condition(d, "Available")
        assert available is not None
        assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
        progressing = condition(d, "Progressing")
        assert progressing is not None
        assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
        assert progressing["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'

        async def scaled_event() -> bool:
            notes = [e["note"] for e in await c.events("ScalingReplicaSet")]
            return f"Scaled up replica set web-{h} from 0 to 3" in notes

        await wait_for(scaled_event)
        [ev] = await c.events("ScalingReplicaSet")
        assert ev["reportingController"] == "deployment-controller"
        assert ev["regarding"]["kind"] == "Deployment" and ev["regarding"]["name"] == "web"


async def test_scaling_resizes_the_replicaset_and_records_events() -> None:
    async with Cluster(controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 2))
        await wait_complete(c, "web")
        await c.patch(DEPLOYMENT, "web", {"spec": {"replicas": 5}})
        await wait_complete(c, "web")
        [rs] = await c.replicasets("web")
        name = rs["metadata"]["name"]
        assert rs["spec"]["replicas"] == 5
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
        assert len(active_pods(await c.pods("web"))) == 5

        await c.patch(DEPLOYMENT, "web", {"spec": {"replicas": 1}})
        await wait_complete(c, "web")

        async def one_pod_left() -> bool:
            return len(await c.pods("web")) == 1

        await wait_for(one_pod_left)
        [rs] = await c.replicasets("web")
        assert rs["metadata"]["name"] == name, "scaling never makes a new ReplicaSet"
        assert rs["metadata"]["annotations"][REVISION] == "1"

        async def notes() -> bool:
            got = {e["note"] for e in await c.events("ScalingReplicaSet")}
            return {f"Scaled up replica set {name} from 2 to 5",
                    f"Scaled down replica set {name} from 5 to 1"} <= got

        await wait_for(notes)


# -- rolling update -----------------------------------------------------------------------


def _check_rollout(
    history: list[tuple[str, JSON]], replicas: int, surge: int, unavailable: int
) -> tuple[int, list[tuple[int, int]]]:
    """Replay every observed ReplicaSet change; return the peak pod count and the
    sequence of (old, new) sizes. Asserts the rollout invariants on the way."""
    latest: dict[str, JSON] = {}
    peak = 0
    steps: list[tuple[int, int]] = []
    for type_, rs in history:
        key = rs["metadata"]["name"]
        if type_ == "DELETED":
            latest.pop(key, None)
            continue
        latest[key] = rs
        total = sum(r["spec"]["replicas"] for r in latest.values())
        available = sum((r.get("status") or {}).get("availableReplicas", 0)
                        for r in latest.values())
        assert total <= replicas + surge, f"surge exceeded: {total} > {replicas}+{surge}"
        assert available >= replicas - unavailable, (
            f"too few available: {available} < {replicas}-{unavailable}")
        peak = max(peak, total)
        by_rev = sorted(latest.values(), key=lambda r: int(r["metadata"]["annotations"][REVISION]))
        sizes = (by_rev[0]["spec"]["replicas"], by_rev[-1]["spec"]["replicas"])
        if len(by_rev) == 2 and (not steps or steps[-1] != sizes):
            steps.append(sizes)
    return peak, steps


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "budget"), [
    (4, None, None, (1, 1)),  # the defaults, 25%/25%
    (10, "30%", "30%", (3, 3)),
    (3, 0, 1, (0, 1)),  # no surge: delete one old, then create one new
    (3, 1, 0, (1, 0)),  # no unavailability: create one new, then delete one old
])
async def test_rolling_update_never_exceeds_surge_or_unavailable(
    replicas: int, surge: Any, unavailable: Any, budget: tuple[int, int]
) -> None:
    strategy: JSON = {"type": "RollingUpdate"}
    if surge is not None:
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", replicas, strategy=strategy))
        d1 = await wait_complete(c, "web")
        [old] = await c.replicasets("web")
        async with History(c.api, REPLICASET) as rs_history:
            await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.26"}]}}}})
            d2 = await wait_complete(c, "web", within=10)
        assert d2["metadata"]["generation"] == d1["metadata"]["generation"] + 1
        peak, steps = _check_rollout(rs_history.events, replicas, *budget)
        assert peak == replicas + budget[0], "the surge budget is used, not wasted"
        assert steps[-1] == (0, replicas)
        assert all(o + n <= replicas + budget[0] for o, n in steps)
        rses = rs_by_revision(await c.replicasets("web"))
        assert set(rses) == {"1", "2"}
        assert rses["1"]["metadata"]["name"] == old["metadata"]["name"]
        assert rses["1"]["spec"]["replicas"] == 0
        new = rses["2"]
        assert labels(new)[POD_TEMPLATE_HASH_LABEL] != labels(old)[POD_TEMPLATE_HASH_LABEL]
        assert new["spec"]["replicas"] == replicas
        assert d2["metadata"]["annotations"][REVISION] == "2"
        progressing = condition(d2, "Progressing")
        assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"
        assert progressing["message"] == (
            f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.')

        async def only_new_pods() -> bool:
            pods = await c.pods("web")
            return len(pods) == replicas and all(
                owner_uid(p) == new["metadata"]["uid"] for p in pods)

        await wait_for(only_new_pods)


async def test_min_ready_seconds_holds_the_rollout_until_pods_are_available() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 2, min_ready_seconds=20, strategy={
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
        await wait_complete(c, "web", within=8)
        t0 = c.clock.now()
        await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}})

        async def new_rs_ready_not_available() -> bool:
            rses = rs_by_revision(await c.replicasets("web"))
            s = (rses.get("2") or {}).get("status") or {}
            return bool(s.get("readyReplicas", 0) == 1 and s.get("availableReplicas", 0) == 0)

        await wait_for(new_rs_ready_not_available)
        # Ready is not enough: with maxUnavailable 0 no old pod may go yet.
        rses = rs_by_revision(await c.replicasets("web"))
        assert rses["1"]["spec"]["replicas"] == 2
        await wait_complete(c, "web", within=10)
        # Two steps of ≥ 20 s each (pods ready 1 s after creation).
        assert c.clock.now() - t0 >= 40


# -- recreate -----------------------------------------------------------------------------


async def test_recreate_scales_old_to_zero_and_waits_for_its_pods_to_be_gone() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True, terminate_delay=5) as c:
        await c.create(DEPLOYMENT, deployment("web", 3, strategy={"type": "Recreate"}))
        await wait_complete(c, "web")
        [old] = await c.replicasets("web")
        async with History(c.api, REPLICASET) as rs_h, History(c.api, POD) as pod_h:
            await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.26"}]}}}})
            await wait_complete(c, "web", within=8)
        old_uid = old["metadata"]["uid"]

        def rv(obj: JSON) -> int:  # one global resourceVersion orders every write
            return int(obj["metadata"]["resourceVersion"])

        old_zero = min(rv(r) for t, r in rs_h.events
                       if r["metadata"]["uid"] == old_uid and r["spec"]["replicas"] == 0)
        old_pods_gone = max(rv(p) for t, p in pod_h.events
                            if t == "DELETED" and owner_uid(p) == old_uid)
        new_created = min(rv(r) for t, r in rs_h.events
                          if t == "ADDED" and r["metadata"]["uid"] != old_uid)
        assert old_zero < old_pods_gone < new_created, (
            "Recreate: old RS to 0, then all its pods gone, only then the new RS")
        new_sizes = [r["spec"]["replicas"] for t, r in rs_h.events
                     if r["metadata"]["uid"] != old_uid]
        assert new_sizes[0] == 3, "the new RS starts at full size (no surge in Recreate)"
        # Old pods terminated (graceful, via the kubelet) before any new pod existed.
        first_new_pod = min(rv(p) for t, p in pod_h.events
                            if t == "ADDED" and owner_uid(p) not in (None, old_uid))
        assert old_pods_gone < first_new_pod


# -- rollback and restart -----------------------------------------------------------------


async def test_rollback_reuses_the_old_replicaset_and_bumps_its_revision() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 2))
        await wait_complete(c, "web")
        await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1.26"}]}}}})
        await wait_complete(c, "web")
        rses = rs_by_revision(await c.replicasets("web"))
        v1 = rses["1"]
        # `kubectl rollout undo`: copy revision 1's template (minus the hash) back.
        template = copy.deepcopy(v1["spec"]["template"])
        del template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]
        await c.api.patch(f"/apis/apps/v1/namespaces/{NS}/deployments/web",
                             [{"op": "replace", "path": "/spec/template", "value": template}],
                             "json")
        d = await wait_complete(c, "web")
        after = await c.replicasets("web")
        assert len(after) == 2, "no third ReplicaSet: the old one is reused"
        by_rev = rs_by_revision(after)
        assert set(by_rev) == {"2", "3"}
        back = by_rev["3"]
        assert back["metadata"]["uid"] == v1["metadata"]["uid"]
        assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
        assert back["spec"]["replicas"] == 2 and by_rev["2"]["spec"]["replicas"] == 0
        assert d["metadata"]["annotations"][REVISION] == "3"


async def test_rollout_restart_annotation_makes_a_new_hash() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 1))
        await wait_complete(c, "web")
        [before] = await c.replicasets("web")
        await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"}}}}})
        await wait_complete(c, "web")
        by_rev = rs_by_revision(await c.replicasets("web"))
        after = by_rev["2"]
        assert after["metadata"]["name"] != before["metadata"]["name"]
        assert after["spec"]["template"]["metadata"]["annotations"] == {
            "kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"}


# -- progress, pause, history -------------------------------------------------------------


async def test_progress_deadline_exceeded_when_pods_never_become_ready() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True, ready=False) as c:
        await c.create(DEPLOYMENT, deployment("web", 2, progress_deadline=15))

        async def timed_out() -> bool:
            cond = condition(await c.must_get(DEPLOYMENT, "web"), "Progressing") or {}
            return cond.get("reason") == "ProgressDeadlineExceeded"

        t0 = c.clock.now()
        await wait_for(timed_out, within=5)
        assert c.clock.now() - t0 >= 15
        d = await c.must_get(DEPLOYMENT, "web")
        progressing = condition(d, "Progressing")
        assert progressing is not None and progressing["status"] == "False"
        assert progressing["message"].endswith("has timed out progressing.")
        available = condition(d, "Available")
        assert available is not None
        assert (available["status"], available["reason"]) == (
            "False", "MinimumReplicasUnavailable")
        assert d["status"].get("unavailableReplicas") == 2


async def test_paused_deployment_does_not_roll_out_until_resumed() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 2))
        await wait_complete(c, "web")
        await c.patch(DEPLOYMENT, "web", {"spec": {"paused": True}})

        async def paused() -> bool:
            cond = condition(await c.must_get(DEPLOYMENT, "web"), "Progressing") or {}
            return cond.get("reason") == "DeploymentPaused"

        await wait_for(paused)
        await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1.26"}]}}}})
        d = await c.must_get(DEPLOYMENT, "web")

        async def observed() -> bool:
            s = (await c.must_get(DEPLOYMENT, "web")).get("status") or {}
            return bool(s.get("observedGeneration") == d["metadata"]["generation"])

        await wait_for(observed)
        assert len(await c.replicasets("web")) == 1, "paused: no new ReplicaSet"
        await c.patch(DEPLOYMENT, "web", {"spec": {"paused": False}})
        await wait_complete(c, "web")
        assert set(rs_by_revision(await c.replicasets("web"))) == {"1", "2"}


async def test_revision_history_limit_deletes_the_oldest_idle_replicasets() -> None:
    async with Cluster(speed=80, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 1, revision_history_limit=1))
        for tag in ("1.26", "1.27", "1.28"):
            await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": f"nginx:{tag}"}]}}}})
            await wait_complete(c, "web")

        async def trimmed() -> bool:
            return set(rs_by_revision(await c.replicasets("web"))) == {"3", "4"}

        await wait_for(trimmed)


# -- adoption -----------------------------------------------------------------------------


async def test_orphan_replicaset_with_the_same_template_is_adopted_not_duplicated() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        body = deployment("web", 2)
        template = copy.deepcopy(body["spec"]["template"])
        h = "adopted1"
        template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = h
        orphan = await c.api.create(f"/apis/apps/v1/namespaces/{NS}/replicasets", {
            "metadata": {"name": "web-legacy", "labels": dict(template["metadata"]["labels"])},
            "spec": {"replicas": 2, "selector": {"matchLabels": dict(
                template["metadata"]["labels"])}, "template": template}})
        created = await c.create(DEPLOYMENT, body)
        await wait_complete(c, "web")
        [rs] = await c.replicasets("web")
        assert rs["metadata"]["uid"] == orphan["metadata"]["uid"]
        assert owner_uid(rs) == created["metadata"]["uid"]
        assert rs["metadata"]["annotations"][REVISION] == "1"


async def test_scaling_mid_rollout_is_proportional_between_old_and_new() -> None:
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        await c.create(DEPLOYMENT, deployment("web", 10, strategy=strategy))
        await wait_complete(c, "web")
        assert c.kubelet is not None
        c.kubelet.ready = False  # the new version never becomes ready: the rollout stalls
        await c.patch(DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:broken"}]}}}})

        async def sizes_are(old: int, new: int) -> bool:
            by_rev = rs_by_revision(await c.replicasets("web"))
            return ("2" in by_rev and by_rev["1"]["spec"]["replicas"] == old
                    and by_rev["2"]["spec"]["replicas"] == new)

        # 10 replicas, surge 3, unavailable 2: old 10→8, new 0→3→5, then stuck at 13.
        await wait_for(lambda: sizes_are(8, 5))
        await c.patch(DEPLOYMENT, "web", {"spec": {"replicas": 20}})
        # Now 25 may exist (20 + 5 surge): +12 split by size, 8·25/13 → 15, 5·25/13 → 10.
        await wait_for(lambda: sizes_are(15, 10))
        by_rev = rs_by_revision(await c.replicasets("web"))
        for rs in by_rev.values():
            anns = rs["metadata"]["annotations"]
            assert anns["deployment.kubernetes.io/desired-replicas"] == "20"
            assert anns["deployment.kubernetes.io/max-replicas"] == "25"


async def test_name_collision_bumps_collision_count_and_rehashes() -> None:
    async with Cluster(speed=60, controllers=ROLLOUT, kubelet=True) as c:
        body = deployment("web", 1)
        body["spec"]["paused"] = True  # paused: no ReplicaSet yet, but a stored template
        await c.create(DEPLOYMENT, body)
        stored = await c.must_get(DEPLOYMENT, "web")
        first_hash = compute_hash(stored["spec"]["template"])
        # Someone else's ReplicaSet squats on the name the new RS would get.
        squatter = await c.api.create(f"/apis/apps/v1/namespaces/{NS}/replicasets", {
            "metadata": {"name": f"web-{first_hash}", "labels": {"app": "other"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                     "template": {"metadata": {"labels": {"app": "other"}}, "spec": {
                         "containers": [{"name": "x", "image": "busybox"}]}}}})
        await c.patch(DEPLOYMENT, "web", {"spec": {"paused": False}})
        d = await wait_complete(c, "web")
        assert d["status"]["collisionCount"] == 1
        [rs] = await c.replicasets("web")
        assert rs["metadata"]["name"] == f"web-{compute_hash(stored['spec']['template'], 1)}"
        still = await c.api.get(f"/apis/apps/v1/namespaces/{NS}/replicasets/"
                                   f"web-{first_hash}")
        assert still is not None and still["metadata"]["uid"] == squatter["metadata"]["uid"]
        assert not still["metadata"].get("ownerReferences"), "never adopted: other labels"
