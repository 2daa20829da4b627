"""The controller base: client-go work-queue semantics and the run/stop lifecycle."""

from __future__ import annotations

import asyncio

import pytest

from kwatch.demo.clock import Clock
from kwatch.demo.controllers.base import (
    CONTROLLERS,
    Controller,
    WorkQueue,
    register,
    split_key,
)


def test_split_key() -> None:
    assert split_key("default/web") == ("default", "web")
    assert split_key("node-1") == ("", "node-1")


async def test_queued_keys_are_deduplicated() -> None:
    q = WorkQueue(Clock(1.0))
    for key in ("a", "b", "a", "a", "b"):
        q.add(key)
    assert len(q) == 2
    assert [await q.get(), await q.get()] == ["a", "b"]


async def test_a_key_being_processed_is_requeued_after_done_not_handed_out_twice() -> None:
    q = WorkQueue(Clock(1.0))
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # an event arrives while a worker holds "a"
    q.add("a")
    assert len(q) == 0, "not available to a second worker meanwhile"
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_add_after_keeps_the_earliest_time_per_key() -> None:
    q = WorkQueue(Clock(100.0))
    q.add_after("a", 1000.0)  # 10 s wall
    q.add_after("a", 2.0)  # 20 ms wall: replaces the later one
    q.add_after("a", 500.0)  # later than the pending one: ignored
    key = await asyncio.wait_for(q.get(), 1.0)
    assert key == "a"
    q.done("a")
    await asyncio.sleep(0.1)
    assert len(q) == 0, "exactly one add happened"
    q.shutdown()


async def test_rate_limited_requeues_back_off_exponentially_until_forgotten() -> None:
    q = WorkQueue(Clock(1.0), base_delay=0.01, max_delay=0.04)
    delays = []
    for _ in range(5):
        q.add_rate_limited("a")
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(q.get(), 1.0) == "a"
        delays.append(asyncio.get_running_loop().time() - t0)
        q.done("a")
    assert q.num_requeues("a") == 5
    assert delays[0] < delays[2] and delays[-1] < 0.1  # 10, 20, 40, 40, 40 ms
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_wakes_waiting_workers() -> None:
    q = WorkQueue(Clock(1.0))
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    assert await asyncio.wait_for(getter, 1.0) is None
    q.add("late")
    assert len(q) == 0


class _Flaky(Controller):
    name = "flaky-controller-for-tests"

    def __init__(self) -> None:
        super().__init__(None, Clock(1000.0), recorder=_NullRecorder())  # type: ignore[arg-type]
        self.calls: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self.overlapped = False

    def setup(self) -> None:  # no informers: keys come from the test
        pass

    async def reconcile(self, key: str) -> None:
        self.calls[key] = self.calls.get(key, 0) + 1
        self.overlapped = self.overlapped or key in self.in_flight
        self.in_flight.add(key)
        try:
            await asyncio.sleep(0.01)
            if key == "fails" and self.calls[key] < 3:
                raise RuntimeError("transient")
        finally:
            self.in_flight.discard(key)


class _NullRecorder:
    def event(self, regarding: object, type_: str, reason: str, action: str, note: str,
              *, related: object = None) -> None:
        pass


async def test_run_retries_failures_and_never_runs_one_key_concurrently() -> None:
    ctl = _Flaky()
    runner = asyncio.create_task(ctl.run(workers=4))
    await asyncio.wait_for(ctl.synced.wait(), 1.0)
    for _ in range(5):
        ctl.enqueue("same")
        await asyncio.sleep(0.002)
    ctl.enqueue("fails")
    for _ in range(100):
        if ctl.calls.get("fails") == 3 and not ctl.in_flight:
            break
        await asyncio.sleep(0.01)
    assert ctl.calls["fails"] == 3, "retried until it succeeded"
    assert ctl.queue.num_requeues("fails") == 0, "success forgets the failures"
    assert 1 < ctl.calls["same"] <= 5, "events during a reconcile cause one more, not many"
    assert not ctl.overlapped, "4 workers, yet never two on one key"
    await ctl.stop()
    await asyncio.wait_for(runner, 1.0)


def test_register_needs_a_name_and_fills_the_registry() -> None:
    class Nameless(_Flaky):
        name = ""

    with pytest.raises(ValueError):
        register(Nameless)
    register(_Flaky)
    try:
        assert CONTROLLERS[_Flaky.name] is _Flaky
    finally:
        del CONTROLLERS[_Flaky.name]
