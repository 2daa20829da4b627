"""An SVG picture of the replay TUI at a moment (Textual's screenshot export).

The app runs headless (`App.run_test`) at a fixed terminal size, paused at the target
moment, and Textual renders the screen to SVG: the same picture a user of
`kwatch replay FILE --paused --start T` would see.
"""

from __future__ import annotations

import asyncio

from kwatch.replay.controller import ReplayController
from kwatch.replay.timespec import Target, format_offset
from kwatch.sources.replay import Recording

DEFAULT_SIZE = (160, 48)


async def screenshot_svg(
    recording: Recording, target: Target, size: tuple[int, int] = DEFAULT_SIZE
) -> str:
    from kwatch.ui.replay_app import ReplayApp  # the only export that needs Textual

    ctl = ReplayController(recording)
    ctl.seek_target(target)
    app = ReplayApp(ctl)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.rebuild_view()
        await pilot.pause()
        title = f"kwatch replay · {recording.name} · {format_offset(ctl.offset)}"
        return app.export_screenshot(title=title)


def render_svg(recording: Recording, target: Target, size: tuple[int, int] = DEFAULT_SIZE) -> str:
    return asyncio.run(screenshot_svg(recording, target, size))
