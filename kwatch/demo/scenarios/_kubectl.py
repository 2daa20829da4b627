"""What the scenarios do, phrased as the kubectl commands a user would type.

Every write goes to the API server over HTTP with kubectl's User-Agent and the request
kubectl itself would send (scale → the scale subresource, set image → a strategic merge
patch, rollout restart → the restartedAt template annotation), so kwatch attributes the
step to "kubectl" exactly as it would on a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from kwatch.core.events import JSON
from kwatch.core.kinds import BY_KIND, DEPLOYMENT, NODE, POD, ResourceKind
from kwatch.demo.scenarios.base import ScenarioContext


def _path(ctx: ScenarioContext, kind: ResourceKind, name: str = "") -> str:
    base = kind.collection_path(ctx.namespace if kind.namespaced else None)
    return f"{base}/{name}" if name else base


def kind_of(obj: JSON) -> ResourceKind:
    return BY_KIND[str(obj["kind"])]


async def create(ctx: ScenarioContext, obj: JSON) -> JSON:
    """kubectl create -f obj.yaml"""
    return await ctx.client.create(_path(ctx, kind_of(obj)), obj)


async def get(ctx: ScenarioContext, kind: ResourceKind, name: str) -> JSON | None:
    return await ctx.client.get(_path(ctx, kind, name))


async def list_objects(ctx: ScenarioContext, kind: ResourceKind,
                       selector: str | None = None) -> list[JSON]:
    items, _ = await ctx.client.list(_path(ctx, kind), label_selector=selector)
    return items


async def scale(ctx: ScenarioContext, kind: ResourceKind, name: str, replicas: int) -> None:
    """kubectl scale --replicas=N (through the scale subresource)."""
    await ctx.client.patch(f"{_path(ctx, kind, name)}/scale", {"spec": {"replicas": replicas}})


async def set_image(ctx: ScenarioContext, kind: ResourceKind, name: str, container: str,
                    image: str) -> None:
    """kubectl set image KIND/NAME CONTAINER=IMAGE"""
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": container, "image": image}]}}}}
    await ctx.client.patch(_path(ctx, kind, name), patch, "strategic")


async def rollout_restart(ctx: ScenarioContext, kind: ResourceKind, name: str) -> None:
    """kubectl rollout restart: a template annotation change, hence a new revision."""
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": ctx.clock.rfc3339()}}}}}
    await ctx.client.patch(_path(ctx, kind, name), patch, "strategic")


async def delete(ctx: ScenarioContext, kind: ResourceKind, name: str,
                 grace: int | None = None) -> None:
    """kubectl delete KIND NAME"""
    await ctx.client.delete(_path(ctx, kind, name), grace_period=grace)


async def taint(ctx: ScenarioContext, node: str, key: str, value: str, effect: str) -> None:
    """kubectl taint node NODE key=value:effect"""
    current = await ctx.client.get(_path(ctx, NODE, node)) or {}
    taints = [t for t in (current.get("spec") or {}).get("taints") or [] if t.get("key") != key]
    taints.append({"key": key, "value": value, "effect": effect})
    await ctx.client.patch(_path(ctx, NODE, node), {"spec": {"taints": taints}})


async def untaint(ctx: ScenarioContext, node: str, key: str) -> None:
    """kubectl taint node NODE key-"""
    current = await ctx.client.get(_path(ctx, NODE, node)) or {}
    taints = [t for t in (current.get("spec") or {}).get("taints") or [] if t.get("key") != key]
    await ctx.client.patch(_path(ctx, NODE, node), {"spec": {"taints": taints}})


# -- reading state (what `kubectl get` / `kubectl wait` would show) -------------------------


def condition(obj: JSON, type_: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def pod_ready(pod: JSON) -> bool:
    return condition(pod, "Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def restart_count(pod: JSON) -> int:
    return sum(int(s.get("restartCount") or 0)
               for s in (pod.get("status") or {}).get("containerStatuses") or ())


async def pods(ctx: ScenarioContext, app: str) -> list[JSON]:
    return await list_objects(ctx, POD, f"app={app}")


async def wait_pods(ctx: ScenarioContext, app: str, what: str,
                    pred: Callable[[list[JSON]], bool], within: float = 300) -> list[JSON]:
    async def probe() -> list[JSON] | None:
        found = await pods(ctx, app)
        return found if pred(found) else None

    return await ctx.wait_for(probe, within=within, what=what)


async def wait_ready(ctx: ScenarioContext, app: str, n: int, within: float = 300) -> list[JSON]:
    """Exactly `n` pods of `app`, all Ready and none terminating."""
    return await wait_pods(ctx, app, f"{n} ready pods of {app}",
                           lambda ps: len(ps) == n and all(pod_ready(p) for p in ps), within)


async def wait_rollout(ctx: ScenarioContext, name: str, within: float = 300) -> JSON:
    """kubectl rollout status deployment/NAME: every replica updated and available,
    no old pods left (terminating ones included)."""
    async def probe() -> JSON | None:
        d = await get(ctx, DEPLOYMENT, name)
        if d is None:
            return None
        spec, status = d.get("spec") or {}, d.get("status") or {}
        want = int(spec.get("replicas", 1))
        done = (int(status.get("observedGeneration") or 0) >= int(d["metadata"]["generation"])
                and status.get("updatedReplicas") == want
                and status.get("availableReplicas") == want
                and int(status.get("replicas") or 0) == want)
        if not done:
            return None
        left = await pods(ctx, name)
        return d if len(left) == want else None

    return await ctx.wait_for(probe, within=within, what=f"rollout of deployment {name}")


async def wait_listening(ctx: ScenarioContext, app: str, n: int, within: float = 300) -> None:
    """Until `n` pods of `app` have an app accepting connections (asked of the nodes'
    simulated kubelets: a pod can be Ready without listening, which is lab 1)."""
    def listening(pods: list[JSON]) -> bool:
        ips = [str((p.get("status") or {}).get("podIP") or "") for p in pods]
        return len(ips) >= n and sum(
            any(k.listening(ip) for k in ctx.cluster.kubelets.values()) for ip in ips) >= n

    await wait_pods(ctx, app, f"{n} listening pods of {app}", listening, within)
