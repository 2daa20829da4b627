"""The endpointslice controller against the embedded API server, tests playing kubelet."""

from __future__ import annotations

import asyncio

from lab_cluster import Cluster, pod_manifest, pod_status, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import ENDPOINTSLICE, NODE, POD, SERVICE
from kwatch.demo.controllers._sliceplan import (
    DesiredPorts,
    endpoint_id,
    plan_slices,
    ports_key,
)
from kwatch.demo.controllers.endpointslice import EndpointSliceController


def service(name: str = "web", *, publish_not_ready: bool = False,
            target_port: int | str = 8080) -> JSON:
    spec: JSON = {"selector": {"app": name},
                  "ports": [{"name": "http", "port": 80, "targetPort": target_port}]}
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"metadata": {"name": name, "labels": {"team": "a"}}, "spec": spec}


async def slices_of(c: Cluster, svc: str = "web") -> list[JSON]:
    return await c.list(ENDPOINTSLICE, label_selector=f"kubernetes.io/service-name={svc}")


def endpoints_of(slices: list[JSON]) -> dict[str, JSON]:
    return {ep["targetRef"]["name"]: ep for s in slices for ep in s.get("endpoints") or []}


async def wait_endpoint(c: Cluster, pod: str, conditions: dict[str, bool] | None,
                        svc: str = "web") -> JSON:
    """Wait until `pod`'s endpoint has exactly `conditions` (None: until it is absent)."""
    async def probe() -> JSON | None:
        eps = endpoints_of(await slices_of(c, svc))
        if conditions is None:
            return None if pod in eps else {"absent": True}
        ep = eps.get(pod)
        return ep if ep is not None and ep["conditions"] == conditions else None
    return await wait_for(probe, what=f"endpoint {pod} {conditions}")


