"""KindHealth: the one-line summaries the status bar shows."""

from __future__ import annotations

from kwatch.sources.health import KindHealth, health_key, overall_summary


def test_keys_name_the_namespace_only_when_scoped() -> None:
    assert health_key("Pod", "") == "Pod"
    assert health_key("Pod", "team-a") == "Pod/team-a"
    assert KindHealth("Lease", "kube-system").key == "Lease/kube-system"


def test_summary_of_each_state() -> None:
    h = KindHealth("Pod", "")
    assert h.summary() == "Pod syncing…"
    h.state = "synced"
    assert h.summary() == "Pod ✓"
    h.relists, h.reconnects, h.malformed = 2, 5, 1
    assert h.summary() == "Pod ✓ · 2 relists · 5 reconnects · 1 malformed"
    h.state, h.reason = "unavailable", "Forbidden (403): nope"
    assert h.summary().startswith("Pod unavailable: Forbidden (403): nope · 2 relists")


def test_overall_summary_lists_only_the_unhealthy() -> None:
    ok = KindHealth("Pod", "", state="synced")
    assert overall_summary([]) == "not watching"
    assert overall_summary([ok, KindHealth("Node", "", state="synced")]) == "watching 2 ✓"
    bad = KindHealth("Lease", "kube-system", state="backing-off", reason="HTTP 503: busy")
    assert (
        overall_summary([ok, bad]) == "1/2 synced · Lease/kube-system backing-off: HTTP 503: busy"
    )
