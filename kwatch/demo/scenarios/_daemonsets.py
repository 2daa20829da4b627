"""What the two DaemonSet scenarios share: an ingress-like agent on every node."""

from __future__ import annotations

from kwatch.core.events import JSON
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios.base import ScenarioContext

APP = "edge"  # think of an ingress controller running on every node
REVISION_LABEL = "controller-revision-hash"


def revision(pod: JSON) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL) or "")


def node_of(pod: JSON) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


async def create(ctx: ScenarioContext, strategy: str) -> list[JSON]:
    """Create the DaemonSet and wait for one Ready pod per node; remember the revision."""
    nodes = len(ctx.cluster.kubelets)
    await k.create(ctx, m.daemonset(APP, m.pod_template(APP, startup=2, grace=10),
                                    strategy=strategy))
    pods = await k.wait_ready(ctx, APP, nodes)
    ctx.facts["old_revision"] = revision(pods[0])
    return pods


async def revisions_by_node(ctx: ScenarioContext) -> dict[str, str]:
    """node → revision hash of its live (not terminating) pod."""
    return {node_of(p): revision(p) for p in await k.pods(ctx, APP)
            if not p["metadata"].get("deletionTimestamp")}


async def wait_node_updated(ctx: ScenarioContext, node: str) -> None:
    """Until `node` runs a Ready pod of a revision other than the original one."""
    old = ctx.facts["old_revision"]

    def updated(pods: list[JSON]) -> bool:
        return any(node_of(p) == node and k.pod_ready(p) and revision(p) != old for p in pods)

    await k.wait_pods(ctx, APP, f"an updated pod on {node}", updated)
