"""Controller expectations: don't act on a cache that hasn't seen our own writes yet.

An informer learns about a pod we created only when its watch event arrives. A sync that
runs in between would see the node "without a pod" and create a second one. Like
client-go's ControllerExpectations, a controller records how many creations and
deletions it is waiting to observe per key, and skips the work (only recomputing status)
until the informer has seen them, or until they expire (a lost watch event must not wedge
the controller forever).
"""

from __future__ import annotations

from dataclasses import dataclass

from kwatch.demo.clock import Clock

# client-go's ExpectationsTimeout: 5 minutes.
EXPECTATIONS_TIMEOUT = 300.0


@dataclass(slots=True)
class _Expectation:
    adds: int
    dels: int
    since: float


class Expectations:
    def __init__(self, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._by_key: dict[str, _Expectation] = {}

    def expect(self, key: str, *, adds: int = 0, dels: int = 0) -> None:
        """Record the writes about to be made (replaces earlier expectations)."""
        self._by_key[key] = _Expectation(adds, dels, self.clock.now())

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.dels -= 1

    def lower(self, key: str, *, adds: int = 0, dels: int = 0) -> None:
        """A write failed: it will never be observed."""
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds -= adds
            exp.dels -= dels

    def satisfied(self, key: str) -> bool:
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if exp.adds <= 0 and exp.dels <= 0:
            return True
        return self.clock.now() - exp.since > self.timeout

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
