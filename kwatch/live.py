"""A live session: connect → watch engine → pipeline (+ recorder) → headless printer or TUI."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from kwatch.cli import LiveOptions
from kwatch.core.events import EventSink, KEvent
from kwatch.core.pipeline import Pipeline
from kwatch.headless import StepPrinter, wait_until_stopped
from kwatch.sources.errors import KwatchError
from kwatch.sources.kube import WatchEngine
from kwatch.sources.kubeconfig import check_access, connect
from kwatch.sources.record import Recorder

SYNC_TIMEOUT = 30.0


def fan_out(sinks: Sequence[EventSink]) -> EventSink:
    def sink(batch: Sequence[KEvent]) -> None:
        for s in sinks:
            s(batch)

    return sink


def warn(message: str) -> None:
    print(f"kwatch: warning: {message}", file=sys.stderr)


async def run_live(opts: LiveOptions) -> int:
    conn = await connect(opts.kubeconfig, opts.context)
    recorder: Recorder | None = None
    engine: WatchEngine | None = None
    try:
        await check_access(conn)
        namespaces = opts.scope.namespaces
        if not opts.explicit_namespace:
            # kubectl's convention: the context's namespace, else "default".
            namespaces = [conn.namespace or "default"]
        start = time.time()
        pipeline = Pipeline(suppress_initial_list_steps=True)
        sinks: list[EventSink] = [pipeline]
        if opts.record:
            scope = {"namespaces": namespaces, "selector": opts.scope.label_selector}
            recorder = Recorder(opts.record, scope=scope, source="live", clock=start)
            sinks.insert(0, recorder)  # record first: nothing observed is lost if a view fails
        printer = StepPrinter(sys.stdout, opts.output, start)
        pipeline.on_steps(printer)
        engine = WatchEngine(
            conn, fan_out(sinks), namespaces=namespaces, label_selector=opts.scope.label_selector
        )
        await engine.start()
        await engine.wait_synced(SYNC_TIMEOUT)
        health = list(engine.health.values())
        unavailable = [h for h in health if h.state == "unavailable"]
        if health and len(unavailable) == len(health):
            raise KwatchError(f"cannot watch anything: {unavailable[0].reason}", 1)
        for h in unavailable:
            warn(f"{h.kind} unavailable: {h.reason}")
        if not opts.headless:
            warn("the TUI is not built yet; printing steps (as --headless)")
        await wait_until_stopped(opts.duration)
        return 0
    finally:
        if engine is not None:
            await engine.stop()
        if recorder is not None:
            recorder.close()
        await conn.close()
