"""startup-with-probe: lab 1 fixed — a readinessProbe keeps starting pods out of rotation."""

from __future__ import annotations

from kwatch.demo.scenarios._startup import build

SCENARIO = build("startup-with-probe", probe=True)
