"""Object metadata rules the generic registry applies: names, timestamps, uids."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime

# generateName suffixes use the same alphabet as the real server (no vowels, no
# look-alike digits), so generated names look like the real thing: web-7d4b9-x2k8p.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kinds whose names must be DNS labels (no dots, at most 63 characters).
LABEL_NAMED = frozenset({"namespaces", "services"})


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    return prefix[: 63 - len(suffix)] + suffix


def name_problem(plural: str, name: str) -> str | None:
    """Why `name` is not a valid object name for `plural`, or None."""
    if plural in LABEL_NAMED:
        if len(name) > 63 or not _DNS_LABEL.match(name):
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character"
            )
        return None
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    return None
