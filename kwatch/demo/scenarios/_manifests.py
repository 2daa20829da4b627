"""The objects the scenarios create, as a user would write them in YAML.

The simulated app's timing comes from kwatch.dev/* annotations on the pod template
(kwatch.demo.kubelet_spec): how long the app takes to listen after its container starts,
and to exit after SIGTERM. Everything else is plain Kubernetes.
"""

from __future__ import annotations

from typing import Any

from kwatch.core.events import JSON
from kwatch.demo.kubelet_spec import ANN_SHUTDOWN, ANN_STARTUP

APP_PORT = 8080
IMAGE = "nginx:1.27"
IMAGE_NEXT = "nginx:1.28"


def readiness_probe(period: int = 2) -> JSON:
    """An HTTP readinessProbe: the pod is Ready only once the app answers."""
    return {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": period,
            "failureThreshold": 3}


def prestop_sleep(seconds: int) -> JSON:
    """The classic preStop: keep serving while every proxy drops the endpoint."""
    return {"preStop": {"exec": {"command": ["/bin/sh", "-c", f"sleep {seconds}"]}}}


def container(*, image: str = IMAGE, probe: bool = True, prestop: int | None = None,
              resources: JSON | None = None, name: str = "app") -> JSON:
    c: JSON = {"name": name, "image": image,
               "ports": [{"name": "http", "containerPort": APP_PORT}]}
    if probe:
        c["readinessProbe"] = readiness_probe()
    if prestop is not None:
        c["lifecycle"] = prestop_sleep(prestop)
    if resources is not None:
        c["resources"] = resources
    return c


def pod_template(app: str, *, startup: float = 3, shutdown: float = 1, grace: int = 30,
                 extra_spec: JSON | None = None, **container_args: Any) -> JSON:
    return {
        "metadata": {
            "labels": {"app": app},
            "annotations": {ANN_STARTUP: f"{startup:g}", ANN_SHUTDOWN: f"{shutdown:g}"},
        },
        "spec": {"terminationGracePeriodSeconds": grace,
                 "containers": [container(**container_args)],
                 **(extra_spec or {})},
    }


def deployment(name: str, replicas: int, template: JSON, *,
               max_surge: int | str = "25%", max_unavailable: int | str = "25%") -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": template,
        },
    }


def service(name: str, *, headless: bool = False) -> JSON:
    spec: JSON = {"selector": {"app": name},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def statefulset(name: str, replicas: int, template: JSON) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


def daemonset(name: str, template: JSON, *, strategy: str, max_unavailable: int = 1) -> JSON:
    update: JSON = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"maxUnavailable": max_unavailable, "maxSurge": 0}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": update,
            "template": template,
        },
    }
