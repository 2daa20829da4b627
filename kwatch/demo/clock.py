"""The demo's clock: simulated time running `speed` times faster than the wall clock.

Every demo component (API server timestamps, controllers, kubelets, traffic, scenario
scripts) reads and sleeps on one Clock, so "terminationGracePeriodSeconds: 30" means 30
simulated seconds at any speed. Against a real cluster use speed 1.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, speed: float = 1.0, *, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._wall0 = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed

    def __call__(self) -> float:
        return self.now()

    def rfc3339(self, t: float | None = None) -> str:
        """Kubernetes timestamp (second precision, 'Z'), as metav1.Time serialises."""
        ts = self.now() if t is None else t
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def rfc3339_micro(self, t: float | None = None) -> str:
        """metav1.MicroTime (Leases, events.k8s.io eventTime)."""
        ts = self.now() if t is None else t
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def wall_seconds(self, seconds: float) -> float:
        return seconds / self.speed


def parse_time(text: str | None) -> float | None:
    """Parse a Kubernetes RFC3339 timestamp into epoch seconds."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
