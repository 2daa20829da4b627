"""What the simulated kubelet reads from a pod: kwatch annotations, probes, hooks, resources.

Pure functions of the pod JSON, so the timing rules are testable without a server.

The simulated app's timings come from pod annotations (a per-container override
``<key>.<container name>`` wins over the pod-wide ``<key>``), in simulated seconds:

- ``kwatch.dev/startup-seconds`` (default 3): from container start until the app listens;
- ``kwatch.dev/shutdown-seconds`` (default 1): from SIGTERM until the app exits;
- ``kwatch.dev/crash-after-seconds`` (default: never): the app exits with code 1 this long
  after each start;
- ``kwatch.dev/init-seconds`` (default 1): how long a (non-sidecar) init container runs;
- ``kwatch.dev/pull-seconds`` (default 0: the image is already on the node): image pull
  time before the first start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kwatch.core.events import JSON

ANN_STARTUP = "kwatch.dev/startup-seconds"
ANN_SHUTDOWN = "kwatch.dev/shutdown-seconds"
ANN_CRASH = "kwatch.dev/crash-after-seconds"
ANN_INIT = "kwatch.dev/init-seconds"
ANN_PULL = "kwatch.dev/pull-seconds"

DEFAULT_STARTUP = 3.0
DEFAULT_SHUTDOWN = 1.0
DEFAULT_INIT = 1.0
DEFAULT_GRACE = 30.0

# Simulated runtime latencies (seconds): sandbox + network setup, container create/start.
SANDBOX_SECONDS = 1.0
CREATE_SECONDS = 0.5
# The kubelet always leaves a container this long between SIGTERM and SIGKILL, even when
# preStop used up the grace period (minimumGracePeriodInSeconds in kuberuntime).
MIN_SHUTDOWN_GRACE = 2.0

ProbeKind = Literal["readiness", "liveness", "startup"]


def _annotation(pod: JSON, key: str, container: str | None) -> str | None:
    anns: Mapping[str, Any] = pod.get("metadata", {}).get("annotations") or {}
    if container is not None and f"{key}.{container}" in anns:
        return str(anns[f"{key}.{container}"])
    value = anns.get(key)
    return None if value is None else str(value)


def annotation_seconds(
    pod: JSON, key: str, container: str | None = None, default: float | None = None
) -> float | None:
    """A non-negative duration annotation; a missing or malformed value means `default`."""
    raw = _annotation(pod, key, container)
    if raw is None:
        return default
    try:
        value = float(raw.strip().removesuffix("s"))
    except ValueError:
        return default
    return value if value >= 0 else default


def grace_period(pod: JSON) -> float:
    """The grace period the deletion granted (the API server copies it into metadata)."""
    meta = pod.get("metadata", {})
    for raw in (meta.get("deletionGracePeriodSeconds"),
                pod.get("spec", {}).get("terminationGracePeriodSeconds")):
        if raw is not None:
            return max(0.0, float(raw))
    return DEFAULT_GRACE


def restart_policy(pod: JSON) -> str:
    return str(pod.get("spec", {}).get("restartPolicy") or "Always")


def is_sidecar(container: JSON) -> bool:
    """A native sidecar: an init container with restartPolicy Always (k8s 1.29+)."""
    return container.get("restartPolicy") == "Always"


# -- lifecycle hooks -----------------------------------------------------------------------

_SLEEP_RE = re.compile(r"(?:^|[\s;&|(/])sleep\s+(\d+(?:\.\d+)?)s?(?=$|[\s;&|)])")


def prestop_seconds(container: JSON) -> float | None:
    """How long the container's preStop hook takes, None without a hook.

    The native ``sleep`` action and exec hooks that sleep (``["sleep", "30"]``,
    ``["/bin/sh", "-c", "sleep 30"]``, also ``... && sleep 5``) take their sleep; other
    exec, httpGet and tcpSocket hooks are treated as instantaneous.
    """
    hook = (container.get("lifecycle") or {}).get("preStop")
    if not hook:
        return None
    if "sleep" in hook:
        return max(0.0, float((hook.get("sleep") or {}).get("seconds") or 0))
    command = (hook.get("exec") or {}).get("command") or []
    script = " ".join(str(w) for w in command)
    return float(sum(float(m) for m in _SLEEP_RE.findall(script)))


# -- probes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    kind: ProbeKind
    initial_delay: float
    period: float
    success_threshold: int
    failure_threshold: int
    handler: JSON
    ports: tuple[tuple[str, int], ...] = ()  # the container's named ports

    def failure(self, pod_ip: str) -> str:
        """The Unhealthy Event note the real prober writes for a refused connection."""
        what = f"{self.kind.capitalize()} probe failed: "
        if "httpGet" in self.handler:
            h = self.handler["httpGet"]
            host = h.get("host") or pod_ip
            port = self._port(h.get("port"))
            scheme = str(h.get("scheme") or "HTTP").lower()
            path = h.get("path") or "/"
            return (f'{what}Get "{scheme}://{host}:{port}{path}": dial tcp {host}:{port}: '
                    "connect: connection refused")
        if "tcpSocket" in self.handler:
            h = self.handler["tcpSocket"]
            host = h.get("host") or pod_ip
            return f"{what}dial tcp {host}:{self._port(h.get('port'))}: connect: connection refused"
        if "grpc" in self.handler:
            port = self._port(self.handler["grpc"].get("port"))
            return f'{what}timeout: failed to connect service "{pod_ip}:{port}" within 1s'
        command = " ".join(str(w) for w in (self.handler.get("exec") or {}).get("command") or [])
        return f"{what}command {command!r} exited with 1"

    def _port(self, port: Any) -> str:
        if isinstance(port, str) and not port.isdigit():
            return str(dict(self.ports).get(port, port))
        return str(port)


def probe_spec(container: JSON, kind: ProbeKind) -> ProbeSpec | None:
    """The container's probe of `kind` with the API defaults filled in, or None."""
    raw = container.get(f"{kind}Probe")
    if not raw:
        return None
    handler = {k: v for k, v in raw.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}
    ports = tuple(
        (str(p["name"]), int(p.get("containerPort", 0)))
        for p in container.get("ports") or [] if p.get("name")
    )
    return ProbeSpec(
        kind=kind,
        initial_delay=float(raw.get("initialDelaySeconds") or 0),
        period=float(raw.get("periodSeconds") or 10),
        success_threshold=int(raw.get("successThreshold") or 1),
        failure_threshold=int(raw.get("failureThreshold") or 3),
        handler=handler,
        ports=ports,
    )


