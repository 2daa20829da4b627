"""Smoke tests: the real control plane starts, its controllers work, RBAC holds."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

from kwatch.testing.controlplane import (
    PINNED_ETCD_VERSION,
    PINNED_K8S_VERSION,
    Binaries,
    ControlPlane,
)
from kwatch.testing.fakenodes import FakeNodesThread

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


async def _api(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


@pytest.fixture
async def admin(controlplane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    api = await _api(controlplane.admin_kubeconfig_path)
    async with api:
        yield api


@pytest.fixture
async def readonly(controlplane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    api = await _api(controlplane.readonly_kubeconfig_path)
    async with api:
        yield api


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0
) -> T:
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.25)


def test_script_and_launcher_pin_the_same_versions() -> None:
    script = (REPO / "scripts" / "build-controlplane.sh").read_text()
    assert re.search(r"KWATCH_K8S_VERSION:-" + re.escape(PINNED_K8S_VERSION) + r"\}", script)
    assert re.search(r"KWATCH_ETCD_VERSION:-" + re.escape(PINNED_ETCD_VERSION) + r"\}", script)


async def test_version_matches_pin(
    controlplane: ControlPlane, controlplane_binaries: Binaries, admin: client.ApiClient
) -> None:
    info = await client.VersionApi(admin).get_code()
    if os.environ.get("KUBEBUILDER_ASSETS"):
        assert info.git_version.startswith("v1.")  # user-provided binaries, any version
    else:
        assert info.git_version == PINNED_K8S_VERSION
    assert controlplane.startup_seconds is not None
    assert controlplane.bin_dir == controlplane_binaries.bin_dir


async def test_deployment_reconciled_and_pods_scheduled(
    controlplane: ControlPlane, fake_nodes: FakeNodesThread, admin: client.ApiClient
) -> None:
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    ns = f"smoke-{uuid.uuid4().hex[:6]}"
    await core.create_namespace(_body({"metadata": {"name": ns}}))
    # Pods are rejected until the namespace's default ServiceAccount exists.
    await eventually(
        lambda: _exists(core.read_namespaced_service_account("default", ns)), "default SA"
    )
    labels = {"app": "web"}
    await apps.create_namespaced_deployment(
        ns,
        _body(
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]
                        },
                    },
                },
            }
        ),
    )

    async def replicasets() -> list[Any] | None:
        rs = (await apps.list_namespaced_replica_set(ns)).items
        return [r for r in rs if r.metadata.owner_references] or None

    rs = await eventually(replicasets, "a ReplicaSet owned by the Deployment")
    assert rs[0].metadata.owner_references[0].kind == "Deployment"
    assert "pod-template-hash" in rs[0].metadata.labels

    async def scheduled_pods() -> list[Any] | None:
        pods = (await core.list_namespaced_pod(ns, label_selector="app=web")).items
        if len(pods) == 3 and all(p.spec.node_name for p in pods):
            return pods
        return None

    pods = await eventually(scheduled_pods, "3 pods bound to fake nodes", within=90)
    assert {p.metadata.owner_references[0].kind for p in pods} == {"ReplicaSet"}
    assert {p.spec.node_name for p in pods} <= set(fake_nodes.nodes.names)
    await core.delete_namespace(ns)


async def test_leader_leases(controlplane: ControlPlane, admin: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(admin)

    async def holder(name: str) -> str | None:
        try:
            lease = await coord.read_namespaced_lease(name, "kube-system")
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        identity: str | None = lease.spec.holder_identity
        return identity

    kcm = await eventually(lambda: holder("kube-controller-manager"), "kcm leader lease")
    sched = await eventually(lambda: holder("kube-scheduler"), "scheduler leader lease")
    assert kcm and sched


async def test_readonly_identity_can_list_not_create(
    controlplane: ControlPlane, readonly: client.ApiClient
) -> None:
    core = client.CoreV1Api(readonly)
    pods = await core.list_pod_for_all_namespaces()
    assert pods.items is not None
    await client.CoordinationV1Api(readonly).list_lease_for_all_namespaces()
    await client.DiscoveryV1Api(readonly).list_endpoint_slice_for_all_namespaces()
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_pod(
            "default",
            _body(
                {
                    "metadata": {"name": "nope"},
                    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
                }
            ),
        )
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_secret("default")
    assert err.value.status == 403


async def test_kubeconfig_for_custom_user(controlplane: ControlPlane) -> None:
    path = controlplane.kubeconfig_for("alice", ["devs"])
    assert path.exists() and path == controlplane.kubeconfig_for("alice", ["devs"])
    async with await _api(path) as alice:
        review = await client.AuthenticationV1Api(alice).create_self_subject_review(
            _body({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        )
    assert review.status.user_info.username == "alice"
    assert "devs" in review.status.user_info.groups
    # docs/rbac.yaml was applied at start: the readonly user may watch deployments.
    status, sar = controlplane.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "kwatch-readonly",
                "resourceAttributes": {"verb": "watch", "group": "apps", "resource": "deployments"},
            },
        },
    )
    assert status == 201 and sar["status"]["allowed"] is True


def test_stop_leaves_no_processes(controlplane_binaries: Binaries) -> None:
    cp = ControlPlane(controlplane_binaries, rbac_manifest=None)
    with cp:
        pids = cp.pids()
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
        workdir = cp.workdir
    for pid in pids.values():
        assert not _pid_alive(pid), f"pid {pid} survived stop()"
    assert not workdir.exists()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie we have already reaped cannot be here; check /proc state for others.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _body(obj: dict[str, Any]) -> Any:
    """kubernetes_asyncio serializes plain dicts as they are; its stubs want models."""
    return obj


async def _exists(coro: Awaitable[Any]) -> bool:
    try:
        await coro
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True
