"""shutdown-without-prestop: lab 2 as it goes wrong — SIGTERM races the endpoint removal."""

from __future__ import annotations

from kwatch.demo.scenarios._shutdown import build

SCENARIO = build("shutdown-without-prestop", prestop=None)
