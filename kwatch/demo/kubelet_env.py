"""What one simulated node's pod workers share: API access, clock, Events, liveness, IPs."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

from kwatch.core.events import JSON
from kwatch.demo.client import KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.events import EventRecorder
from kwatch.demo.nodeinfo import KUBELET_VERSION

KUBELET_USER_AGENT = f"kubelet/{KUBELET_VERSION} (linux/amd64) kubernetes/kwatch"


def pod_cidr_for(index: int) -> str:
    """The /24 of node `index` inside 10.244.0.0/14 (flannel's and kind's default)."""
    if not 0 <= index < 1024:
        raise ValueError("pod_cidr_index must be in [0, 1024)")
    return f"10.{244 + index // 256}.{index % 256}.0/24"


def node_ip_for(index: int) -> str:
    """Node `index`'s InternalIP on the simulated node network 172.18.0.0/16 (kind's)."""
    return f"172.18.{index // 250}.{index % 250 + 2}"


class PodIPs:
    """host-local IPAM over the node's podCIDR: hands out addresses round-robin.

    Round-robin (like the real host-local plugin) means a freed IP is not reused at
    once, so a proxy with a stale endpoint reaches nothing rather than a new pod.
    """

    def __init__(self, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr)
        self.cidr = str(net)
        # .0 is the network, .1 the bridge/gateway, the last one broadcast.
        self._hosts = [str(ip) for ip in list(net.hosts())[1:]]
        self._used: set[str] = set()
        self._next = 0

    def allocate(self) -> str:
        for _ in range(len(self._hosts)):
            ip = self._hosts[self._next]
            self._next = (self._next + 1) % len(self._hosts)
            if ip not in self._used:
                self._used.add(ip)
                return ip
        raise RuntimeError(f"no free pod IPs left in {self.cidr}")

    def release(self, ip: str | None) -> None:
        if ip:
            self._used.discard(ip)


@dataclass
class KubeletEnv:
    client: KubeClient  # writes as kubelet/... (managedFields manager "kubelet")
    clock: Clock
    node_name: str
    host_ip: str
    recorder: EventRecorder
    ips: PodIPs
    allocatable: dict[str, str]
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    # Cleared while the node is "dead": no API writes, no Events, no reactions.
    alive: asyncio.Event = field(default_factory=asyncio.Event)

    async def gate(self) -> None:
        """Block while the node is dead (its kubelet cannot reach the API server)."""
        await self.alive.wait()

    def event(self, regarding: JSON, type_: str, reason: str, action: str, note: str) -> None:
        # A dead kubelet's Events never reach the API server.
        if self.alive.is_set():
            self.recorder.event(regarding, type_, reason, action, note)
