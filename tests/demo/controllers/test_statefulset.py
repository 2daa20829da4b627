"""The statefulset controller: ordinal order, scale-down order, rolling updates."""

from __future__ import annotations

import asyncio

from lab_cluster import Cluster, pod_status, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, POD, STATEFULSET
from kwatch.demo.controllers.revisions import CONTROLLER_REVISION
from kwatch.demo.controllers.statefulset import StatefulSetController


def statefulset(replicas: int = 3, *, policy: str = "OrderedReady", image: str = "nginx:1.27",
                partition: int | None = None) -> JSON:
    strategy: JSON = {"type": "RollingUpdate"}
    if partition is not None:
        strategy["rollingUpdate"] = {"partition": partition}
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "podManagementPolicy": policy,
            "updateStrategy": strategy,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def pods(c: Cluster) -> dict[str, JSON]:
    return {p["metadata"]["name"]: p for p in await c.list(POD, label_selector="app=web")}


async def wait_pods(c: Cluster, names: set[str]) -> dict[str, JSON]:
    async def probe() -> dict[str, JSON] | None:
        have = await pods(c)
        return have if set(have) == names else None
    return await wait_for(probe, what=f"pods {sorted(names)}")


async def run_pod(c: Cluster, name: str) -> None:
    """Play scheduler and kubelet: bind to node-1, then report Running and Ready."""
    await c.bind(name, "node-1")
    ordinal = int(name.rsplit("-", 1)[1])
    await c.set_pod_status(name, pod_status(ready=True, ip=f"10.244.1.{ordinal + 10}"))


async def terminating(c: Cluster, name: str) -> bool:
    pod = await c.get(POD, name)
    return pod is not None and bool(pod["metadata"].get("deletionTimestamp"))


async def set_status(c: Cluster) -> JSON:
    sts = await c.get(STATEFULSET, "web")
    assert sts is not None
    status: JSON = sts.get("status") or {}
    return status


