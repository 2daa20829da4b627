"""An unmodified client, kubernetes_asyncio, against the demo API server.

The client is configured the way a user's tools are: from a kubeconfig file the
server wrote (CA data + bearer token), over HTTPS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from kube_http import ServerFactory, deployment, pod
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from kwatch.demo.apiserver import DemoApiServer


async def _api_client(server: DemoApiServer, path: Path) -> client.ApiClient:
    server.write_kubeconfig(path)
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
async def k8s(server: DemoApiServer, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    api = await _api_client(server, tmp_path / "kubeconfig")
    yield api
    await api.close()


async def test_version_and_namespaces(k8s: client.ApiClient) -> None:
    info = await client.VersionApi(k8s).get_code()
    assert info.git_version == "v1.35.0-kwatch"
    namespaces = await client.CoreV1Api(k8s).list_namespace()
    assert sorted(n.metadata.name for n in namespaces.items) == [
        "default", "kube-node-lease", "kube-public", "kube-system"]


async def test_pods_crud_and_selectors(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    created = await core.create_namespaced_pod("default", pod("web", app="web"))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert created.spec.termination_grace_period_seconds == 30
    await core.create_namespaced_pod("default", pod("db", app="db"))
    listed = await core.list_namespaced_pod("default", label_selector="app in (web)")
    assert [p.metadata.name for p in listed.items] == ["web"]
    listed = await core.list_pod_for_all_namespaces(field_selector="metadata.name=db")
    assert [p.metadata.name for p in listed.items] == ["db"]

    patched = await core.patch_namespaced_pod("web", "default",
                                              {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "front"}
    stale = created
    stale.metadata.labels = {"x": "y"}
    with pytest.raises(ApiException) as err:
        await core.replace_namespaced_pod("web", "default", stale)
    assert err.value.status == 409
    assert orjson.loads(err.value.body)["reason"] == "Conflict"

    await core.delete_namespaced_pod("db", "default")
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_pod("db", "default")
    assert err.value.status == 404


async def test_deployments_defaults_and_scale(k8s: client.ApiClient) -> None:
    apps = client.AppsV1Api(k8s)
    d = await apps.create_namespaced_deployment("default", deployment("web"))
    assert d.spec.replicas == 1
    assert d.spec.strategy.type == "RollingUpdate"
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    assert d.spec.progress_deadline_seconds == 600
    scale = await apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    await apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    d = await apps.read_namespaced_deployment("web", "default")
    assert d.spec.replicas == 4 and d.metadata.generation == 2
    d.status = client.V1DeploymentStatus(replicas=4, ready_replicas=2)
    d = await apps.replace_namespaced_deployment_status("web", "default", d)
    assert d.status.ready_replicas == 2 and d.metadata.generation == 2


async def test_binding_like_a_scheduler(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    await core.create_namespaced_pod("default", pod("web"))
    body = client.V1Binding(metadata=client.V1ObjectMeta(name="web"),
                            target=client.V1ObjectReference(kind="Node", name="node-1"))
    resp = await core.create_namespaced_binding("default", body, _preload_content=False)
    assert resp.status == 201
    p = await core.read_namespaced_pod("web", "default")
    assert p.spec.node_name == "node-1"
    # and the pods/{name}/binding subresource form
    await core.create_namespaced_pod("default", pod("db"))
    body.metadata.name = "db"
    resp = await core.create_namespaced_pod_binding("db", "default", body,
                                                    _preload_content=False)
    assert resp.status == 201
    assert (await core.read_namespaced_pod("db", "default")).spec.node_name == "node-1"


async def test_watch_with_the_client_watch_helper(k8s: client.ApiClient,
                                                  server: DemoApiServer) -> None:
    core = client.CoreV1Api(k8s)
    await core.create_namespaced_pod("default", pod("web"))
    seen = []
    async with watch.Watch().stream(core.list_namespaced_pod, "default",
                                    timeout_seconds=1) as stream:
        async for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 1:
                server.storage.delete("pods", "web")
            if len(seen) == 2:
                break
    assert seen == [("ADDED", "web"), ("DELETED", "web")]


async def test_raw_watch_lines(k8s: client.ApiClient, server: DemoApiServer) -> None:
    core = client.CoreV1Api(k8s)
    resp = await core.list_namespaced_pod("default", watch=True, _preload_content=False,
                                          resource_version=str(server.storage.rv),
                                          allow_watch_bookmarks=True)
    try:
        async with asyncio.timeout(2):
            server.storage.create("pods", pod("web"))
            added = orjson.loads(await resp.content.readline())
            server.storage.create("configmaps", {"metadata": {"name": "moves-the-rv"}})
            bookmark = orjson.loads(await resp.content.readline())
    finally:
        resp.release()
    assert added["type"] == "ADDED" and added["object"]["metadata"]["name"] == "web"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["resourceVersion"] == str(server.storage.rv)


async def test_forbidden_and_unauthorized(k8s: client.ApiClient, server: DemoApiServer,
                                          make_server: ServerFactory, tmp_path: Path) -> None:
    server.forbidden = {"leases"}
    coordination = client.CoordinationV1Api(k8s)
    with pytest.raises(ApiException) as err:
        await coordination.list_namespaced_lease("kube-system")
    assert err.value.status == 403
    assert orjson.loads(err.value.body)["reason"] == "Forbidden"
    assert (await client.CoreV1Api(k8s).list_node()).items == []

    other = await make_server(token="another-token")
    cfg_path = tmp_path / "wrong"
    other.write_kubeconfig(cfg_path)
    text = cfg_path.read_text().replace("another-token", "wrong-token")
    cfg_path.write_text(text)
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cfg_path), client_configuration=cfg)
    async with client.ApiClient(cfg) as bad:
        with pytest.raises(ApiException) as err:
            await client.CoreV1Api(bad).list_namespace()
    assert err.value.status == 401


async def test_tls_fails_without_the_ca(server: DemoApiServer) -> None:
    import aiohttp

    cfg = client.Configuration(host=server.url)
    cfg.api_key = {"authorization": f"Bearer {server.token}"}
    async with client.ApiClient(cfg) as api:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await client.CoreV1Api(api).list_namespace()
