"""A live session: connect → watch engine → (recorder, pipeline) → headless printer or TUI."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from kwatch.cli import LiveOptions
from kwatch.core.events import EventSink, fan_out
from kwatch.core.pipeline import Pipeline
from kwatch.headless import StepPrinter, wait_until_stopped
from kwatch.session import Session
from kwatch.sources.actions import KubeActions
from kwatch.sources.errors import KwatchError
from kwatch.sources.kube import WatchEngine
from kwatch.sources.kubeconfig import Connection, check_access, connect
from kwatch.sources.record import Recorder

SYNC_TIMEOUT = 30.0


def warn(message: str) -> None:
    print(f"kwatch: warning: {message}", file=sys.stderr)


def describe_scope(namespaces: Sequence[str] | None, selector: str | None) -> str:
    ns = "all namespaces" if namespaces is None else ",".join(namespaces)
    return ns + (f" -l {selector}" if selector else "")


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
            recorder = Recorder(opts.record, scope=scope, source="live", clock=start, on_error=warn)
            # Record first: what was observed is on disk before any view can fail on it.
            sinks.insert(0, recorder)
        if opts.headless:
            pipeline.on_steps(StepPrinter(sys.stdout, opts.output, start))
        engine = WatchEngine(
            conn, fan_out(sinks), namespaces=namespaces, label_selector=opts.scope.label_selector
        )
        if not opts.headless:
            return await _run_tui(opts, conn, engine, pipeline, recorder, namespaces, start)
        await engine.start()
        await engine.wait_synced(SYNC_TIMEOUT)
        health = list(engine.health.values())
        unavailable = [h for h in health if h.state == "unavailable"]
        if health and len(unavailable) == len(health):
            raise KwatchError(f"cannot watch anything: {unavailable[0].reason}", 1)
        for h in unavailable:
            warn(f"{h.key} unavailable: {h.reason}")
        await wait_until_stopped(opts.duration)
        return 0
    finally:
        if engine is not None:
            await engine.stop()
        if recorder is not None:
            recorder.close()
        await conn.close()


async def _run_tui(
    opts: LiveOptions,
    conn: Connection,
    engine: WatchEngine,
    pipeline: Pipeline,
    recorder: Recorder | None,
    namespaces: Sequence[str] | None,
    start: float,
) -> int:
    from kwatch.ui.app import KwatchApp

    def add_note(text: str, bookmark: bool) -> None:
        if recorder is not None:
            recorder.note(text, bookmark=bookmark)

    session = Session(
        pipeline=pipeline,
        source="live",
        context=conn.context_name,
        scope=describe_scope(namespaces, opts.scope.label_selector),
        start=start,
        clock=time.time,
        read_only=opts.read_only,
        health=lambda: list(engine.health.values()),
        actions=KubeActions(conn),
        recording_path=opts.record,
        add_note=add_note if recorder is not None else None,
    )
    # The app subscribes to the pipeline when built: build it before the engine starts so
    # the very first steps (the Synced lines) reach the timeline.
    app = KwatchApp(session)
    await engine.start()
    await app.run_async()
    return app.return_code or 0
