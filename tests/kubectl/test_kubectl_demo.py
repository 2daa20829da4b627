"""A real kubectl against the embedded demo cluster (`kwatch demo --serve`).

The demo's API server claims to speak the real REST + watch protocol; the proof is the
real client. These tests run the kubectl built with the control plane
(scripts/build-controlplane.sh, v1.36.1: ``$KWATCH_KUBECTL`` if set, else the build
cache's; the distribution's /usr/bin/kubectl is another version and is not used) as a
user would, against ``python -m kwatch demo --serve --kubeconfig-out PATH`` in a
subprocess, and check what it prints and what it changed.

The demo runs at speed 1 (``--serve`` without a scenario): kubectl computes ages from
the wall clock, so a faster simulated clock would show every age as "<invalid>".

Imperative ``kubectl create <type>`` sends protobuf, and ``kubectl explain`` reads the
OpenAPI schemas: both are covered too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kwatch.testing.controlplane import find_binaries

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
ROLLOUT = "90s"  # kubectl rollout status / wait budget on a busy machine

def _kubectl_binary() -> Path:
    env = os.environ.get("KWATCH_KUBECTL")
    if env:
        return Path(env)
    bins = find_binaries()
    if bins is not None and bins.kubectl is not None:
        return bins.kubectl
    reason = "no kubectl v1.36.1: run scripts/build-controlplane.sh (or set KWATCH_KUBECTL)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path, cache: Path) -> None:
        self.binary = binary
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(cache)}

    def run(self, *args: str, check: bool = True, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, input=stdin, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc

    def __call__(self, *args: str) -> str:
        return self.run(*args).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(self.binary), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    binary = _kubectl_binary()
    work = tmp_path_factory.mktemp("kubectl-demo")
    kubeconfig, log = work / "kubeconfig", work / "demo.log"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with log.open("w") as err:
        demo = subprocess.Popen(
            [sys.executable, "-m", "kwatch", "demo", "--serve", "--nodes", "2",
             "--kubeconfig-out", str(kubeconfig)],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=str(REPO))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "serving at" not in log.read_text():
            assert demo.poll() is None, f"kwatch demo --serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"demo did not start:\n{log.read_text()}"
            time.sleep(0.1)
        yield Kubectl(binary, kubeconfig, work / "cache")
    finally:
        demo.send_signal(signal.SIGTERM)  # it stops the cluster and exits 0
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()


def manifest(ns: str, replicas: int = 2, image: str = "nginx:1.27") -> str:
    """A Namespace, a Deployment whose simulated app listens 1 s after it starts (with
    a readinessProbe), and its Service — what a user would `kubectl create -f`."""
    labels = {"app": "web"}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": ns, "labels": labels},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {
                      "metadata": {"labels": labels,
                                   "annotations": {"kwatch.dev/startup-seconds": "1"}},
                      "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                          "name": "app", "image": image,
                          "ports": [{"name": "http", "containerPort": 8080}],
                          "readinessProbe": {"httpGet": {"path": "/", "port": "http"},
                                             "periodSeconds": 1}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]}},
    ]
    return yaml.safe_dump_all(docs)


def deploy(kubectl: Kubectl, tmp_path: Path, ns: str, **kw: Any) -> Path:
    path = tmp_path / f"{ns}.yaml"
    path.write_text(manifest(ns, **kw))
    kubectl("create", "-f", str(path))
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    return path


def table(text: str) -> list[dict[str, str]]:
    """kubectl's default output: a header line and aligned columns (some header names
    have a space, e.g. NOMINATED NODE: columns are cut where the header's start)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s{2}))\S", lines[0])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in bounds]

    header = cells(lines[0])
    return [dict(zip(header, cells(ln), strict=True)) for ln in lines[1:]]


# -- reading ---------------------------------------------------------------------------------


def test_version_and_discovery(kubectl: Kubectl) -> None:
    version = json.loads(kubectl("version", "-o", "json"))
    assert version["serverVersion"]["major"] == "1"
    resources = kubectl("api-resources", "-o", "name").split()
    for name in ("pods", "deployments.apps", "replicasets.apps", "endpointslices.discovery.k8s.io",
                 "leases.coordination.k8s.io", "events.events.k8s.io"):
        assert name in resources, resources


def test_get_table_wide_yaml_json(kubectl: Kubectl) -> None:
    nodes = table(kubectl("get", "nodes"))
    assert [n["NAME"] for n in nodes] == ["node-1", "node-2"]
    assert all(n["STATUS"] == "Ready" for n in nodes)
    wide = kubectl("get", "nodes", "-o", "wide")
    assert wide.split()[:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP",
                                "EXTERNAL-IP"]
    assert "172.18." in wide  # the simulated node network
    listed = yaml.safe_load(kubectl("get", "nodes", "-o", "yaml"))
    assert listed["kind"] == "List" and len(listed["items"]) == 2
    node = kubectl.json("get", "node", "node-1")
    assert node["kind"] == "Node" and node["metadata"]["name"] == "node-1"
    kinds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert kinds["Ready"] == "True"


