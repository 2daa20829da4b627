"""startup-without-probe: lab 1 as it goes wrong — Ready before the app listens."""

from __future__ import annotations

from kwatch.demo.scenarios._startup import build

SCENARIO = build("startup-without-probe", probe=False)
