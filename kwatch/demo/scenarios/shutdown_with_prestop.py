"""shutdown-with-prestop: lab 2 fixed — a preStop sleep drains the pod before SIGTERM."""

from __future__ import annotations

from kwatch.demo.scenarios._shutdown import PRESTOP_SECONDS, build

SCENARIO = build("shutdown-with-prestop", prestop=PRESTOP_SECONDS)
