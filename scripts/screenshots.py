"""Regenerate screenshots/*.svg at 80x24 and 160x50.

    python scripts/screenshots.py            # fixture moments + demo recordings
    python scripts/screenshots.py --png      # also PNGs (needs rsvg-convert)

Two sources:

* the deterministic KEvent stories of tests/ui/fixtures.py (the snapshot tests' own),
  at their named moments, with the interesting object selected: `<story>-<moment>-*`;
* the demo cluster's scenarios as recorded in examples/*.jsonl.gz (one per scenario,
  made by scripts/make_examples.py), replayed to their end through the replay TUI's
  own screenshot export: `demo-<scenario>-*`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from ui.fixtures import SCENARIOS, app_at, select  # noqa: E402

SIZES = ((80, 24), (160, 50))
OUT = ROOT / "screenshots"


async def shoot(scenario_name: str, moment: str, size: tuple[int, int], out: Path) -> Path:
    scenario = SCENARIOS[scenario_name]()
    app = app_at(scenario, moment)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        uid = scenario.selected.get(moment)
        if uid:
            await select(pilot, uid)
        path = out / f"{scenario_name}-{moment}-{size[0]}x{size[1]}.svg"
        path.write_text(app.export_screenshot(title=f"kwatch — {scenario_name} ({moment})"))
    return path


async def shoot_recording(recording: Path, size: tuple[int, int], out: Path) -> Path:
    from kwatch.replay.export_svg import screenshot_svg
    from kwatch.replay.timespec import Target
    from kwatch.sources.replay import read_recording

    name = recording.name.removesuffix(".gz").removesuffix(".jsonl")
    path = out / f"demo-{name}-{size[0]}x{size[1]}.svg"
    path.write_text(await screenshot_svg(read_recording(recording), Target("end"), size))
    return path


async def shoot_all(out: Path) -> list[Path]:
    paths = []
    for name, build in SCENARIOS.items():
        for moment in build().moments:
            for size in SIZES:
                paths.append(await shoot(name, moment, size, out))
    for recording in sorted((ROOT / "examples").glob("*.jsonl.gz")):
        for size in SIZES:
            paths.append(await shoot_recording(recording, size, out))
    return paths


def to_png(converter: str, svg: Path) -> Path:
    """PNG via rsvg-convert. Rich's SVG relies on the viewer keeping leading spaces of
    each text run; rsvg drops them unless told to preserve whitespace, so convert a copy
    that says so (the SVG itself stays as Textual wrote it)."""
    png = svg.with_suffix(".png")
    text = svg.read_text().replace("<svg ", '<svg xml:space="preserve" ', 1)
    with tempfile.NamedTemporaryFile("w", suffix=".svg") as tmp:
        tmp.write(text)
        tmp.flush()
        subprocess.run([converter, tmp.name, "-o", str(png)], check=True)
    return png


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", action="store_true", help="also convert each SVG to PNG")
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    converter = shutil.which("rsvg-convert") if args.png else None
    if args.png and converter is None:
        print("rsvg-convert not found: writing SVGs only", file=sys.stderr)
    for svg in asyncio.run(shoot_all(args.out)):
        print(svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg)
        if converter is not None:
            to_png(converter, svg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
