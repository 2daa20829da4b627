"""Usage errors: one line on stderr, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kwatch.cli import EXIT_USAGE, main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kwatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-n", "a", "-A"], "cannot be used together"),
        (["-l", "app in ("], "invalid label selector"),
        (["-l", "app=web,"], "invalid label selector"),
        (["--duration", "-3"], "positive number of seconds"),
        (["--duration", "soon"], "not a number"),
        (["--output", "yaml"], "invalid choice"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["demo", "--nodes", "-1", "--serve"], "--nodes"),
        (["demo", "--control-plane", "real"], "--control-plane real plays a SCENARIO"),
        (["demo", "--control-plane", "kind", "create-deployment"], "invalid choice"),
    ],
)
def test_usage_error_is_one_line_exit_2(args: list[str], needle: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kwatch: error: ")
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("kwatch ")


def test_namespaces_are_repeatable_and_comma_separated() -> None:
    from kwatch.cli import parse_live

    opts = parse_live(["-n", "a,b", "-n", "c", "-l", "app in (web, api),!canary"])
    assert opts.scope.namespaces == ["a", "b", "c"]
    assert opts.scope.label_selector == "app in (web, api),!canary"
    assert opts.explicit_namespace
    assert parse_live(["-A"]).scope.namespaces is None
