"""`kwatch export`: one recording in, one document out (md, html, svg, cast)."""

from __future__ import annotations

from kwatch.replay.export_cast import DEFAULT_SIZE as CAST_SIZE
from kwatch.replay.export_cast import render_cast
from kwatch.replay.export_html import render_html
from kwatch.replay.export_md import render_markdown
from kwatch.replay.export_svg import DEFAULT_SIZE as SVG_SIZE
from kwatch.replay.export_svg import render_svg
from kwatch.replay.timespec import Target
from kwatch.replay.transcript import transcript_at
from kwatch.sources.replay import Recording


def export(recording: Recording, fmt: str, at: Target, size: tuple[int, int] | None) -> bytes:
    if fmt == "svg":
        return render_svg(recording, at, size or SVG_SIZE).encode()
    transcript = transcript_at(recording, at)
    if fmt == "md":
        return render_markdown(transcript).encode()
    if fmt == "html":
        return render_html(transcript).encode()
    if fmt == "cast":
        return render_cast(transcript, size or CAST_SIZE).encode()
    raise ValueError(f"unknown export format {fmt!r}")
