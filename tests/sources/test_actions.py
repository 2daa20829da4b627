"""Teaching actions (KubeActions) over real HTTP against the embedded API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kwatch.demo.apiserver import DemoApiServer
from kwatch.sources.actions import KubeActions
from kwatch.sources.errors import KwatchError
from kwatch.sources.kubeconfig import Connection, connect

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.26"},
                                    {"name": "sidecar", "image": "envoy:1"}]},
        },
    },
}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[DemoApiServer, Connection]]:
    server = DemoApiServer()
    await server.start()
    kc = tmp_path / "kc.yaml"
    server.write_kubeconfig(kc)
    conn = await connect(str(kc), None)
    try:
        yield server, conn
    finally:
        await conn.close()
        await server.stop()


async def test_scale_restart_and_set_image(setup: tuple[DemoApiServer, Connection]) -> None:
    server, conn = setup
    server.storage.create("deployments", DEPLOYMENT, "default", group="apps")
    actions = KubeActions(conn)

    await actions.scale("Deployment", "default", "web", 5)
    dep = server.storage.get("deployments", "web", "default", group="apps")
    assert dep["spec"]["replicas"] == 5

    await actions.set_image("Deployment", "default", "web", "app", "nginx:1.27")
    dep = server.storage.get("deployments", "web", "default", group="apps")
    images = {c["name"]: c["image"] for c in dep["spec"]["template"]["spec"]["containers"]}
    # Strategic merge by container name: the sidecar is untouched.
    assert images == {"app": "nginx:1.27", "sidecar": "envoy:1"}

    await actions.rollout_restart("Deployment", "default", "web")
    dep = server.storage.get("deployments", "web", "default", group="apps")
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


async def test_delete_pod_is_graceful(setup: tuple[DemoApiServer, Connection]) -> None:
    server, conn = setup
    server.add_nodes(1)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a", "image": "x"}]},
    }
    server.storage.create("pods", pod, "default")
    await KubeActions(conn).delete_pod("default", "p")
    # A scheduled pod is not removed at once: it gets deletionTimestamp and its grace period.
    stored = server.storage.get("pods", "p", "default")
    assert stored["metadata"]["deletionTimestamp"]
    assert stored["metadata"]["deletionGracePeriodSeconds"] == 30


async def test_failures_are_one_line_errors(setup: tuple[DemoApiServer, Connection]) -> None:
    _, conn = setup
    actions = KubeActions(conn)
    with pytest.raises(KwatchError, match=r"delete pod default/nope failed: .*not found"):
        await actions.delete_pod("default", "nope")
    with pytest.raises(KwatchError, match="cannot scale a DaemonSet"):
        await actions.scale("DaemonSet", "default", "x", 1)
