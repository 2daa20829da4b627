"""Backoff: exponential growth, cap, jitter bounds, reset after a healthy period."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kwatch.sources.backoff import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_doubles_from_initial_up_to_the_cap_without_jitter() -> None:
    clock = FakeClock()
    timer = Backoff(initial=0.8, factor=2.0, maximum=30.0, jitter=0.0).timer(clock)
    delays = [timer.next_delay() for _ in range(8)]
    assert delays == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_resets_after_a_healthy_period_measured_from_the_retry() -> None:
    clock = FakeClock()
    timer = Backoff(initial=1.0, jitter=0.0, reset_after=60.0).timer(clock)
    assert [timer.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    # The last retry happened at now + 4 s; 59 s later is not yet a healthy minute.
    clock.now += 4.0 + 59.0
    assert timer.next_delay() == 8.0
    clock.now += 8.0 + 60.0
    assert timer.next_delay() == 1.0


def test_explicit_reset() -> None:
    timer = Backoff(initial=0.5, jitter=0.0).timer(FakeClock())
    timer.next_delay()
    timer.next_delay()
    timer.reset()
    assert timer.next_delay() == 0.5


def test_many_failures_do_not_overflow() -> None:
    timer = Backoff(initial=0.8, maximum=30.0, jitter=0.0).timer(FakeClock())
    for _ in range(5000):
        delay = timer.next_delay()
    assert delay == 30.0


@given(
    rnd=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    failures=st.integers(min_value=0, max_value=40),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_jitter_stays_within_its_band(rnd: float, failures: int, jitter: float) -> None:
    policy = Backoff(initial=0.8, maximum=30.0, jitter=jitter)
    timer = policy.timer(FakeClock(), rng=lambda: rnd)
    for _ in range(failures):
        timer.next_delay()
    base = min(0.8 * 2.0**failures, 30.0)
    delay = timer.next_delay()
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


def test_jitter_spreads_reflectors_that_fail_together() -> None:
    policy = Backoff(initial=1.0, jitter=0.2)
    first = {round(policy.timer(FakeClock()).next_delay(), 6) for _ in range(50)}
    assert len(first) > 40
    assert all(0.8 <= d <= 1.2 for d in first)
