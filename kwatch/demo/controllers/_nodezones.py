"""Failure zones and eviction rate limits of the node lifecycle controller.

Nodes are grouped into zones (region + zone labels). How many of a zone's nodes are
NotReady decides how fast the controller may taint nodes for eviction: normally 0.1
node/s; not at all in a small zone that looks partitioned (>= 55% NotReady, more than 2
nodes); and not at all anywhere when every zone is down — then the controller suspects
its own network and does nothing drastic.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from kwatch.demo.clock import Clock
from kwatch.demo.controllers._objects import meta

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


class ZoneState(Enum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def zone_key(node: Mapping[str, Any]) -> str:
    labels = meta(node).get("labels") or {}
    region, zone = labels.get(REGION_LABEL, ""), labels.get(ZONE_LABEL, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


class TokenBucket:
    """flowcontrol's token bucket (burst 1): TryAccept never waits."""

    def __init__(self, clock: Clock, qps: float) -> None:
        self.clock = clock
        self.qps = qps
        self.tokens = 1.0
        self.last = clock.now()

    def swap(self, qps: float) -> None:
        self._refill()
        self.qps = qps

    def _refill(self) -> None:
        now = self.clock.now()
        self.tokens = min(1.0, self.tokens + (now - self.last) * self.qps)
        self.last = now

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float | None:
        """Seconds until the next token (None: never)."""
        if self.qps <= 0:
            return None
        self._refill()
        return max(0.0, (1.0 - self.tokens) / self.qps)


def zone_state(ready_statuses: list[str], unhealthy_threshold: float) -> ZoneState:
    """ComputeZoneState from the Ready status of each node in the zone."""
    ready = sum(1 for s in ready_statuses if s == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / len(ready_statuses) >= unhealthy_threshold:
        return ZoneState.PARTIAL_DISRUPTION
    return ZoneState.NORMAL
