"""Exponential backoff with jitter, as client-go's reflector uses between failures.

``Backoff`` is an immutable policy (safe to share between reflectors and to pass as a
default argument); each reflector asks it for its own ``BackoffTimer``, which holds the
mutable state (how many failures in a row, when the last one happened).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.8
    factor: float = 2.0
    maximum: float = 30.0
    # Each delay is scaled by a random factor in [1 - jitter, 1 + jitter] so reflectors
    # that failed together (apiserver restart) do not reconnect in lockstep.
    jitter: float = 0.2
    # A failure this long after the previous retry starts again from `initial`: the
    # connection was healthy in between, so the earlier failures are no evidence now.
    reset_after: float = 60.0

    def timer(
        self,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> BackoffTimer:
        return BackoffTimer(self, clock, rng)


@dataclass(slots=True)
class BackoffTimer:
    policy: Backoff
    clock: Callable[[], float]
    rng: Callable[[], float]
    failures: int = 0
    # When the last delay ended: the healthy period is measured from the retry, not from
    # the failure, so a long delay is not mistaken for a healthy period.
    _retry_at: float | None = field(default=None, repr=False)

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        p = self.policy
        now = self.clock()
        if self._retry_at is not None and now - self._retry_at >= p.reset_after:
            self.failures = 0
        # Cap the exponent, not just the result: factor ** 2000 overflows a float.
        base = min(p.initial * p.factor ** min(self.failures, 64), p.maximum)
        self.failures += 1
        scale = 1.0 + p.jitter * (2.0 * self.rng() - 1.0)
        delay = max(0.0, base * scale)
        self._retry_at = now + delay
        return delay

    def reset(self) -> None:
        """Forget past failures (e.g. after a successful list)."""
        self.failures = 0
        self._retry_at = None
