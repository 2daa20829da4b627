"""statefulset-ordering: pets, not cattle — stable names, created and removed in order.

With podManagementPolicy OrderedReady the statefulset controller creates db-0, waits
until it is Running and Ready, then creates db-1, and so on; scaling down removes the
highest ordinal first and waits until it is completely gone before the next.
"""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.core.hazards import SERVING_WHILE_DYING
from kwatch.core.kinds import POD, STATEFULSET
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import hazard
from kwatch.demo.scenarios.base import Act, Expect, Observed, Scenario, ScenarioContext

APP = "db"
REPLICAS = 3
SCALED_TO = 1


async def create(ctx: ScenarioContext) -> None:
    ctx.facts["pod_log"] = await ctx.log(POD)
    await k.create(ctx, m.service(APP, headless=True))
    await k.create(ctx, m.statefulset(APP, REPLICAS, m.pod_template(APP, startup=4)))
    await k.wait_ready(ctx, APP, REPLICAS)


async def scale_down(ctx: ScenarioContext) -> None:
    ctx.narrate(f"kubectl scale statefulset {APP} --replicas={SCALED_TO}")
    ctx.facts["scaled_at"] = ctx.clock.now()
    await k.scale(ctx, STATEFULSET, APP, SCALED_TO)
    await k.wait_ready(ctx, APP, SCALED_TO)


def _versions(o: Observed) -> list[tuple[float, str, JSON]]:
    log = o.facts.get("pod_log")
    return list(log.versions) if log is not None else []


def _first(o: Observed, name: str, pred: str) -> float | None:
    for t, type_, pod in _versions(o):
        if pod["metadata"]["name"] != name:
            continue
        if pred == "created" and type_ == "ADDED":
            return t
        if pred == "ready" and type_ != "DELETED" and k.pod_ready(pod):
            return t
        if pred == "deleting" and pod["metadata"].get("deletionTimestamp"):
            return t
        if pred == "gone" and type_ == "DELETED":
            return t
    return None


def ordered_startup(o: Observed) -> str | None:
    names = [f"{APP}-{i}" for i in range(REPLICAS)]
    ready = [_first(o, n, "ready") for n in names]
    created = [_first(o, n, "created") for n in names]
    if any(t is None for t in ready + created):
        return f"not every pod was created and Ready: created={created} ready={ready}"
    for i in range(1, REPLICAS):
        prev_ready, this_created = ready[i - 1], created[i]
        assert prev_ready is not None and this_created is not None
        if this_created < prev_ready:
            return f"{names[i]} was created before {names[i - 1]} was Ready"
        this_ready = ready[i]
        assert this_ready is not None
        if this_ready <= prev_ready:
            return f"{names[i]} became Ready before {names[i - 1]}"
    return None


def ordered_scale_down(o: Observed) -> str | None:
    gone_2 = _first(o, f"{APP}-2", "gone")
    deleting_1 = _first(o, f"{APP}-1", "deleting")
    if gone_2 is None or deleting_1 is None:
        return f"scale-down incomplete: {APP}-2 gone at {gone_2}, {APP}-1 deleted at {deleting_1}"
    if deleting_1 < gone_2:
        return f"{APP}-1 was deleted before {APP}-2 was gone"
    return None


SCENARIO = Scenario(
    "statefulset-ordering",
    "a StatefulSet's pods start strictly one after another, in ordinal order, and stop "
    "in reverse",
    1.0,
    Act("A headless Service and a StatefulSet 'db' (3 replicas, OrderedReady). Its pods are "
        "pets: stable names db-0, db-1, db-2. The statefulset controller creates db-0 and "
        "waits until it is Running and Ready before it even creates db-1: watch the lanes "
        "start one after another.", create, watch=3),
    Act("Scaling down goes in reverse: db-2 first, and db-1 only once db-2 is completely "
        "gone. A database replica set relies on this order. kwatch flags each deletion as "
        "serving-while-dying, as on a real cluster: the statefulset controller deleted a "
        "pod that was still a ready endpoint of the headless Service, and with no preStop "
        "hook SIGTERM went out at once.", scale_down, watch=3),
    Act("No traffic runs here, so nothing was lost. A headless Service has no proxy: "
        "clients find the pods in DNS, which drops a pod once its endpoint turns not-ready "
        "(the short window kwatch measured); cached answers and open connections still "
        "reach it until it exits. For a database the cure is an app that drains or hands "
        "over on SIGTERM within its grace period; a preStop sleep only helps clients that "
        "look the name up again."),
    expect=(
        Expect("each pod was created only after the previous one was Ready, and they became "
               "Ready in ordinal order", ordered_startup),
        Expect("scale-down removed db-2 completely before deleting db-1", ordered_scale_down),
        # The narration says so: keep it true.
        Expect("kwatch flagged the deletions as serving-while-dying",
               hazard(SERVING_WHILE_DYING)),
    ),
)
