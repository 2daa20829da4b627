"""core/v1 Event <-> events.k8s.io/v1 Event.

In Kubernetes both APIs serve the *same* stored events, so an event recorded through one
is listed and watched through the other. The demo stores core/v1 and converts on the
way in and out, with the field mapping of the real conversion functions.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

# events.k8s.io/v1 name -> core/v1 name; fields not listed keep their name.
_RENAMED: tuple[tuple[str, str], ...] = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
_SHARED = ("metadata", "eventTime", "series", "reportingInstance", "action", "reason",
           "related", "type")


def to_events_v1(core: JSON) -> JSON:
    out: JSON = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for name in _SHARED:
        if core.get(name) is not None:
            out[name] = core[name]
    for new, old in _RENAMED:
        value = core.get(old)
        if value is not None and value != {} and value != "":
            out[new] = value
    return out


def to_core(ev: JSON) -> JSON:
    out: JSON = {"kind": "Event", "apiVersion": "v1"}
    for name in _SHARED:
        if ev.get(name) is not None:
            out[name] = ev[name]
    for new, old in _RENAMED:
        if ev.get(new) is not None:
            out[old] = ev[new]
    out.setdefault("involvedObject", {})
    return out
