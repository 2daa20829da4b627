"""Expectation checks the scenarios share. Each returns None when as expected, else why not."""

from __future__ import annotations

from collections.abc import Mapping

from kwatch.demo.scenarios.base import Check, Observed


def served(o: Observed) -> str | None:
    return None if o.traffic.ok > 0 else "no request was served at all"


def no_refusals(o: Observed) -> str | None:
    t = o.traffic
    if t.refused or t.timeout:
        return f"{t.refused} refused and {t.timeout} timed out"
    return None


def refusals(o: Observed) -> str | None:
    return None if o.traffic.refused > 0 else "no request was refused"


def timeouts(o: Observed) -> str | None:
    return None if o.traffic.timeout > 0 else "no request timed out"


def failures_only_after(fact_key: str, what: str) -> Check:
    """No request failed before the moment the script stored in `facts[fact_key]`: the
    failures a lab shows must come from the change it makes, not from its setup."""

    def check(o: Observed) -> str | None:
        t0 = float(o.facts.get(fact_key, 0.0))
        early = [r for r in o.requests if r.outcome != "ok" and r.t < t0]
        return f"{len(early)} requests failed before the {what}" if early else None

    return check


def hazard(kind: str) -> Check:
    def check(o: Observed) -> str | None:
        return None if kind in o.hazard_kinds() else f"kwatch raised no {kind} hazard"

    return check


def hazard_closed(kind: str) -> Check:
    """Raised, and measured to its end (no longer open) by the end of the scenario."""

    def check(o: Observed) -> str | None:
        found = [h for h in o.hazards if h.kind == kind]
        if not found:
            return f"kwatch raised no {kind} hazard"
        still = [h.name for h in found if h.open]
        return f"{kind} still open for {', '.join(still)}" if still else None

    return check


def no_hazard(kind: str) -> Check:
    def check(o: Observed) -> str | None:
        found = [h.name for h in o.hazards if h.kind == kind]
        return f"kwatch raised {kind} for {', '.join(found)}" if found else None

    return check


def no_hazards() -> Check:
    def check(o: Observed) -> str | None:
        found = sorted({h.kind for h in o.hazards})
        return f"kwatch raised {', '.join(found)}" if found else None

    return check


def steps_at_least(counts: Mapping[str, int]) -> Check:
    def check(o: Observed) -> str | None:
        missing = []
        for name, n in counts.items():
            seen = len(o.steps_named(name))
            if seen < n:
                missing.append(f"{name} {seen}/{n}")
        return f"too few steps: {', '.join(missing)}" if missing else None

    return check


def fact(key: str, expected: object) -> Check:
    def check(o: Observed) -> str | None:
        got = o.facts.get(key)
        return None if got == expected else f"{key} = {got!r}, expected {expected!r}"

    return check


def all_of(*checks: Check) -> Check:
    def check(o: Observed) -> str | None:
        problems = [p for c in checks if (p := c(o)) is not None]
        return "; ".join(problems) if problems else None

    return check
