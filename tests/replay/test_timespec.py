"""Times, steps and 'end' as users type them (--start, --at, the go-to dialog)."""

from __future__ import annotations

import pytest

from kwatch.replay.timespec import Target, TimeSpecError, format_offset, parse_target


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("90", Target("time", 90.0)),
        ("+12.5", Target("time", 12.5)),
        ("90s", Target("time", 90.0)),
        ("1m30s", Target("time", 90.0)),
        ("1h", Target("time", 3600.0)),
        ("1:30", Target("time", 90.0)),
        ("1:02:03", Target("time", 3723.0)),
        ("0:01.5", Target("time", 1.5)),
        (" start ", Target("time", 0.0)),
        ("END", Target("end")),
        ("#12", Target("step", step=12)),
        ("step 7", Target("step", step=7)),
        ("step:3", Target("step", step=3)),
    ],
)
def test_accepted_forms(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["", "abc", "-5", "1:2:3:4", "#", "#-1", "nan", "inf", "1m2"])
def test_rejected_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(TimeSpecError, match="a time"):
        parse_target(text)


def test_format_offset() -> None:
    assert format_offset(5.25) == "5.2s" or format_offset(5.25) == "5.3s"
    assert format_offset(65) == "1:05.0"
    assert format_offset(3725) == "1:02:05.0"
    assert Target("step", step=3).describe() == "step 3"
