"""The demo API server over real HTTP(S): TLS, auth, verbs, subresources, discovery."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler
from kube_http import Api, ServerFactory, deployment, pod

from kwatch.demo.apiserver import DemoApiServer

PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def assert_status(body: dict[str, object], code: int, reason: str) -> None:
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason)
    assert isinstance(body["message"], str) and body["message"]


# -- TLS and authentication ------------------------------------------------------------------


async def test_tls_verifies_with_the_ca_and_fails_without(server: DemoApiServer) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    assert server.ca_file and await asyncio.to_thread(Path(server.ca_file).is_file)
    async with aiohttp.ClientSession() as s:
        ctx = ssl.create_default_context(cafile=server.ca_file)
        async with s.get(server.url + "/version", ssl=ctx) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with s.get(server.url + "/version", ssl=ssl.create_default_context()):
                pass


async def test_plain_http_when_tls_is_off(make_server: ServerFactory,
                                          session: aiohttp.ClientSession) -> None:
    srv = await make_server(tls=False, token="t0k")
    assert srv.url.startswith("http://") and srv.ca_file is None
    assert "certificate-authority-data" not in srv.kubeconfig()["clusters"][0]["cluster"]
    status, body = await Api(srv, session).get("/api/v1/namespaces")
    assert status == 200 and len(body["items"]) == 4


async def test_requests_without_the_token_are_401(server: DemoApiServer,
                                                  session: aiohttp.ClientSession) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.token}):
        async with session.get(server.url + "/api/v1/pods", headers=headers,
                               ssl=ssl.create_default_context(cafile=server.ca_file)) as r:
            assert r.status == 401
            assert_status(await r.json(), 401, "Unauthorized")
    async with session.get(server.url + "/readyz",
                           ssl=ssl.create_default_context(cafile=server.ca_file)) as r:
        assert r.status == 200 and await r.text() == "ok"


async def test_kubeconfig(server: DemoApiServer, tmp_path: Path) -> None:
    path = tmp_path / "kc"
    server.write_kubeconfig(path, context="demo")
    cfg = yaml.safe_load(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert cfg["current-context"] == "demo"
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == server.url
    assert cluster["certificate-authority-data"]
    assert cfg["users"][0]["user"]["token"] == server.token


# -- CRUD --------------------------------------------------------------------------------------


async def test_crud_and_conflicts(api: Api) -> None:
    status, created = await api.post(PODS, pod("web", app="web"))
    assert status == 201
    assert created["metadata"]["namespace"] == "default"
    status, body = await api.post(PODS, pod("web"))
    assert status == 409
    assert_status(body, 409, "AlreadyExists")
    assert body["details"] == {"name": "web", "kind": "pods"}

    status, got = await api.get(f"{PODS}/web")
    assert status == 200 and got == created

    got["metadata"]["labels"]["v"] = "2"
    status, updated = await api.put(f"{PODS}/web", got)
    assert status == 200 and updated["metadata"]["labels"]["v"] == "2"
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])
    status, body = await api.put(f"{PODS}/web", got)  # stale resourceVersion
    assert status == 409
    assert_status(body, 409, "Conflict")

    status, body = await api.put(f"{PODS}/other", updated)
    assert status == 400
    assert_status(body, 400, "BadRequest")

    status, gone = await api.delete(f"{PODS}/web")
    assert status == 200 and gone["kind"] == "Pod"  # pods answer with the object
    status, body = await api.get(f"{PODS}/web")
    assert status == 404
    assert_status(body, 404, "NotFound")
    assert body["message"] == 'pods "web" not found'


async def test_delete_of_other_kinds_returns_a_success_status(api: Api) -> None:
    await api.post(DEPLOYS, deployment("web"))
    status, body = await api.delete(f"{DEPLOYS}/web")
    assert status == 200
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "web" and body["details"]["group"] == "apps"


async def test_create_in_missing_namespace_and_unknown_paths(api: Api) -> None:
    status, body = await api.post("/api/v1/namespaces/nope/pods", pod("x", "nope"))
    assert status == 404 and body["message"] == 'namespaces "nope" not found'
    for path in ("/api/v1/frobs", "/apis/nope/v1/things", "/api/v1/namespaces/default/nodes",
                 "/nothing", "/api/v1/namespaces/default/pods/x/logs"):
        status, body = await api.get(path)
        assert status == 404, path
        assert_status(body, 404, "NotFound")


async def test_verbs_a_path_does_not_support_are_405(api: Api) -> None:
    await api.post(PODS, pod("web"))
    for method, path in (("DELETE", f"{PODS}/web/status"), ("GET", f"{PODS}/web/binding"),
                         ("PUT", f"{PODS}/web/eviction"), ("POST", f"{PODS}/web"),
                         ("POST", "/api/v1/pods"), ("OPTIONS", PODS)):
        status, body = await api.call(method, path, pod("web") if method != "GET" else None)
        assert status == 405, (method, path)
        assert_status(body, 405, "MethodNotAllowed")
    status, _ = await api.get("/api/v1/pods/web")  # a namespaced name needs its namespace
    assert status == 404
    assert (await api.get(f"{PODS}/web"))[0] == 200


async def test_managed_fields_manager_from_user_agent_or_field_manager(api: Api) -> None:
    await api.call("POST", PODS, pod("a"), headers={"User-Agent": "kube-controller-manager/v1.35"
                                                    " (linux/amd64) kubernetes/abc"})
    _, p = await api.call("POST", PODS, pod("b"), params={"fieldManager": "kubectl-create"})
    _, a = await api.get(f"{PODS}/a")
    assert a["metadata"]["managedFields"][0]["manager"] == "kube-controller-manager"
    assert p["metadata"]["managedFields"][0]["manager"] == "kubectl-create"
    assert p["metadata"]["managedFields"][0]["operation"] == "Update"


async def test_dry_run_does_not_persist(api: Api) -> None:
    rv = api.server.storage.rv
    status, body = await api.call("POST", PODS, pod("dry"), params={"dryRun": "All"})
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert (await api.get(f"{PODS}/dry"))[0] == 404
    assert api.server.storage.rv == rv


# -- patches -------------------------------------------------------------------------------------


async def test_each_patch_type(api: Api) -> None:
    await api.post(DEPLOYS, deployment("web", replicas=1))
    path = f"{DEPLOYS}/web"
    status, d = await api.patch(path, {"metadata": {"labels": {"tier": "front"}}})
    assert status == 200 and d["metadata"]["labels"]["tier"] == "front"
    status, d = await api.patch(path, [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3}], "json")
    assert status == 200 and d["spec"]["replicas"] == 3
    status, d = await api.patch(path, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.28"},
        {"name": "sidecar", "image": "envoy:1"}]}}}}, "strategic")
    containers = d["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "nginx:1.28"),
                                                             ("sidecar", "envoy:1")]
    assert containers[0]["terminationMessagePath"] == "/dev/termination-log"  # merged, kept
    status, body = await api.patch(path, [{"op": "test", "path": "/spec/replicas",
                                           "value": 99}], "json")
    assert status == 422
    assert_status(body, 422, "Invalid")
    status, body = await api.patch(path, {"spec": {}}, "application/xml")
    assert status == 415
    status, body = await api.patch(f"{DEPLOYS}/missing", {"spec": {}})
    assert status == 404


async def test_server_side_apply_creates_and_updates(api: Api) -> None:
    manifest = yaml.safe_dump({**deployment("web", replicas=2)}).encode()
    status, d = await api.call("PATCH", f"{DEPLOYS}/web", manifest,
                               content_type="application/apply-patch+yaml",
                               params={"fieldManager": "kubectl"})
    assert status == 200 and d["spec"]["replicas"] == 2
    assert d["metadata"]["managedFields"][0]["operation"] == "Apply"
    status, _ = await api.call("PATCH", f"{DEPLOYS}/web", manifest,
                                  content_type="application/apply-patch+yaml")
    assert status == 400  # apply needs a fieldManager, as on a real server


# -- subresources ------------------------------------------------------------------------------


async def test_status_subresource(api: Api) -> None:
    _, p = await api.post(PODS, pod("web"))
    p["status"] = {"phase": "Running", "podIP": "10.244.0.5"}
    p["spec"]["activeDeadlineSeconds"] = 5
    status, after = await api.put(f"{PODS}/web/status", p)
    assert status == 200
    assert after["status"] == {"phase": "Running", "podIP": "10.244.0.5"}
    assert "activeDeadlineSeconds" not in after["spec"]
    status, after = await api.patch(f"{PODS}/web/status", {"status": {"phase": "Failed"}})
    assert after["status"]["phase"] == "Failed"
    assert after["metadata"]["managedFields"][-1]["subresource"] == "status"
    status, main = await api.patch(f"{PODS}/web", {"status": {"phase": "Pending"}})
    assert main["status"]["phase"] == "Failed"  # the main resource ignores status
    status, got = await api.get(f"{PODS}/web/status")
    assert status == 200 and got["status"]["phase"] == "Failed"


async def test_scale_subresource(api: Api) -> None:
    await api.post(DEPLOYS, deployment("web", replicas=2, app="web"))
    status, scale = await api.get(f"{DEPLOYS}/web/scale")
    assert status == 200
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    status, scale = await api.put(f"{DEPLOYS}/web/scale", scale)
    assert status == 200 and scale["spec"]["replicas"] == 5
    status, _ = await api.put(f"{DEPLOYS}/web/scale", {**scale, "spec": {"replicas": 6},
                                                          "metadata": {"resourceVersion": "1"}})
    assert status == 409
    status, scale = await api.patch(f"{DEPLOYS}/web/scale", {"spec": {"replicas": 7}})
    assert scale["spec"]["replicas"] == 7
    _, d = await api.get(f"{DEPLOYS}/web")
    assert d["spec"]["replicas"] == 7 and d["metadata"]["generation"] == 3
    assert d["metadata"]["managedFields"][-1]["subresource"] == "scale"
    status, _ = await api.get(f"{PODS}/x/scale")
    assert status == 404  # pods have no scale subresource


async def test_binding_sets_the_node_once(api: Api) -> None:
    await api.post(PODS, pod("web"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    status, body = await api.post(f"{PODS}/web/binding", binding)
    assert status == 201 and body["status"] == "Success"
    _, p = await api.get(f"{PODS}/web")
    assert p["spec"]["nodeName"] == "node-1"
    [cond] = p["status"]["conditions"]
    assert (cond["type"], cond["status"]) == ("PodScheduled", "True")
    status, body = await api.post(f"{PODS}/web/binding", binding)
    assert status == 409 and "already assigned" in body["message"]


async def test_graceful_pod_delete_over_http(api: Api) -> None:
    await api.post(PODS, pod("web"))
    await api.post(f"{PODS}/web/binding", {"metadata": {"name": "web"},
                                           "target": {"kind": "Node", "name": "n1"}})
    status, p = await api.delete(f"{PODS}/web", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                 "gracePeriodSeconds": 20,
                                                 "propagationPolicy": "Background"})
    assert status == 200
    assert p["metadata"]["deletionGracePeriodSeconds"] == 20 and p["metadata"]["deletionTimestamp"]
    assert (await api.get(f"{PODS}/web"))[0] == 200
    status, p = await api.delete(f"{PODS}/web", gracePeriodSeconds="0")
    assert status == 200
    assert (await api.get(f"{PODS}/web"))[0] == 404


async def test_eviction(api: Api) -> None:
    await api.post(PODS, pod("web"))
    status, body = await api.post(f"{PODS}/web/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"}})
    assert status == 201 and body["status"] == "Success"
    assert (await api.get(f"{PODS}/web"))[0] == 404


async def test_delete_collection(api: Api) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        await api.post(PODS, pod(name, app=app))
    status, body = await api.delete(PODS, labelSelector="app=web")
    assert status == 200 and body["kind"] == "PodList"
    assert sorted(p["metadata"]["name"] for p in body["items"]) == ["a", "b"]
    _, left = await api.get(PODS)
    assert [p["metadata"]["name"] for p in left["items"]] == ["c"]


# -- list, paging, selectors -----------------------------------------------------------------


async def test_paging_with_limit_and_continue(api: Api) -> None:
    for i in range(7):
        await api.post(PODS, pod(f"p{i}"))
    names: list[str] = []
    token = ""
    rvs = set()
    while True:
        params = {"limit": "3", **({"continue": token} if token else {})}
        status, page = await api.call("GET", PODS, params=params)
        assert status == 200 and page["kind"] == "PodList" and page["apiVersion"] == "v1"
        names += [p["metadata"]["name"] for p in page["items"]]
        rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            assert "remainingItemCount" not in page["metadata"]
            break
        assert page["metadata"]["remainingItemCount"] == 7 - len(names)
    assert names == [f"p{i}" for i in range(7)]
    assert rvs == {str(api.server.storage.rv)}


async def test_compacted_continue_token_is_410(api: Api) -> None:
    for i in range(3):
        await api.post(PODS, pod(f"p{i}"))
    _, page = await api.get(PODS, limit="1")
    await api.post(PODS, pod("late"))
    api.server.compact()
    status, body = await api.get(PODS, limit="1", **{"continue": page["metadata"]["continue"]})
    assert status == 410
    assert_status(body, 410, "Expired")
    assert body["metadata"]["continue"]
    status, body = await api.get(PODS, limit="1", **{"continue": "garbage!"})
    assert status == 400


async def test_label_and_field_selectors(api: Api) -> None:
    await api.post(PODS, pod("a", app="web", env="prod"))
    await api.post(PODS, pod("b", app="web", env="dev"))
    await api.post(PODS, pod("c", app="db"))
    await api.post(f"{PODS}/b/binding", {"metadata": {"name": "b"},
                                         "target": {"kind": "Node", "name": "n1"}})

    async def listed(**params: str) -> list[str]:
        status, body = await api.get("/api/v1/pods", **params)
        assert status == 200, body
        return sorted(p["metadata"]["name"] for p in body["items"])

    assert await listed(labelSelector="app=web") == ["a", "b"]
    assert await listed(labelSelector="app==web,env!=prod") == ["b"]
    assert await listed(labelSelector="env in (prod,staging)") == ["a"]
    assert await listed(labelSelector="env notin (prod)") == ["b", "c"]
    assert await listed(labelSelector="env") == ["a", "b"]
    assert await listed(labelSelector="!env") == ["c"]
    assert await listed(fieldSelector="spec.nodeName=n1") == ["b"]
    assert await listed(fieldSelector="spec.nodeName=") == ["a", "c"]
    assert await listed(fieldSelector="metadata.name!=a,metadata.namespace=default") == ["b", "c"]
    for params in ({"labelSelector": "app in (web"}, {"labelSelector": "a=b=c"},
                   {"fieldSelector": "spec.image=x"}, {"fieldSelector": "nonsense"}):
        status, body = await api.get("/api/v1/pods", **params)
        assert status == 400, params
        assert_status(body, 400, "BadRequest")


async def test_add_nodes(server: DemoApiServer) -> None:
    assert server.add_nodes(2) == ["node-1", "node-2"]
    assert server.add_nodes(1) == ["node-3"]
    assert server.add_nodes(1, prefix="worker-") == ["worker-1"]
    node = server.storage.get("nodes", "node-3")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions == {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False",
                          "PIDPressure": "False"}
    assert node["status"]["allocatable"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["kubeletVersion"]
    ips = {n["status"]["addresses"][0]["address"]
           for n in server.storage.list("nodes")["items"]}
    assert len(ips) == 4  # unique InternalIPs


async def test_kubectl_table_format(api: Api) -> None:
    await api.post(PODS, pod("web"))
    api.server.add_nodes(1)
    status, table = await api.call("GET", PODS, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    assert status == 200 and table["kind"] == "Table"
    cols = [c["name"] for c in table["columnDefinitions"]]
    assert cols[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    [row] = table["rows"]
    assert row["cells"][:4] == ["web", "0/1", "Pending", 0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "web"
    _, nodes = await api.call("GET", "/api/v1/nodes", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    [row] = nodes["rows"]
    assert row["cells"][:2] == ["node-1", "Ready"]


# -- discovery -------------------------------------------------------------------------------


async def test_discovery_documents(api: Api) -> None:
    _, version = await api.get("/version")
    assert version["gitVersion"] == "v1.35.0-kwatch"
    assert (version["major"], version["minor"]) == ("1", "35")
    assert "/" in version["platform"]
    _, apis = await api.get("/api")
    assert apis["kind"] == "APIVersions" and apis["versions"] == ["v1"]

    _, core = await api.get("/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"]
    assert by_name["pods"]["namespaced"] is True and by_name["pods"]["kind"] == "Pod"
    assert "watch" in by_name["pods"]["verbs"]
    assert by_name["nodes"]["namespaced"] is False
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert by_name["pods/binding"]["verbs"] == ["create"]
    for short, name in (("svc", "services"), ("no", "nodes"), ("ns", "namespaces"),
                        ("ev", "events"), ("cm", "configmaps"), ("sa", "serviceaccounts")):
        assert short in by_name[name]["shortNames"]

    _, groups = await api.get("/apis")
    assert groups["kind"] == "APIGroupList"
    by_group = {g["name"]: g for g in groups["groups"]}
    assert set(by_group) >= {"apps", "discovery.k8s.io", "events.k8s.io", "coordination.k8s.io"}
    assert by_group["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    _, group = await api.get("/apis/apps")
    assert group["kind"] == "APIGroup" and group["name"] == "apps"

    _, apps = await api.get("/apis/apps/v1")
    by_name = {r["name"]: r for r in apps["resources"]}
    assert {"deployments", "replicasets", "statefulsets", "daemonsets",
            "controllerrevisions"} <= set(by_name)
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments/scale"]["group"] == "autoscaling"
    assert by_name["deployments/scale"]["kind"] == "Scale"
    for short, name in (("rs", "replicasets"), ("sts", "statefulsets"), ("ds", "daemonsets")):
        assert by_name[name]["shortNames"] == [short]
    _, leases = await api.get("/apis/coordination.k8s.io/v1")
    assert leases["resources"][0]["name"] == "leases"


# -- fault injection ---------------------------------------------------------------------------


async def test_forbidden_resources_are_403(api: Api) -> None:
    api.server.forbidden = {"leases"}
    status, body = await api.get("/apis/coordination.k8s.io/v1/leases")
    assert status == 403
    assert_status(body, 403, "Forbidden")
    assert body["message"] == (
        'leases.coordination.k8s.io is forbidden: User "kwatch" cannot list resource "leases" '
        'in API group "coordination.k8s.io" at the cluster scope')
    status, body = await api.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                                 watch="1")
    assert status == 403 and 'cannot watch resource "leases"' in body["message"]
    assert 'in the namespace "kube-system"' in body["message"]
    assert (await api.get(PODS))[0] == 200  # others unaffected
    api.server.forbidden.clear()
    assert (await api.get("/apis/coordination.k8s.io/v1/leases"))[0] == 200


async def test_middlewares_and_request_log(make_server: ServerFactory,
                                           session: aiohttp.ClientSession) -> None:
    @web.middleware
    async def throttle(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.query.get("limit") == "13":
            return web.json_response({"kind": "Status", "code": 429, "reason": "TooManyRequests"},
                                     status=429, headers={"Retry-After": "1"})
        return await handler(request)

    srv = await make_server(middlewares=(throttle,))
    api = Api(srv, session)
    status, _ = await api.get(PODS, limit="13")
    assert status == 429
    status, _ = await api.get(PODS, limit="5", labelSelector="a=b")
    assert status == 200
    assert list(srv.request_log)[-2:] == [
        ("GET", PODS, {"limit": "13"}),
        ("GET", PODS, {"limit": "5", "labelSelector": "a=b"}),
    ]


async def test_stop_is_prompt_and_frees_the_port(make_server: ServerFactory,
                                                   session: aiohttp.ClientSession) -> None:
    srv = await make_server(tls=False)
    api = Api(srv, session)
    async with api.watch(PODS) as w:
        await asyncio.sleep(0.05)
        t = time.monotonic()
        await srv.stop()
        assert time.monotonic() - t < 1.0
        assert await w.rest() == []  # the open watch was ended cleanly
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as s, s.get(srv.url + "/healthz"):
            pass