# -- resources -----------------------------------------------------------------------------

_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "P": 1e15, "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
    "Pi": 2.0**50, "Ei": 2.0**60,
}
_QUANTITY_RE = re.compile(r"^([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)(?:([eE][+-]?\d+)|([a-zA-Z]{0,2}))$")


def parse_quantity(text: Any) -> float:
    """A resource.Quantity ("100m", "1.5Gi", "2e3") as a float; ValueError if malformed."""
    m = _QUANTITY_RE.match(str(text).strip())
    if not m or (m.group(3) or "") not in _SUFFIX:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number = float(m.group(1))
    if m.group(2):
        return number * 10.0 ** int(m.group(2)[1:])
    return number * _SUFFIX[m.group(3) or ""]


def container_resources(container: JSON) -> JSON:
    """The container's requests/limits (only the non-empty parts)."""
    res = container.get("resources") or {}
    return {k: dict(res[k]) for k in ("requests", "limits") if res.get(k)}


def infeasible_resources(resources: JSON, allocatable: Mapping[str, Any]) -> list[str]:
    """Resources whose request alone exceeds the node's allocatable amount."""
    out: list[str] = []
    for name, value in (resources.get("requests") or {}).items():
        if name not in allocatable:
            continue
        try:
            if parse_quantity(value) > parse_quantity(allocatable[name]):
                out.append(str(name))
        except ValueError:
            continue
    return out


def resize_needs_restart(container: JSON, old: JSON, new: JSON) -> bool:
    """True when a changed resource's resizePolicy is RestartContainer."""
    policies = {
        str(p.get("resourceName")): str(p.get("restartPolicy"))
        for p in container.get("resizePolicy") or []
    }
    changed = set()
    for part in ("requests", "limits"):
        a, b = old.get(part) or {}, new.get(part) or {}
        changed |= {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    return any(policies.get(r) == "RestartContainer" for r in changed)
