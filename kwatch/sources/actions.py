"""Cluster writes a user explicitly asks for from the TUI (teaching actions).

kwatch is read-only toward the cluster unless the user confirms one of these. They go
through kubernetes_asyncio's typed APIs (same credentials as the watch) and behave like
the kubectl commands they mirror.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from kwatch.sources.errors import KwatchError
from kwatch.sources.kubeconfig import Connection, status_message

_SCALABLE = {"Deployment", "ReplicaSet", "StatefulSet"}
_RESTARTABLE = {"Deployment", "StatefulSet", "DaemonSet"}


def _fail(what: str, e: ApiException) -> KwatchError:
    body = e.body if isinstance(e.body, bytes | str) else b""
    reason = status_message(body.encode() if isinstance(body, str) else body) or str(e.reason)
    return KwatchError(f"{what} failed: {reason}", 1)


class KubeActions:
    """`kwatch.session.ClusterActions` over a live connection."""

    def __init__(self, conn: Connection) -> None:
        self.core = k8s.CoreV1Api(conn.api_client)
        self.apps = k8s.AppsV1Api(conn.api_client)

    async def delete_pod(self, namespace: str, name: str) -> None:
        try:
            # Default grace period, like `kubectl delete pod`: the lesson is graceful shutdown.
            await self.core.delete_namespaced_pod(name, namespace)
        except ApiException as e:
            raise _fail(f"delete pod {namespace}/{name}", e) from None

    async def scale(self, kind: str, namespace: str, name: str, replicas: int) -> None:
        if kind not in _SCALABLE:
            raise KwatchError(f"cannot scale a {kind}", 1)
        if replicas < 0:
            raise KwatchError("replicas must be 0 or more", 1)
        body = {"spec": {"replicas": replicas}}
        method = {
            "Deployment": self.apps.patch_namespaced_deployment_scale,
            "ReplicaSet": self.apps.patch_namespaced_replica_set_scale,
            "StatefulSet": self.apps.patch_namespaced_stateful_set_scale,
        }[kind]
        try:
            await method(name, namespace, body)
        except ApiException as e:
            raise _fail(f"scale {kind} {namespace}/{name}", e) from None

    async def rollout_restart(self, kind: str, namespace: str, name: str) -> None:
        if kind not in _RESTARTABLE:
            raise KwatchError(f"cannot restart a {kind}", 1)
        # What `kubectl rollout restart` does: a template annotation → a new template hash.
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}
                }
            }
        }
        await self._patch_workload(kind, namespace, name, body, "rollout restart")

    async def set_image(
        self, kind: str, namespace: str, name: str, container: str, image: str
    ) -> None:
        if kind not in _RESTARTABLE:
            raise KwatchError(f"cannot set the image of a {kind}", 1)
        containers = [{"name": container, "image": image}]
        body = {"spec": {"template": {"spec": {"containers": containers}}}}
        await self._patch_workload(kind, namespace, name, body, "set image")

    async def _patch_workload(
        self, kind: str, namespace: str, name: str, body: dict[str, Any], what: str
    ) -> None:
        method = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "StatefulSet": self.apps.patch_namespaced_stateful_set,
            "DaemonSet": self.apps.patch_namespaced_daemon_set,
        }[kind]
        try:
            # A dict body goes out as a strategic merge patch: containers merge by name.
            await method(name, namespace, body)
        except ApiException as e:
            raise _fail(f"{what} {kind} {namespace}/{name}", e) from None
