"""The daemonset controller: one pod per node, new nodes, OnDelete and RollingUpdate."""

from __future__ import annotations

import asyncio

from lab_cluster import Cluster, pod_status, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import DAEMONSET, EVENT, NODE, POD
from kwatch.demo.controllers._daemonutil import plan_rolling_update, should_run, target_node
from kwatch.demo.controllers.daemonset import DaemonSetController
from kwatch.demo.controllers.revisions import CONTROLLER_REVISION

HASH = "controller-revision-hash"
GENERATION = "pod-template-generation"


def daemonset(strategy: str = "RollingUpdate", image: str = "fluentd:1") -> JSON:
    return {
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": strategy},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": image}]},
            },
        },
    }


async def new_image(c: Cluster, image: str) -> None:
    await c.api.patch("/apis/apps/v1/namespaces/default/daemonsets/agent", {
        "spec": {"template": {"spec": {"containers": [{"name": "agent", "image": image}]}}}})


async def live_pods(c: Cluster) -> dict[str, JSON]:
    """Live (not terminating) daemon pods by the node they are pinned to."""
    out: dict[str, JSON] = {}
    for p in await c.list(POD, label_selector="app=agent"):
        if not p["metadata"].get("deletionTimestamp"):
            node = target_node(p)
            assert node is not None and node not in out, "one pod per node"
            out[node] = p
    return out


async def wait_live(c: Cluster, nodes: set[str]) -> dict[str, JSON]:
    async def probe() -> dict[str, JSON] | None:
        have = await live_pods(c)
        return have if set(have) == nodes else None
    return await wait_for(probe, what=f"daemon pods on {sorted(nodes)}")


async def run_pod(c: Cluster, pod: JSON) -> None:
    """Play scheduler (bind to the pinned node) and kubelet (Running + Ready)."""
    name = pod["metadata"]["name"]
    node = target_node(pod)
    if not pod["spec"].get("nodeName") and node is not None:
        await c.bind(name, node)
    await c.set_pod_status(name, pod_status(ready=True, ip=f"10.244.0.{hash(name) % 200 + 2}"))


async def ds_status(c: Cluster) -> JSON:
    ds = await c.get(DAEMONSET, "agent")
    assert ds is not None
    status: JSON = ds.get("status") or {}
    return status


async def wait_status(c: Cluster, **want: int) -> JSON:
    async def probe() -> JSON | None:
        st = await ds_status(c)
        return st if all(st.get(k) == v for k, v in want.items()) else None
    return await wait_for(probe, what=f"status {want}")


