"""Leader-election Leases (kube-system) as the panes show them: who leads, since when.

kube-controller-manager and kube-scheduler run active/standby: the replica named in
the Lease's holderIdentity runs the controllers and renews renewTime; the others wait
until the record has gone unrenewed for leaseDurationSeconds, then take it over
(leaseTransitions counts the hand-overs). A Lease renewed longer ago than its duration
is expired: nobody leads, nothing reconciles until a standby takes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kwatch.core.rows import LeaseRow, Row
from kwatch.core.store import Store

# client-go identities are "<hostname>_<uuid>": the hostname tells the replicas apart.
_UUID_SUFFIX = re.compile(r"_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Short names of the usual leader-election Leases (the status bar is narrow).
SHORT_LEASE = {
    "kube-controller-manager": "kcm",
    "kube-scheduler": "sched",
    "cloud-controller-manager": "ccm",
}


def short_holder(identity: str) -> str:
    """The hostname part of a client-go identity ("" stays "")."""
    return _UUID_SUFFIX.sub("", identity)


@dataclass(frozen=True, slots=True)
class LeaseState:
    holder: str  # short holder ("" when nobody holds it)
    renewed_ago: float | None  # seconds since renewTime (None: never renewed)
    expired: bool  # renewed longer ago than leaseDurationSeconds


def lease_state(lease: LeaseRow, now: float) -> LeaseState:
    ago = None if lease.renew_time is None else max(0.0, now - lease.renew_time)
    expired = (
        bool(lease.holder)
        and ago is not None
        and lease.duration_s is not None
        and ago > lease.duration_s
    )
    return LeaseState(short_holder(lease.holder), ago, expired)


def leases(store: Store) -> list[LeaseRow]:
    """The store's Leases by name (the source keeps only kube-system's)."""
    rows: Iterable[Row] = store.rows("Lease").values()
    return sorted((r for r in rows if isinstance(r, LeaseRow)), key=lambda r: r.name)