async def test_ordered_ready_creates_one_ordinal_at_a_time() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(StatefulSetController)
        sts = await c.create(STATEFULSET, statefulset())
        have = await wait_pods(c, {"web-0"})
        await asyncio.sleep(0.3)  # 6 simulated seconds: web-0 isn't Ready, so no web-1
        assert set(await pods(c)) == {"web-0"}

        web0 = have["web-0"]
        labels = web0["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert labels["apps.kubernetes.io/pod-index"] == "0"
        assert web0["spec"]["hostname"] == "web-0" and web0["spec"]["subdomain"] == "web"
        owner = web0["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("StatefulSet", sts["metadata"]["uid"])

        await run_pod(c, "web-0")
        await wait_pods(c, {"web-0", "web-1"})
        await asyncio.sleep(0.2)
        assert set(await pods(c)) == {"web-0", "web-1"}, "web-2 waits for web-1"
        await run_pod(c, "web-1")
        await wait_pods(c, {"web-0", "web-1", "web-2"})
        await run_pod(c, "web-2")

        async def settled() -> JSON | None:
            st = await set_status(c)
            return st if st.get("readyReplicas") == 3 else None
        status = await wait_for(settled, what="3 ready replicas")
        assert status["replicas"] == 3 and status["availableReplicas"] == 3
        assert status["currentRevision"] == status["updateRevision"]
        assert status["currentReplicas"] == status["updatedReplicas"] == 3
        assert status["observedGeneration"] == 1
        revisions = await c.list(CONTROLLER_REVISION)
        assert [r["metadata"]["name"] for r in revisions] == [status["updateRevision"]]
        assert revisions[0]["revision"] == 1
        hash_ = revisions[0]["metadata"]["labels"]["controller-revision-hash"]
        assert status["updateRevision"] == f"web-{hash_}"
        assert {p["metadata"]["labels"]["controller-revision-hash"]
                for p in (await pods(c)).values()} == {status["updateRevision"]}

        async def events() -> list[str] | None:
            notes = sorted(e["note"] for e in await c.list(EVENT)
                           if e["reason"] == "SuccessfulCreate")
            return notes if len(notes) == 3 else None
        assert await wait_for(events, what="3 events") == [
            f"create Pod web-{i} in StatefulSet web successful" for i in range(3)]


async def _three_running(c: Cluster, sts: JSON) -> None:
    await c.create(STATEFULSET, sts)
    for i in range(3):
        await wait_pods(c, {f"web-{j}" for j in range(i + 1)})
        await run_pod(c, f"web-{i}")


async def test_ordered_ready_scales_down_highest_first_waiting_for_each() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(StatefulSetController)
        await _three_running(c, statefulset())
        await c.api.patch("/apis/apps/v1/namespaces/default/statefulsets/web",
                          {"spec": {"replicas": 1}})
        await wait_for(lambda: terminating(c, "web-2"), what="web-2 terminating")
        await asyncio.sleep(0.3)
        # web-1 waits while web-2 is still terminating (its kubelet hasn't confirmed).
        assert not await terminating(c, "web-1")
        await c.delete_pod("web-2", grace=0)
        await wait_for(lambda: terminating(c, "web-1"), what="web-1 terminating")
        assert not await terminating(c, "web-0")
        await c.delete_pod("web-1", grace=0)
        await wait_pods(c, {"web-0"})
        await asyncio.sleep(0.2)
        assert not await terminating(c, "web-0")

        async def deletes() -> list[str] | None:
            notes = [e["note"] for e in sorted(await c.list(EVENT), key=lambda e: e["eventTime"])
                     if e["reason"] == "SuccessfulDelete"]
            return notes if len(notes) == 2 else None
        assert await wait_for(deletes, what="2 delete events") == [
            "delete Pod web-2 in StatefulSet web successful",
            "delete Pod web-1 in StatefulSet web successful",
        ]


async def test_parallel_creates_every_pod_at_once() -> None:
    async with Cluster() as c:
        await c.start(StatefulSetController)
        await c.create(STATEFULSET, statefulset(4, policy="Parallel"))
        created = await wait_pods(c, {"web-0", "web-1", "web-2", "web-3"})
        assert all(p["status"]["phase"] == "Pending" for p in created.values())


async def _deletion_order(c: Cluster, expected: int) -> list[str]:
    """Play kubelet during a rolling update: confirm each deletion, run each replacement,
    and return the order in which the controller deleted pods."""
    order: list[str] = []
    while len(order) < expected:
        async def victim() -> str | None:
            for name, p in (await pods(c)).items():
                if p["metadata"].get("deletionTimestamp"):
                    return name
            return None
        name = await wait_for(victim, what=f"deletion #{len(order) + 1}")
        # Nothing else may be touched while this pod is being replaced.
        others = [n for n, p in (await pods(c)).items()
                  if n != name and p["metadata"].get("deletionTimestamp")]
        assert not others, f"{others} deleted while {name} was being replaced"
        order.append(name)
        await c.delete_pod(name, grace=0)

        async def recreated(name: str = name) -> JSON | None:
            p = (await pods(c)).get(name)
            return p if p is not None and not p["metadata"].get("deletionTimestamp") else None
        await wait_for(recreated, what=f"{name} recreated")
        await run_pod(c, name)
    return order


async def test_rolling_update_goes_from_the_highest_ordinal_down() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(StatefulSetController)
        await _three_running(c, statefulset())
        before = await set_status(c)
        await c.api.patch("/apis/apps/v1/namespaces/default/statefulsets/web", {
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28"}]}}}})
        assert await _deletion_order(c, 3) == ["web-2", "web-1", "web-0"]

        async def complete() -> JSON | None:
            st = await set_status(c)
            done = st.get("currentRevision") == st.get("updateRevision")
            return st if done and st.get("updatedReplicas") == 3 else None
        status = await wait_for(complete, what="rollout complete")
        assert status["updateRevision"] != before["updateRevision"]
        images = {p["spec"]["containers"][0]["image"] for p in (await pods(c)).values()}
        assert images == {"nginx:1.28"}
        revisions = {r["metadata"]["name"]: r["revision"]
                     for r in await c.list(CONTROLLER_REVISION)}
        assert revisions == {before["updateRevision"]: 1, status["updateRevision"]: 2}


async def test_partition_keeps_lower_ordinals_on_the_old_revision() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(StatefulSetController)
        await _three_running(c, statefulset(partition=2))
        old = (await set_status(c))["updateRevision"]
        await c.api.patch("/apis/apps/v1/namespaces/default/statefulsets/web", {
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28"}]}}}})
        assert await _deletion_order(c, 1) == ["web-2"]
        await asyncio.sleep(0.3)
        by_name = await pods(c)
        assert not any(p["metadata"].get("deletionTimestamp") for p in by_name.values())
        revs = {n: p["metadata"]["labels"]["controller-revision-hash"]
                for n, p in by_name.items()}
        assert revs["web-0"] == revs["web-1"] == old != revs["web-2"]
        status = await set_status(c)
        assert status["currentRevision"] == old, "a partitioned rollout never completes"
        assert status["updatedReplicas"] == 1 and status["currentReplicas"] == 2