async def test_one_pod_per_node_pinned_by_node_affinity() -> None:
    async with Cluster() as c:
        nodes = set(c.server.add_nodes(3))
        await c.start(DaemonSetController)
        ds = await c.create(DAEMONSET, daemonset())
        pods = await wait_live(c, nodes)
        await wait_status(c, desiredNumberScheduled=3, currentNumberScheduled=3, numberReady=0)
        revisions = await c.list(CONTROLLER_REVISION)
        assert len(revisions) == 1
        hash_ = revisions[0]["metadata"]["labels"][HASH]
        assert revisions[0]["metadata"]["name"] == f"agent-{hash_}"
        for node, pod in pods.items():
            assert pod["metadata"]["name"].startswith("agent-")
            # The template generation the API server keeps on the set, as the real
            # controller labels its pods (kwatch tells rolling replacements by it).
            assert pod["metadata"]["labels"] == {"app": "agent", HASH: hash_, GENERATION: "1"}
            owner = pod["metadata"]["ownerReferences"][0]
            assert (owner["kind"], owner["uid"]) == ("DaemonSet", ds["metadata"]["uid"])
            # Pinned for the scheduler to bind, not bound by the controller.
            assert not pod["spec"].get("nodeName")
            terms = pod["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            assert terms == [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]
            tolerated = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
            assert {("node.kubernetes.io/not-ready", "NoExecute"),
                    ("node.kubernetes.io/unreachable", "NoExecute"),
                    ("node.kubernetes.io/unschedulable", "NoSchedule")} <= tolerated
        for pod in pods.values():
            await run_pod(c, pod)
        await wait_status(c, desiredNumberScheduled=3, numberReady=3, numberAvailable=3,
                          updatedNumberScheduled=3, numberUnavailable=0, observedGeneration=1)


async def test_new_nodes_get_a_pod_unless_tainted() -> None:
    async with Cluster() as c:
        c.server.add_nodes(2)
        await c.start(DaemonSetController)
        await c.create(DAEMONSET, daemonset())
        await wait_live(c, {"node-1", "node-2"})
        c.server.add_nodes(1)
        await wait_live(c, {"node-1", "node-2", "node-3"})
        # A NoSchedule taint the daemon doesn't tolerate keeps it off a new node.
        await c.create(NODE, {"metadata": {"name": "gpu-1"}, "spec": {"taints": [
            {"key": "gpu", "value": "true", "effect": "NoSchedule"}]}}, ns=None)
        await asyncio.sleep(0.3)
        assert set(await live_pods(c)) == {"node-1", "node-2", "node-3"}
        await wait_status(c, desiredNumberScheduled=3, currentNumberScheduled=3)


async def test_on_delete_leaves_pods_outdated_until_each_is_deleted() -> None:
    async with Cluster() as c:
        c.server.add_nodes(2)
        await c.start(DaemonSetController)
        await c.create(DAEMONSET, daemonset("OnDelete"))
        pods = await wait_live(c, {"node-1", "node-2"})
        for pod in pods.values():
            await run_pod(c, pod)
        old_hash = pods["node-1"]["metadata"]["labels"][HASH]
        await wait_status(c, numberReady=2, updatedNumberScheduled=2)

        await new_image(c, "fluentd:2")
        await wait_status(c, observedGeneration=2, updatedNumberScheduled=0, numberReady=2)
        await asyncio.sleep(0.3)  # 6 simulated seconds: nobody replaces anything
        still = await live_pods(c)
        assert {p["metadata"]["uid"] for p in still.values()} == {
            p["metadata"]["uid"] for p in pods.values()}
        assert {p["metadata"]["labels"][HASH] for p in still.values()} == {old_hash}
        new_hash = next(r["metadata"]["labels"][HASH] for r in await c.list(CONTROLLER_REVISION)
                        if r["revision"] == 2)

        # The operator drains node-1 and deletes its pod: the replacement is up to date.
        await c.delete_pod(pods["node-1"]["metadata"]["name"])
        await c.delete_pod(pods["node-1"]["metadata"]["name"], grace=0)

        async def replaced() -> dict[str, JSON] | None:
            have = await live_pods(c)
            p = have.get("node-1")
            return have if p is not None and p["metadata"]["labels"][HASH] == new_hash else None
        have = await wait_for(replaced, what="node-1 replacement")
        assert have["node-2"]["metadata"]["uid"] == pods["node-2"]["metadata"]["uid"]
        assert have["node-2"]["metadata"]["labels"][HASH] == old_hash
        assert have["node-1"]["spec"]["containers"][0]["image"] == "fluentd:2"
        generations = {n: p["metadata"]["labels"][GENERATION] for n, p in have.items()}
        assert generations == {"node-1": "2", "node-2": "1"}
        await run_pod(c, have["node-1"])
        await wait_status(c, updatedNumberScheduled=1, numberReady=2)


async def test_rolling_update_replaces_one_node_at_a_time() -> None:
    async with Cluster() as c:
        nodes = set(c.server.add_nodes(3))
        await c.start(DaemonSetController)
        await c.create(DAEMONSET, daemonset())
        for pod in (await wait_live(c, nodes)).values():
            await run_pod(c, pod)
        await wait_status(c, numberReady=3, numberAvailable=3)
        old_hash = next(iter((await live_pods(c)).values()))["metadata"]["labels"][HASH]
        await new_image(c, "fluentd:2")

        replaced: list[str] = []
        for round_ in range(3):
            # maxUnavailable 1: exactly one old pod is deleted...
            async def victim() -> JSON | None:
                for p in await c.list(POD, label_selector="app=agent"):
                    if p["metadata"].get("deletionTimestamp"):
                        return p
                return None
            gone = await wait_for(victim, what=f"deletion in round {round_}")
            node = target_node(gone)
            assert node is not None and node not in replaced
            assert gone["metadata"]["labels"][HASH] == old_hash
            assert gone["metadata"]["labels"][GENERATION] == "1"
            await asyncio.sleep(0.2)
            terminating = [p for p in await c.list(POD, label_selector="app=agent")
                           if p["metadata"].get("deletionTimestamp")]
            assert len(terminating) == 1, "only one node is unavailable at a time"
            # ...its replacement comes once the kubelet confirms the old one is gone...
            await c.delete_pod(gone["metadata"]["name"], grace=0)

            async def fresh(node: str = node) -> JSON | None:
                p = (await live_pods(c)).get(node)
                return p if p is not None and p["metadata"]["labels"][HASH] != old_hash else None
            new = await wait_for(fresh, what=f"replacement on {node}")
            assert new["metadata"]["labels"][GENERATION] == "2"
            await asyncio.sleep(0.2)
            # ...and while it isn't Ready, no other old pod is touched.
            assert sum(1 for p in await c.list(POD, label_selector="app=agent")
                       if p["metadata"].get("deletionTimestamp")) == 0
            replaced.append(node)
            await run_pod(c, new)
        assert sorted(replaced) == sorted(nodes)
        await wait_status(c, updatedNumberScheduled=3, numberReady=3, numberAvailable=3,
                          observedGeneration=2)


async def test_failed_daemon_pod_is_replaced() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(DaemonSetController)
        await c.create(DAEMONSET, daemonset())
        first = (await wait_live(c, {"node-1"}))["node-1"]
        await c.set_pod_status(first["metadata"]["name"],
                               pod_status(ready=False, ip=None, phase="Failed"))

        async def replaced() -> JSON | None:
            p = (await live_pods(c)).get("node-1")
            return p if p is not None and p["metadata"]["uid"] != first["metadata"]["uid"] \
                else None
        await wait_for(replaced, what="replacement of the failed pod")
        assert await c.get(POD, first["metadata"]["name"]) is None

        async def warned() -> list[JSON] | None:
            evs = [e for e in await c.list(EVENT) if e["reason"] == "FailedDaemonPod"]
            return evs or None
        ev = (await wait_for(warned, what="FailedDaemonPod event"))[0]
        assert ev["type"] == "Warning" and ev["regarding"]["kind"] == "DaemonSet"
        assert ev["note"] == (f"Found failed daemon pod default/{first['metadata']['name']} "
                              "on node node-1, will try to kill it")


# -- pure decisions ---------------------------------------------------------------------

def _node(name: str, labels: dict[str, str] | None = None,
          taints: list[JSON] | None = None) -> JSON:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}}