def test_create_f_and_rollout_status(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "create-f"
    deploy(kubectl, tmp_path, ns)
    pods = table(kubectl("get", "pods", "-n", ns, "-o", "wide"))
    assert len(pods) == 2
    assert all(p["READY"] == "1/1" and p["STATUS"] == "Running" for p in pods)
    assert {p["NODE"] for p in pods} <= {"node-1", "node-2"}
    rs = kubectl.json("get", "rs", "-n", ns)["items"]
    assert len(rs) == 1
    hash_ = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs[0]["metadata"]["name"] == f"web-{hash_}"
    assert all(p["NAME"].startswith(f"web-{hash_}-") for p in pods)
    slices = kubectl.json("get", "endpointslices", "-n", ns,
                          "-l", "kubernetes.io/service-name=web")["items"]
    endpoints = [e for s in slices for e in s.get("endpoints") or []]
    assert len(endpoints) == 2 and all(e["conditions"]["ready"] for e in endpoints)


def test_get_watch_shows_a_deletion(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "watch"
    deploy(kubectl, tmp_path, ns, replicas=1)
    [victim] = kubectl("get", "pods", "-n", ns, "-o", "name").split()
    watch = kubectl.popen("get", "pods", "-n", ns, "-w", "--output-watch-events")
    try:
        time.sleep(1.0)  # the watch's initial list first
        kubectl("delete", victim, "-n", ns, "--wait=false")
        kubectl("wait", "--for=delete", victim, "-n", ns, "--timeout=60s")
        time.sleep(1.0)
    finally:
        watch.terminate()
        out, err = watch.communicate(timeout=10)
    name = victim.split("/", 1)[1]
    events = [ln.split()[:2] for ln in out.splitlines()[1:] if ln.strip()]
    mine = [ev for ev, pod in events if pod == name]
    assert mine[0] == "ADDED" and mine[-1] == "DELETED", out + err
    assert "Terminating" in out
    # The ReplicaSet's replacement shows up in the same watch.
    assert any(ev == "ADDED" and pod != name for ev, pod in events), out


# -- writing ---------------------------------------------------------------------------------


def test_apply_client_side(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "apply"
    path = tmp_path / "apply.yaml"
    path.write_text(manifest(ns, replicas=1))
    assert "deployment.apps/web created" in kubectl("apply", "-f", str(path))
    path.write_text(manifest(ns, replicas=2))
    assert "deployment.apps/web configured" in kubectl("apply", "-f", str(path))
    assert "deployment.apps/web unchanged" in kubectl("apply", "-f", str(path))
    d = kubectl.json("get", "deployment", "web", "-n", ns)
    assert d["spec"]["replicas"] == 2
    last = json.loads(d["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 2
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")


def test_apply_server_side(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "apply-ss"
    path = tmp_path / "ssa.yaml"
    path.write_text(manifest(ns, replicas=1))
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(path))
    d = kubectl.json("get", "deployment", "web", "-n", ns, "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in d["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers, managers


def test_scale(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "scale"
    deploy(kubectl, tmp_path, ns, replicas=1)
    assert "scaled" in kubectl("scale", "deployment", "web", "-n", ns, "--replicas=3")
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    assert kubectl("get", "deployment", "web", "-n", ns,
                   "-o", "jsonpath={.status.readyReplicas}") == "3"
    scale = json.loads(kubectl("get", "--raw",
                               f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale"))
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3


def test_set_image_history_and_undo(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "undo"
    deploy(kubectl, tmp_path, ns)
    image = "jsonpath={.spec.template.spec.containers[0].image}"
    assert "image updated" in kubectl("set", "image", "deployment/web", "app=nginx:1.28",
                                      "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    history = kubectl("rollout", "history", "deployment/web", "-n", ns)
    assert [ln.split()[0] for ln in history.splitlines() if ln[:1].isdigit()] == ["1", "2"]
    rs = kubectl.json("get", "rs", "-n", ns)["items"]
    assert sorted(r["spec"]["replicas"] for r in rs) == [0, 2]
    assert "rolled back" in kubectl("rollout", "undo", "deployment/web", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    assert kubectl("get", "deployment", "web", "-n", ns, "-o", image) == "nginx:1.27"
    # Undo re-uses revision 1's ReplicaSet (it becomes revision 3): still two sets.
    rs = kubectl.json("get", "rs", "-n", ns)["items"]
    revisions = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                       for r in rs)
    assert len(rs) == 2 and revisions == ["2", "3"]


def test_rollout_restart(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "restart"
    deploy(kubectl, tmp_path, ns)
    before = set(kubectl("get", "pods", "-n", ns, "-o", "name").split())
    assert "restarted" in kubectl("rollout", "restart", "deployment/web", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    d = kubectl.json("get", "deployment", "web", "-n", ns)
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"][
        "annotations"]
    deadline = time.monotonic() + 60
    while True:  # rollout status returns once new pods are available; old ones drain
        after = set(kubectl("get", "pods", "-n", ns, "-o", "name").split())
        if len(after) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(after) == 2 and not before & after


def test_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "delete"
    path = deploy(kubectl, tmp_path, ns, replicas=1)
    [pod] = kubectl("get", "pods", "-n", ns, "-o", "name").split()
    assert "deleted" in kubectl("delete", pod, "-n", ns, "--timeout=60s")
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    [replacement] = kubectl("get", "pods", "-n", ns, "-o", "name").split()
    assert replacement != pod
    workload = tmp_path / "workload.yaml"  # the manifest without its Namespace
    workload.write_text(yaml.safe_dump_all(list(yaml.safe_load_all(path.read_text()))[1:]))
    out = kubectl("delete", "-f", str(workload), "--timeout=60s")
    assert 'deployment.apps "web" deleted' in out and 'service "web" deleted' in out
    missing = kubectl.run("get", "deployment", "web", "-n", ns, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_describe_shows_controller_events(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = "describe"
    deploy(kubectl, tmp_path, ns, replicas=1)
    kubectl("scale", "deployment", "web", "-n", ns, "--replicas=2")
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")
    out = kubectl("describe", "deployment", "web", "-n", ns)
    assert "ScalingReplicaSet" in out and "deployment-controller" in out
    assert "<invalid>" not in out  # ages: the demo's clock is the wall clock at speed 1
    events = kubectl("events", "-n", ns)
    assert "SuccessfulCreate" in events and "Scheduled" in events


def test_delete_f_with_its_namespace_first(kubectl: Kubectl, tmp_path: Path) -> None:
    """The Namespace stays Terminating while the namespace controller deletes its content
    (pods gracefully), so the DELETEs of the documents after it still find theirs."""
    path = deploy(kubectl, tmp_path, "delete-ns", replicas=1)
    out = kubectl("delete", "-f", str(path), "--timeout=60s")
    assert 'namespace "delete-ns" deleted' in out and 'deployment.apps "web" deleted' in out
    missing = kubectl.run("get", "namespace", "delete-ns", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_imperative_create_sends_protobuf(kubectl: Kubectl) -> None:
    """kubectl's generator commands send protobuf bodies (client-go's typed clients)."""
    ns = "imperative"
    assert kubectl("create", "namespace", ns).strip() == f"namespace/{ns} created"
    kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2",
            "--port=80", "-n", ns)
    kubectl("create", "deployment", "idle", "--image=nginx:1.27", "--replicas=0", "-n", ns)
    kubectl("create", "service", "clusterip", "web-svc", "--tcp=80:8080", "-n", ns)
    kubectl("create", "configmap", "settings", "--from-literal=mode=teach", "-n", ns)
    kubectl("create", "secret", "generic", "creds", "--from-literal=pw=hunter2", "-n", ns)
    kubectl("create", "serviceaccount", "robot", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, f"--timeout={ROLLOUT}")

    web = kubectl.json("get", "deployment", "web", "-n", ns)
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.27")
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert web["status"]["readyReplicas"] == 2
    # --replicas=0 is a pointer set to zero: kept, not defaulted to 1.
    assert kubectl.json("get", "deployment", "idle", "-n", ns)["spec"]["replicas"] == 0
    svc = kubectl.json("get", "service", "web-svc", "-n", ns)
    assert svc["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP",
                                     "targetPort": 8080}]
    assert svc["spec"]["selector"] == {"app": "web-svc"}
    assert kubectl.json("get", "configmap", "settings", "-n", ns)["data"] == {"mode": "teach"}
    secret = kubectl.json("get", "secret", "creds", "-n", ns)
    assert secret["data"] == {"pw": "aHVudGVyMg=="} and secret["type"] == "Opaque"
    assert kubectl("get", "serviceaccount", "robot", "-n", ns, "-o", "name").strip() == (
        "serviceaccount/robot")
    kubectl("delete", "namespace", ns, "--wait=false")


def test_explain_reads_the_kubernetes_schemas(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in out and "Defaults to 1." in out
    out = kubectl("explain", "endpointslice.endpoints.conditions")
    assert "GROUP:      discovery.k8s.io" in out
    for field in ("ready\t<boolean>", "serving\t<boolean>", "terminating\t<boolean>"):
        assert field in out
    out = kubectl("explain", "pods.spec.containers.lifecycle.preStop", "--recursive")
    assert "sleep\t<SleepAction>" in out and "exec\t<ExecAction>" in out
