"""A real kubectl against the demo API server (skipped when kubectl is not installed)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest
from kube_http import pod

from kwatch.demo.apiserver import DemoApiServer

KUBECTL = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists()
                                      else None)
pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 2
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(kubeconfig), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin else None)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture
def kubeconfig(server: DemoApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(path)
    return path


async def test_kubectl_get_prints_tables(server: DemoApiServer, kubeconfig: Path) -> None:
    server.add_nodes(2)
    server.storage.create("pods", pod("web-1", app="web"))
    pods = await kubectl(kubeconfig, "get", "pods", "-A")
    header, row = pods.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:5] == ["default", "web-1", "0/1", "Pending", "0"]
    nodes = (await kubectl(kubeconfig, "get", "nodes", "-o", "wide")).splitlines()
    assert nodes[0].split()[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert [line.split()[:2] for line in nodes[1:]] == [["node-1", "Ready"], ["node-2", "Ready"]]


async def test_kubectl_apply_scale_and_delete(server: DemoApiServer, kubeconfig: Path) -> None:
    manifest = kubeconfig.parent / "deploy.yaml"
    await asyncio.to_thread(manifest.write_text, DEPLOYMENT_YAML)
    await kubectl(kubeconfig, "apply", "-f", str(manifest))
    await kubectl(kubeconfig, "scale", "deployment/hello", "--replicas=5")
    out = orjson.loads(await kubectl(kubeconfig, "get", "deploy", "hello", "-o", "json"))
    assert out["spec"]["replicas"] == 5
    assert out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    managers = {e["manager"] for e in server.storage.get("deployments", "hello")["metadata"][
        "managedFields"]}
    assert "kubectl-client-side-apply" in managers
    await kubectl(kubeconfig, "delete", "deployment", "hello")
    assert server.storage.list("deployments")["items"] == []
