"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

Several replicas of a component run; the one whose identity is in the Lease's
`holderIdentity` leads and renews `renewTime` every `retry_period`; the others poll. A
candidate may take the Lease only once it has seen the *same* record unchanged for
`leaseDurationSeconds` of its own clock — it never compares the holder's timestamps with
its own clock, so clock skew between replicas cannot cause two leaders. Every write
carries the resourceVersion that was read, so two candidates racing for an expired Lease
cannot both win: one gets 409 Conflict. `leaseTransitions` counts changes of holder.

A leader that cannot renew within `renew_deadline` steps down (kube-controller-manager
then exits and is restarted; here it becomes a candidate again).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable

from kwatch.core.events import JSON
from kwatch.core.kinds import LEASE
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.controllers.base import Recorder

log = logging.getLogger(__name__)

# kube-controller-manager's defaults (--leader-elect-lease-duration etc.).
LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 2.0
# wait.JitterUntil's factor for candidates: spreads replicas' polls apart.
JITTER = 1.2

Callback = Callable[[], Awaitable[None]]


def default_identity() -> str:
    """`<hostname>_<uuid>`, the identity kube-controller-manager uses."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        clock: Clock,
        *,
        identity: str,
        lease_name: str = "kube-controller-manager",
        lease_namespace: str = "kube-system",
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period * JITTER:
            # client-go enforces the same ordering: otherwise a healthy leader could lose
            # its lease between two renewals.
            raise ValueError("need lease_duration > renew_deadline > retry_period * 1.2")
        self.client = client
        self.clock = clock
        self.identity = identity
        self.lease_name = lease_name
        self.lease_namespace = lease_namespace
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.recorder = recorder
        # The last record read from the Lease and when (our clock) it last changed.
        self._observed: JSON = {}
        self._observed_time = 0.0
        self._reported_leader = ""
        self._lease: JSON | None = None

    @property
    def path(self) -> str:
        return f"{LEASE.collection_path(self.lease_namespace)}/{self.lease_name}"

    @property
    def is_leader(self) -> bool:
        return bool(self._observed.get("holderIdentity") == self.identity)

    @property
    def leader(self) -> str:
        """The holder as last observed ("" if none)."""
        return str(self._observed.get("holderIdentity") or "")

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign, lead until the lease is lost, campaign again — until cancelled."""
        while True:
            await self._acquire()
            self._event("became leader")
            if self.on_started_leading is not None:
                await self.on_started_leading()
            try:
                await self._renew_until_lost()
            finally:
                # Also on cancellation (stop/crash): the work done as leader must stop.
                if self.on_stopped_leading is not None:
                    await asyncio.shield(self.on_stopped_leading())
            log.info("%s: lost the lease %s", self.identity, self.path)
            self._event("stopped leading")

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.retry_period * (1 + random.random() * JITTER))
        log.info("%s: acquired lease %s", self.identity, self.path)

    async def _renew_until_lost(self) -> None:
        while True:
            await self.clock.sleep(self.retry_period)
            deadline = self.clock.now() + self.renew_deadline
            while not await self.try_acquire_or_renew():
                if self.clock.now() + self.retry_period > deadline:
                    self._observed = {}  # we are no leader any more, whatever we last saw
                    return
                await self.clock.sleep(self.retry_period)

    # -- one attempt ---------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One round of client-go's tryAcquireOrRenew; True if we hold the Lease now."""
        now = self.clock.now()
        stamp = self.clock.rfc3339_micro(now)
        record: JSON = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        try:
            lease = await self.client.get(self.path)
            if lease is None:
                created = await self.client.create(
                    LEASE.collection_path(self.lease_namespace), self._lease_body(None, record)
                )
                self._observe(created, now)
                return True
            spec: JSON = lease.get("spec") or {}
            self._observe(lease, now)
            if spec.get("holderIdentity") and self._lease_valid(now) and not self.is_leader:
                return False
            if self.is_leader:
                record["acquireTime"] = spec.get("acquireTime") or stamp
                record["leaseTransitions"] = int(spec.get("leaseTransitions") or 0)
            else:
                record["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            updated = await self.client.update(self.path, self._lease_body(lease, record))
            self._observe(updated, now)
            return True
        except ApiError as e:
            # 409: another candidate wrote first; anything else: try again next period.
            log.debug("%s: lease %s: %s", self.identity, self.path, e)
            return False
        except (OSError, TimeoutError) as e:
            log.debug("%s: lease %s unreachable: %r", self.identity, self.path, e)
            return False
        except Exception as e:  # aiohttp's errors while the server restarts
            log.debug("%s: lease %s: %r", self.identity, self.path, e)
            return False

    async def release(self) -> bool:
        """Give the Lease up now (ReleaseOnCancel) so a standby need not wait it out."""
        if not self.is_leader or self._lease is None:
            return False
        stamp = self.clock.rfc3339_micro()
        record: JSON = {
            "leaseDurationSeconds": 1,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": int(self._observed.get("leaseTransitions") or 0),
        }
        try:
            await self.client.update(self.path, self._lease_body(self._lease, record))
        except Exception as e:
            log.debug("%s: releasing %s failed: %r", self.identity, self.path, e)
            return False
        self._observed = {}
        return True

    # -- helpers -------------------------------------------------------------------------

    def _lease_body(self, lease: JSON | None, record: JSON) -> JSON:
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.lease_name, "namespace": self.lease_namespace},
        }
        if lease is not None:
            body = {**lease, "apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
        spec: JSON = {**(body.get("spec") or {}), **record}
        if "holderIdentity" not in record:  # a release empties the holder
            spec.pop("holderIdentity", None)
        body["spec"] = spec
        return body

    def _observe(self, lease: JSON, now: float) -> None:
        """Remember the record; restart the expiry clock only when it changed."""
        self._lease = lease
        spec: JSON = dict(lease.get("spec") or {})
        if spec != self._observed:
            self._observed = spec
            self._observed_time = now
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                self.on_new_leader(holder)

    def _lease_valid(self, now: float) -> bool:
        duration = float(self._observed.get("leaseDurationSeconds") or self.lease_duration)
        return self._observed_time + duration > now

    def _event(self, what: str) -> None:
        if self.recorder is not None and self._lease is not None:
            lease = {**self._lease, "apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
            self.recorder.event(lease, "Normal", "LeaderElection", "LeaderElection",
                                f"{self.identity} {what}")