async def test_conditions_follow_readiness_deletion_and_removal() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(EndpointSliceController)
        svc = await c.create(SERVICE, service())
        # A Service that selects nothing yet has one empty placeholder slice.
        placeholder = await wait_for(lambda: slices_of(c), what="placeholder slice")
        assert placeholder[0]["endpoints"] in (None, [])
        await c.create(POD, pod_manifest("web-a", {"app": "web"}, node="node-1"))
        await c.set_pod_status("web-a", pod_status(ready=False, ip="10.244.1.5"))
        ep = await wait_endpoint(c, "web-a", {"ready": False, "serving": False,
                                              "terminating": False})
        await c.set_pod_status("web-a", pod_status(ready=True, ip="10.244.1.5"))
        await wait_endpoint(c, "web-a", {"ready": True, "serving": True, "terminating": False})

        slices = await slices_of(c)
        assert len(slices) == 1, "the placeholder is reused, not joined by a second slice"
        s = slices[0]
        assert s["metadata"]["name"] == placeholder[0]["metadata"]["name"]
        assert s["metadata"]["name"].startswith("web-")
        assert s["addressType"] == "IPv4"
        assert s["metadata"]["labels"] == {
            "team": "a",
            "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        }
        owner = s["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "Service", "web", svc["metadata"]["uid"], True)
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        ep = s["endpoints"][0]
        assert ep["addresses"] == ["10.244.1.5"]
        assert ep["nodeName"] == "node-1"
        assert ep["zone"] == "zone-b"  # from the Node's topology label
        assert ep["targetRef"]["kind"] == "Pod" and ep["targetRef"]["namespace"] == "default"

        # Deletion (the pod is on a node, so it is graceful): serving but not ready.
        await c.delete_pod("web-a")
        await wait_endpoint(c, "web-a", {"ready": False, "serving": True, "terminating": True})
        # The kubelet's readiness probe fails while it shuts down: serving drops too.
        await c.set_pod_status("web-a", pod_status(ready=False, ip="10.244.1.5"))
        await wait_endpoint(c, "web-a", {"ready": False, "serving": False,
                                         "terminating": True})
        # The kubelet confirms the deletion: the endpoint is gone, the slice stays empty.
        await c.delete_pod("web-a", grace=0)
        await wait_endpoint(c, "web-a", None)
        slices = await slices_of(c)
        assert [s["metadata"]["name"] for s in slices] == [placeholder[0]["metadata"]["name"]]


async def test_pods_without_ip_node_or_running_phase_are_skipped() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(EndpointSliceController)
        await c.create(SERVICE, service())
        for name, node in [("good", "node-1"), ("no-ip", "node-1"), ("ghost-node", "node-9"),
                           ("done", "node-1")]:
            await c.create(POD, pod_manifest(name, {"app": "web"}, node=node))
        await c.set_pod_status("good", pod_status(ready=True, ip="10.244.1.2"))
        await c.set_pod_status("no-ip", pod_status(ready=True, ip=None))
        await c.set_pod_status("ghost-node", pod_status(ready=True, ip="10.244.9.2"))
        await c.set_pod_status("done", pod_status(ready=False, ip="10.244.1.3",
                                                  phase="Succeeded"))
        await wait_endpoint(c, "good", {"ready": True, "serving": True, "terminating": False})
        await asyncio.sleep(0.3)
        assert set(endpoints_of(await slices_of(c))) == {"good"}
        # Once the Node exists the controller's retry picks the pod up.
        await c.create(NODE, {"metadata": {"name": "node-9"}})
        await wait_endpoint(c, "ghost-node", {"ready": True, "serving": True,
                                              "terminating": False})
        assert set(endpoints_of(await slices_of(c))) == {"good", "ghost-node"}


async def test_publish_not_ready_addresses_marks_every_endpoint_ready() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(EndpointSliceController)
        await c.create(SERVICE, service("db", publish_not_ready=True))
        await c.create(POD, pod_manifest("db-0", {"app": "db"}, node="node-1"))
        await c.set_pod_status("db-0", pod_status(ready=False, ip="10.244.1.7"))
        await wait_endpoint(c, "db-0", {"ready": True, "serving": False, "terminating": False},
                            svc="db")
        await c.delete_pod("db-0")
        await wait_endpoint(c, "db-0", {"ready": True, "serving": False, "terminating": True},
                            svc="db")


async def test_more_than_100_endpoints_are_split_across_slices() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(EndpointSliceController)
        await c.create(SERVICE, service())
        names = [f"web-{i:03d}" for i in range(130)]

        async def start(i: int, name: str) -> None:
            await c.create(POD, pod_manifest(name, {"app": "web"}, node="node-1"))
            ip = f"10.244.{i // 200}.{i % 200 + 2}"
            await c.set_pod_status(name, pod_status(ready=True, ip=ip))

        await asyncio.gather(*(start(i, n) for i, n in enumerate(names)))

        async def all_in() -> list[JSON] | None:
            slices = await slices_of(c)
            return slices if set(endpoints_of(slices)) == set(names) else None

        slices = await wait_for(all_in, what="130 endpoints")
        await asyncio.sleep(0.3)  # settled: no further slices appear
        slices = await slices_of(c)
        sizes = sorted(len(s["endpoints"]) for s in slices)
        # Pods trickle in, so (like the real controller) slices aren't packed tightly;
        # what holds is the cap and that no endpoint is listed twice.
        assert len(sizes) >= 2 and max(sizes) <= 100
        assert sum(sizes) == len(endpoints_of(slices)) == 130
        for s in slices:
            refs = [ep["targetRef"]["name"] for ep in s["endpoints"]]
            assert refs == sorted(refs), "endpoints are written in a stable order"


async def test_named_target_port_resolving_differently_gets_its_own_slice() -> None:
    async with Cluster() as c:
        c.server.add_nodes(1)
        await c.start(EndpointSliceController)
        await c.create(SERVICE, service(target_port="http"))
        await c.create(POD, pod_manifest("old", {"app": "web"}, node="node-1",
                                         ports=[{"name": "http", "containerPort": 8080}]))
        await c.create(POD, pod_manifest("new", {"app": "web"}, node="node-1",
                                         ports=[{"name": "http", "containerPort": 9090}]))
        await c.set_pod_status("old", pod_status(ready=True, ip="10.244.1.2"))
        await c.set_pod_status("new", pod_status(ready=True, ip="10.244.1.3"))
        await wait_endpoint(c, "old", {"ready": True, "serving": True, "terminating": False})
        await wait_endpoint(c, "new", {"ready": True, "serving": True, "terminating": False})
        by_port = {s["ports"][0]["port"]: [e["targetRef"]["name"] for e in s["endpoints"]]
                   for s in await slices_of(c)}
        assert by_port == {8080: ["old"], 9090: ["new"]}


def _ep(name: str) -> JSON:
    return {"addresses": [f"10.0.0.{len(name)}"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": name}}


def test_plan_packs_new_endpoints_100_per_slice() -> None:
    svc = {"metadata": {"name": "web", "namespace": "default", "uid": "u"},
           "spec": {"selector": {"app": "web"}}}
    ports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    eps = [_ep(f"p{i:03d}") for i in range(230)]
    for i, e in enumerate(eps):
        e["addresses"] = [f"10.0.{i // 200}.{i % 200}"]
    desired = DesiredPorts(ports, {endpoint_id(e): e for e in eps})
    plan = plan_slices(svc, [], {ports_key(ports): desired}, limit=100)
    assert [len(s["endpoints"]) for s in plan.creates] == [100, 100, 30]
    assert not plan.updates and not plan.deletes


def test_plan_refills_existing_slice_before_creating() -> None:
    svc = {"metadata": {"name": "web", "namespace": "default", "uid": "u"},
           "spec": {"selector": {"app": "web"}}}
    ports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    existing = {"metadata": {"name": "web-abc", "namespace": "default", "uid": "s1",
                             "labels": {"kubernetes.io/service-name": "web",
                                        "endpointslice.kubernetes.io/managed-by":
                                            "endpointslice-controller.k8s.io"}},
                "addressType": "IPv4", "ports": ports,
                "endpoints": [_ep("a"), _ep("gone")]}
    desired = DesiredPorts(ports, {endpoint_id(e): e for e in (_ep("a"), _ep("bb"))})
    plan = plan_slices(svc, [existing], {ports_key(ports): desired}, limit=100)
    assert not plan.creates and not plan.deletes
    assert [e["targetRef"]["name"] for e in plan.updates[0]["endpoints"]] == ["a", "bb"]
