"""RFC 3339 timestamps (Kubernetes `Time` / `MicroTime`) to float epoch seconds.

Why a module: every row carries several timestamps and a 50k-pod list parses ~200k of
them. Many repeat (pods created in the same second, heartbeats), so a small memo table
turns most parses into one dict lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Bounded so a long session with ever-new timestamps cannot grow without limit; clearing
# wholesale is cheaper than LRU bookkeeping and the table refills in microseconds.
_CACHE_MAX = 65_536
_cache: dict[str, float | None] = {}


def parse_rfc3339(value: object) -> float | None:
    """Epoch seconds for "2024-05-01T10:00:00Z" / "...00.123456Z" / "+02:00" offsets.

    Returns None for missing or malformed values: a bad timestamp in one object must not
    stop a watch.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        return _cache[value]
    except KeyError:
        pass
    try:
        # Python 3.11's fromisoformat accepts "Z" and 1-6 fractional digits.
        dt = datetime.fromisoformat(value)
        # The API server always writes UTC; a zone-less value must not shift by local time.
        parsed: float | None = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        parsed = None
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[value] = parsed
    return parsed


def format_rfc3339(t: float) -> str:
    """The inverse, at second precision, as the API server writes `Time` (for fixtures)."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: float | None) -> str:
    """Compact human duration for step details and hazard messages: 0.25s, 12.0s, 3m05s."""
    if seconds is None:
        return "?"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