def _pod(name: str, hash_: str, *, ready: bool = True) -> JSON:
    return {"metadata": {"name": name, "labels": {HASH: hash_},
                         "creationTimestamp": f"2025-01-01T00:00:0{len(name) % 10}Z"},
            "spec": {}, "status": pod_status(ready=ready, ip="10.0.0.1")}


def test_should_run_follows_selectors_and_taints() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert should_run(_node("a", {"disk": "hdd"}), ds) == (False, False)
    assert should_run(_node("a", {"disk": "ssd"}), ds) == (True, True)
    cordoned = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]
    # Daemons tolerate cordons and dead nodes: that is what makes them daemons.
    assert should_run(_node("a", {"disk": "ssd"}, cordoned), ds) == (True, True)
    no_schedule = [{"key": "gpu", "effect": "NoSchedule"}]
    assert should_run(_node("a", {"disk": "ssd"}, no_schedule), ds) == (False, True)
    no_execute = [{"key": "gpu", "effect": "NoExecute"}]
    assert should_run(_node("a", {"disk": "ssd"}, no_execute), ds) == (False, False)


def test_rolling_plan_stays_within_max_unavailable() -> None:
    by_node = {f"n{i}": [_pod(f"old-{i}", "v1")] for i in range(4)}
    plan = plan_rolling_update(by_node, "v2", max_unavailable=2, max_surge=0, min_ready=0,
                               now=0.0)
    assert len(plan.delete) == 2 and not plan.create_on
    by_node["n0"] = [_pod("new-0", "v2", ready=False)]  # a replacement not Ready yet
    plan = plan_rolling_update(by_node, "v2", max_unavailable=2, max_surge=0, min_ready=0,
                               now=0.0)
    assert len(plan.delete) == 1
    by_node["n1"] = []  # an old pod gone, its replacement not created yet
    plan = plan_rolling_update(by_node, "v2", max_unavailable=2, max_surge=0, min_ready=0,
                               now=0.0)
    assert plan.delete == []


def test_surge_plan_starts_new_pods_before_deleting_old_ones() -> None:
    by_node = {f"n{i}": [_pod(f"old-{i}", "v1")] for i in range(3)}
    plan = plan_rolling_update(by_node, "v2", max_unavailable=0, max_surge=1, min_ready=0,
                               now=0.0)
    assert plan.delete == [] and plan.create_on == ["n0"]
    by_node["n0"].append(_pod("new-0", "v2", ready=False))
    plan = plan_rolling_update(by_node, "v2", max_unavailable=0, max_surge=1, min_ready=0,
                               now=0.0)
    assert plan.delete == [] and plan.create_on == [], "waits for the surge pod"
    by_node["n0"][1] = _pod("new-0", "v2", ready=True)
    plan = plan_rolling_update(by_node, "v2", max_unavailable=0, max_surge=1, min_ready=0,
                               now=0.0)
    assert [p["metadata"]["name"] for p in plan.delete] == ["old-0"]
