"""create-deployment: the creation path, one controller at a time.

kubectl POSTs a Deployment → the deployment controller creates a ReplicaSet named after
the pod-template-hash → the replicaset controller creates the Pods → the scheduler binds
them → each node's kubelet starts them → Ready → the endpointslice controller adds them
to the Service's slice → traffic flows. Every actor only talks to the API server.
"""

from __future__ import annotations

from kwatch.core.kinds import DEPLOYMENT, REPLICASET
from kwatch.core.steps import StepName
from kwatch.demo.scenarios import _kubectl as k
from kwatch.demo.scenarios import _manifests as m
from kwatch.demo.scenarios._checks import (
    all_of,
    fact,
    no_hazards,
    no_refusals,
    served,
    steps_at_least,
)
from kwatch.demo.scenarios.base import Act, Expect, Scenario, ScenarioContext

APP = "web"
REPLICAS = 3


async def create_service(ctx: ScenarioContext) -> None:
    await k.create(ctx, m.service(APP))


async def create_deployment(ctx: ScenarioContext) -> None:
    await k.create(ctx, m.deployment(APP, REPLICAS, m.pod_template(APP, startup=3)))
    rs = await ctx.wait_for(lambda: k.list_objects(ctx, REPLICASET, f"app={APP}"),
                            within=60, what="the ReplicaSet")
    ctx.facts["replicasets"] = [r["metadata"]["name"] for r in rs]


async def wait_created(ctx: ScenarioContext) -> None:
    await k.wait_pods(ctx, APP, "pods created", lambda ps: len(ps) == REPLICAS)


async def wait_scheduled(ctx: ScenarioContext) -> None:
    await k.wait_pods(ctx, APP, "pods bound to nodes",
                      lambda ps: len(ps) == REPLICAS and all(
                          p["spec"].get("nodeName") for p in ps))


async def wait_available(ctx: ScenarioContext) -> None:
    await k.wait_rollout(ctx, APP)
    await ctx.cluster.traffic.start(ctx.namespace, APP)


async def record_end_state(ctx: ScenarioContext) -> None:
    ctx.facts["replicasets_at_end"] = len(await k.list_objects(ctx, REPLICASET, f"app={APP}"))
    d = await k.get(ctx, DEPLOYMENT, APP) or {}
    ctx.facts["available"] = int((d.get("status") or {}).get("availableReplicas") or 0)


SCENARIO = Scenario(
    "create-deployment",
    "kubectl create deployment: watch the controllers hand the work on, from "
    "Deployment to Ready endpoints",
    1.0,
    Act("A Service 'web' comes first: a name and a label selector (app=web). It has no "
        "endpoints yet, because no pod matches.", create_service, watch=2),
    Act("kubectl POSTs a Deployment (3 replicas). The API server defaults and stores it "
        "and notifies every watcher. Watch the deployment controller: it hashes the pod "
        "template and creates a ReplicaSet named web-<pod-template-hash>, revision 1.",
        create_deployment),
    Act("The replicaset controller sees a ReplicaSet that wants 3 pods and owns none: it "
        "creates 3 Pods with an ownerReference to it. They are Pending, with no node.",
        wait_created),
    Act("The scheduler watches pods without spec.nodeName. For each it filters the nodes, "
        "scores them (fewest pods first) and POSTs a Binding: one pod per node.",
        wait_scheduled),
    Act("Each node's kubelet watches the pods bound to it: sandbox and pod IP, container "
        "start; the readinessProbe decides when the pod is Ready. Ready pods join the "
        "Service's EndpointSlice (endpointslice controller) — only then do they get "
        "traffic.", wait_available, watch=3),
    Act("Traffic now flows through the ingress to the 3 endpoints. Every controller sees "
        "desired == current and waits: a controller acts only on differences.",
        record_end_state, watch=8),
    expect=(
        Expect("one ReplicaSet, 3 available replicas",
               all_of(fact("replicasets_at_end", 1), fact("available", REPLICAS))),
        Expect("kwatch saw the whole path: created, scheduled, ready, added to endpoints",
               steps_at_least({StepName.REPLICASET_CREATED: 1, StepName.POD_CREATED: 3,
                               StepName.POD_SCHEDULED: 3, StepName.POD_READY: 3,
                               StepName.ENDPOINT_ADDED: 3})),
        Expect("every request was served", all_of(served, no_refusals)),
        Expect("no hazards", no_hazards()),
    ),
)
