"""Leader election on the kube-controller-manager Lease, and controller failover."""

from __future__ import annotations

import asyncio
import re

from lab_cluster import ROLLOUT, Cluster, deployment, deployment_complete, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import DEPLOYMENT, LEASE
from kwatch.demo.controllers.leader import LeaderElector, default_identity
from kwatch.demo.controllers.manager import (
    ControllerManager,
    load_builtin_controllers,
    start_controller_manager,
)

LEASE_PATH = f"{LEASE.collection_path('kube-system')}/kube-controller-manager"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def lease(c: Cluster) -> JSON:
    obj = await c.api.get(LEASE_PATH)
    assert obj is not None
    spec: JSON = obj["spec"]
    return spec


async def leader_is(c: Cluster, identity: str) -> bool:
    return (await lease(c)).get("holderIdentity") == identity


def test_default_identity_is_host_underscore_uuid() -> None:
    assert re.fullmatch(r".+_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        default_identity())


def test_registry_holds_the_deployment_and_replicaset_controllers() -> None:
    registry = load_builtin_controllers()
    assert {"deployment-controller", "replicaset-controller"} <= set(registry)


async def test_leader_creates_and_renews_the_lease() -> None:
    async with Cluster(controllers=ROLLOUT) as c:
        [mgr] = c.managers
        assert mgr.is_leader
        first = await lease(c)
        assert first["holderIdentity"] == "kcm-0_test"
        assert first["leaseDurationSeconds"] == 15
        assert first["leaseTransitions"] == 0
        assert MICRO_TIME.match(first["acquireTime"]) and MICRO_TIME.match(first["renewTime"])

        async def renewed() -> bool:
            return bool((await lease(c))["renewTime"] > first["renewTime"])

        await wait_for(renewed)  # every 2 simulated seconds
        again = await lease(c)
        assert again["acquireTime"] == first["acquireTime"]
        assert again["leaseTransitions"] == 0
        obj = await c.api.get(LEASE_PATH)
        assert obj is not None
        managers = {m["manager"] for m in obj["metadata"].get("managedFields") or []}
        assert managers == {"kube-controller-manager"}

        async def became_leader_event() -> bool:
            items, _ = await c.api.list(
                "/apis/events.k8s.io/v1/namespaces/kube-system/events")
            return any(e["reason"] == "LeaderElection"
                       and e["note"] == "kcm-0_test became leader" for e in items)

        await wait_for(became_leader_event)


async def test_standby_takes_over_after_the_leader_crashes() -> None:
    async with Cluster(controllers=ROLLOUT, managers=2, kubelet=True) as c:
        active, standby = c.managers
        await asyncio.sleep(0.2)  # a few retry periods: the standby stays standby
        assert active.is_leader and not standby.is_leader
        assert standby.controllers == [], "a standby runs no controllers"
        assert standby.elector.leader == active.identity

        crashed_at = c.clock.now()
        await active.crash()
        await wait_for(lambda: leader_is(c, standby.identity), within=3)
        waited = c.clock.now() - crashed_at
        assert waited >= 13, "the standby waits for the lease to expire (15 s)"
        spec = await lease(c)
        assert spec["leaseTransitions"] == 1
        assert standby.is_leader and standby.terms == 1
        # The new leader's controllers do the work now.
        await c.create(DEPLOYMENT, deployment("web", 2))
        await wait_for(lambda: deployment_complete(c, "web"))


async def test_stop_with_release_hands_over_without_waiting() -> None:
    async with Cluster(controllers=ROLLOUT, managers=2) as c:
        active, standby = c.managers
        await active.stop(release=True)
        released_at = c.clock.now()
        await wait_for(lambda: leader_is(c, standby.identity), within=3)
        assert c.clock.now() - released_at < 10, "no need to wait out a released lease"
        assert (await lease(c))["leaseTransitions"] == 1


async def test_only_one_of_racing_candidates_wins() -> None:
    async with Cluster() as c:
        electors = [LeaderElector(c.api, c.clock, identity=f"candidate-{i}")
                    for i in range(5)]
        results = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
        assert sum(results) == 1, "optimistic concurrency: exactly one create succeeds"
        winner = electors[results.index(True)]
        assert await leader_is(c, winner.identity)
        # The others see a valid lease held by someone else and keep polling.
        again = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
        assert again == [e is winner for e in electors]


async def test_a_leader_that_cannot_renew_steps_down() -> None:
    async with Cluster(controllers=ROLLOUT) as c:
        [mgr] = c.managers
        assert mgr.is_leader and mgr.controllers
        c.server.forbidden = {"leases"}  # every lease request now gets 403

        async def stepped_down() -> bool:
            return not mgr.is_leader

        t0 = c.clock.now()
        await wait_for(stepped_down, within=3)
        assert c.clock.now() - t0 >= 8, "it keeps trying until the renew deadline (10 s)"
        assert mgr.controllers == []
        c.server.forbidden = set()
        await wait_for(lambda: leader_is(c, mgr.identity), within=3)
        await wait_for(lambda: _leading(mgr), within=3)
        assert mgr.terms == 2


async def _leading(mgr: ControllerManager) -> bool:
    return mgr.is_leader


async def test_start_controller_manager_runs_every_registered_controller() -> None:
    async with Cluster() as c:
        mgr = await start_controller_manager(c.api, c.clock, identity="kcm-all_test")
        try:
            await asyncio.wait_for(mgr.wait_leading(), 3)
            names = {ctl.name for ctl in mgr.controllers}
            assert names == set(load_builtin_controllers())
            assert {"deployment-controller", "replicaset-controller"} <= names
        finally:
            await mgr.stop()
