"""Expectations that remember *which* pods a controller deleted (UIDTrackingExpectations).

A pod being deleted is seen twice: first its deletionTimestamp is set, later it is gone.
Counting "one deletion observed" per event would count it twice and let the controller
delete again too early; tracking the keys it asked to delete makes each count once, and
ignores deletions the controller did not ask for (a user's `kubectl delete pod`).
"""

from __future__ import annotations

from collections.abc import Iterable

from kwatch.demo.clock import Clock
from kwatch.demo.controllers._expectations import Expectations


class PodExpectations:
    def __init__(self, clock: Clock) -> None:
        self._counts = Expectations(clock)
        self._deleting: dict[str, set[str]] = {}

    def expect_creations(self, key: str, count: int) -> None:
        self._deleting.pop(key, None)
        self._counts.expect(key, adds=count)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        pods = set(pod_keys)
        self._deleting[key] = pods
        self._counts.expect(key, dels=len(pods))

    def creation_observed(self, key: str) -> None:
        self._counts.creation_observed(key)

    def creations_failed(self, key: str, count: int) -> None:
        """Creates that were never made (failed or skipped) will never be observed."""
        self._counts.lower(key, adds=count)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        pods = self._deleting.get(key)
        if pods is not None and pod_key in pods:
            pods.discard(pod_key)
            self._counts.deletion_observed(key)

    def satisfied(self, key: str) -> bool:
        return self._counts.satisfied(key)

    def forget(self, key: str) -> None:
        self._deleting.pop(key, None)
        self._counts.forget(key)
