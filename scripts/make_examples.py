"""Regenerate examples/: one recording per demo scenario, plus the steps it printed.

    python scripts/make_examples.py                 # every scenario
    python scripts/make_examples.py rolling-update  # just these
    python scripts/make_examples.py --wait 600      # wait for the scenarios to exist

For each scenario this runs, exactly as a user would,

    python -m kwatch demo SCENARIO --headless --output jsonl --record examples/SCENARIO.jsonl.gz

and keeps the controller-step lines the demo printed live in
examples/SCENARIO.steps.jsonl. The tests replay every recording headless and compare
with those lines (tests/replay/test_examples.py): replay must print what live printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def kwatch(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kwatch", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def scenarios(wait: float) -> list[str]:
    """Names from `kwatch demo --list`, polling until it works or `wait` runs out."""
    deadline = time.monotonic() + wait
    while True:
        result = kwatch("demo", "--list", timeout=60)
        names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
        if result.returncode == 0 and names:
            return names
        if time.monotonic() >= deadline:
            sys.exit(
                f"make_examples: 'kwatch demo --list' does not work yet: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        time.sleep(10)


def is_step(line: str) -> bool:
    return line.startswith('{"t":') and '"actor":' in line


def make(name: str, timeout: float) -> bool:
    recording = EXAMPLES / f"{name}.jsonl.gz"
    steps = EXAMPLES / f"{name}.steps.jsonl"
    t0 = time.monotonic()
    result = kwatch(
        "demo", name, "--headless", "--output", "jsonl", "--record", str(recording), timeout=timeout
    )
    took = time.monotonic() - t0
    if result.returncode != 0:
        print(f"  {name}: FAILED (exit {result.returncode}): {result.stderr.strip()}")
        return False
    recording.chmod(0o644)  # kwatch makes recordings private; these are for sharing
    lines = [line for line in result.stdout.splitlines() if is_step(line)]
    steps.write_text("".join(line + "\n" for line in lines))
    check = kwatch("replay", str(recording), "--headless", "--output", "jsonl", timeout=120)
    replayed = [line for line in check.stdout.splitlines() if is_step(line)]
    same = "replay matches" if replayed == lines else "REPLAY DIFFERS"
    size = recording.stat().st_size
    print(f"  {name}: {len(lines)} steps, {size / 1024:.0f} KiB, {took:.0f}s; {same}")
    if check.stderr.strip():
        print(f"    {check.stderr.strip()}")
    return replayed == lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", metavar="SCENARIO", help="default: all")
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="poll 'kwatch demo --list' this long for the scenarios to exist",
    )
    p.add_argument(
        "--timeout", type=float, default=600, metavar="SECONDS", help="per scenario (default 600)"
    )
    args = p.parse_args()
    names = args.names or scenarios(args.wait)
    EXAMPLES.mkdir(exist_ok=True)
    print(f"recording {len(names)} scenario(s) into {EXAMPLES.relative_to(ROOT)}/")
    ok = [make(name, args.timeout) for name in names]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
