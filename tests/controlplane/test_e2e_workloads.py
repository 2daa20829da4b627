"""kwatch end to end on the real control plane: Deployments, StatefulSets, DaemonSets.

The scenarios are played by tests/controlplane/helpers.py (once per session, all at
once, each in its own namespace) on real kube-apiserver / kube-controller-manager /
kube-scheduler binaries, with the demo's kubelet simulator as the nodes; kwatch watches
with the read-only kubeconfig (get/list/watch only). These tests check what kwatch
observed: the steps of DESIGN §4 per object, in order, with the right actor; the
ownership chain in kwatch's store; and the endpoint conditions the real endpointslice
controller published.

Orders are asserted within one object's steps (one watch stream: resourceVersion
order). Across objects of different kinds the steps come from different watches, so a
"happened before" is only asserted with `SKEW` of slack.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import (
    ENDPOINT_STEPS,
    RealPlaneRuns,
    endpoint_states,
    failed_expectations,
    run_of,
    session_runs,
    steps_of,
    without_brief_tail,
)

from kwatch.core.rows import DeploymentRow, EndpointSliceRow, PodRow, ReplicaSetRow
from kwatch.core.steps import Step
from kwatch.testing.controlplane import ControlPlane

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

SKEW = 0.5  # seconds two watches of different kinds may disagree on "before"
READY = (True, True, False)
NOT_READY = (False, False, False)
TERMINATING_SERVING = (False, True, True)


@pytest.fixture(scope="session")
def real(controlplane: ControlPlane) -> Iterator[RealPlaneRuns]:
    yield from session_runs(controlplane)


def life(steps: list[Step], pod: str) -> list[Step]:
    """A pod's own steps (not its endpoint's, not Events), in watch order."""
    return [s for s in steps if s.kind == "Pod" and s.name == pod
            and s.step not in ENDPOINT_STEPS and s.step != "WarningEvent"]


def first(steps: list[Step], **kw: str) -> Step:
    found = steps_of(steps, **kw)
    assert found, f"no step {kw}"
    return found[0]


def endpoint_became(steps: list[Step], pod: str, state: tuple[bool, bool, bool]) -> Step:
    """The endpoint step that put `pod`'s endpoint into `state`."""
    for s in steps:
        if s.kind != "Pod" or s.name != pod:
            continue
        if s.step == "EndpointAdded":
            d = s.details
        elif s.step == "EndpointConditionChanged":
            d = s.details["to"]
        else:
            continue
        if (bool(d["ready"]), bool(d["serving"]), bool(d["terminating"])) == state:
            return s
    raise AssertionError(f"{pod}'s endpoint never became {state}")


# -- create-deployment ---------------------------------------------------------------------


def test_create_deployment_steps_in_causal_order(real: RealPlaneRuns) -> None:
    r = run_of(real, "create-deployment")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    created = first(steps, kind="Deployment", name="web")
    assert (created.step, created.actor) == ("DeploymentCreated", "kubectl")
    [rs] = steps_of(steps, kind="ReplicaSet", step="ReplicaSetCreated")
    assert rs.actor == "deployment-controller"
    assert rs.details["revision"] == "1" and rs.details["owner"] == "Deployment/web"
    assert rs.name == f"web-{rs.details['hash']}"  # named after the pod-template-hash
    assert rs.t >= created.t - SKEW
    pods = [s.name for s in steps_of(steps, kind="Pod", step="PodCreated")]
    assert len(pods) == 3 and all(p.startswith(f"{rs.name}-") for p in pods)
    for pod in pods:
        own = life(steps, pod)
        assert [(s.step, s.actor) for s in own] == [
            ("PodCreated", "replicaset-controller"),
            ("PodScheduled", "default-scheduler"),
            ("ContainerStarted", "kubelet"),
            ("PodReady", "kubelet"),
        ], pod
        assert own[0].details["hash"] == rs.details["hash"]
        assert own[0].t >= rs.t - SKEW
        assert own[3].details["readiness_probe"] is True
        # With a readinessProbe the real endpointslice controller publishes the pod
        # not-ready first, and ready only once the kubelet reported it Ready.
        assert endpoint_states(steps, pod) == [NOT_READY, READY], pod
        became_ready = endpoint_became(steps, pod, READY)
        assert became_ready.actor == "endpointslice-controller"
        assert became_ready.details["service"] == "web"
        assert became_ready.t >= own[3].t - SKEW
    complete = first(steps, kind="Deployment", step="RolloutComplete")
    assert complete.details["revision"] == "1"
    assert complete.t >= max(s.t for s in steps_of(steps, step="PodReady")) - SKEW
    assert not r.hazards


def test_create_deployment_ownership_in_kwatchs_store(real: RealPlaneRuns) -> None:
    """Deployment → ReplicaSet (pod-template-hash, revision) → Pods → endpoints, as
    kwatch's store linked them from the real objects' ownerReferences and targetRefs."""
    run_of(real, "create-deployment")
    assert real.track_a.pipeline is not None
    store = real.track_a.pipeline.store
    ns = "create-deployment"
    [dep] = [r for r in store.rows("Deployment").values() if r.namespace == ns]
    assert isinstance(dep, DeploymentRow) and dep.revision == "1"
    [rs] = store.children(dep.uid)
    assert isinstance(rs, ReplicaSetRow)
    assert rs.owner is not None and rs.owner.controller and rs.owner.uid == dep.uid
    assert rs.template_hash and rs.name == f"web-{rs.template_hash}" and rs.revision == "1"
    pods = store.children(rs.uid)
    assert len(pods) == 3
    for pod in pods:
        assert isinstance(pod, PodRow) and pod.ready and pod.node_name
        assert pod.owner is not None and pod.owner.uid == rs.uid
        assert pod.template_hash == rs.template_hash
    [sl] = [r for r in store.rows("EndpointSlice").values()
            if r.namespace == ns and isinstance(r, EndpointSliceRow)]
    assert sl.service_name == "web" and sl.managed_by == "endpointslice-controller.k8s.io"
    assert {e.pod_uid for e in sl.endpoints} == {p.uid for p in pods}
    assert all(e.ready and e.serving and not e.terminating for e in sl.endpoints)


# -- rolling-update -------------------------------------------------------------------------


def test_rolling_update_new_hash_new_replicaset_bounded_steps(real: RealPlaneRuns) -> None:
    r = run_of(real, "rolling-update")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    spec = first(steps, kind="Deployment", step="DeploymentSpecChanged")
    assert spec.actor == "kubectl" and "image" in spec.details["changed"]
    made = {s.details["revision"]: s for s in steps_of(steps, step="ReplicaSetCreated")}
    assert set(made) == {"1", "2"}
    old, new = made["1"], made["2"]
    assert old.details["hash"] != new.details["hash"]
    assert new.name == f"web-{new.details['hash']}" and new.t >= spec.t - SKEW
    # maxSurge 1 / maxUnavailable 1 over 4 replicas: the new ReplicaSet starts at 1 (the
    # surge) and each step moves one replica; the old one goes down to 0 and stays.
    assert new.details["replicas"] == 1
    ups = [(s.details["from"], s.details["to"])
           for s in steps_of(steps, step="ReplicaSetScaled", name=new.name)]
    downs = [(s.details["from"], s.details["to"])
             for s in steps_of(steps, step="ReplicaSetScaled", name=old.name)]
    assert ups == [(1, 2), (2, 3), (3, 4)]
    assert downs == [(4, 3), (3, 2), (2, 1), (1, 0)]
    assert {s.actor for s in steps_of(steps, step="ReplicaSetScaled")} == {
        "deployment-controller"}
    # Every old pod: deleted with its preStop sleep, out of the endpoints' ready set at
    # once but still serving while terminating (the sleep), then gone.
    old_pods = {s.name for s in steps_of(steps, step="PodCreated", prefix=f"{old.name}-")}
    assert len(old_pods) == 4
    for pod in old_pods:
        deletion = first(steps, name=pod, step="DeletionRequested")
        assert deletion.details["prestop"] == "exec-sleep 10s"
        assert without_brief_tail(endpoint_states(steps, pod)) == [
            NOT_READY, READY, TERMINATING_SERVING, None], pod
        ended = first(steps, name=pod, step="ContainerTerminated")
        assert ended.details["after_deletion_s"] >= 10 - 1  # the sleep, then SIGTERM
        assert first(steps, name=pod, step="PodGone").actor == "kubelet"
    complete = steps_of(steps, kind="Deployment", step="RolloutComplete")
    assert [s.details["revision"] for s in complete] == ["1", "2"]


# -- statefulset-ordering -------------------------------------------------------------------


def test_statefulset_pods_start_in_order_and_stop_in_reverse(real: RealPlaneRuns) -> None:
    r = run_of(real, "statefulset-ordering")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    created = [s.name for s in steps_of(steps, kind="Pod", step="PodCreated")]
    assert created == ["db-0", "db-1", "db-2"]
    assert {s.actor for s in steps_of(steps, step="PodCreated")} == {"statefulset-controller"}
    for prev, nxt in (("db-0", "db-1"), ("db-1", "db-2")):
        # OrderedReady: the next pod is created only once the previous one is Ready.
        assert (first(steps, name=nxt, step="PodCreated").t
                >= first(steps, name=prev, step="PodReady").t - SKEW)
    scaled = first(steps, kind="StatefulSet", step="StatefulSetScaled")
    assert (scaled.details["from"], scaled.details["to"]) == (3, 1)
    deleted = [s.name for s in steps_of(steps, kind="Pod", step="DeletionRequested")]
    assert deleted == ["db-2", "db-1"]
    assert {s.actor for s in steps_of(steps, step="DeletionRequested")} == {
        "statefulset-controller"}
    assert (first(steps, name="db-1", step="DeletionRequested").t
            >= first(steps, name="db-2", step="PodGone").t - SKEW)
    for pod in ("db-1", "db-2"):
        assert without_brief_tail(endpoint_states(steps, pod))[-2:] == [
            TERMINATING_SERVING, None]
    assert endpoint_states(steps, "db-0") == [NOT_READY, READY]


# -- daemonset-ondelete ---------------------------------------------------------------------


def test_daemonset_ondelete_replaces_only_deleted_pods(real: RealPlaneRuns) -> None:
    r = run_of(real, "daemonset-ondelete")
    assert not failed_expectations(r), failed_expectations(r)
    steps = r.steps
    updated = first(steps, kind="DaemonSet", step="DaemonSetUpdated")
    assert updated.actor == "kubectl" and updated.details["update_strategy"] == "OnDelete"
    # Nothing is replaced by the controller: every deletion after the update is the
    # operator's, and each one is followed by a new pod on the same node.
    deletions = [s for s in steps_of(steps, step="DeletionRequested") if s.t >= updated.t]
    assert len(deletions) == 3
    assert {s.actor for s in deletions} == {"user"}
    nodes = [first(steps, name=s.name, step="PodScheduled").details["node"] for s in deletions]
    assert sorted(nodes) == ["node-1", "node-2", "node-3"]
    for deletion, node in zip(deletions, nodes, strict=True):
        replacement = [s for s in steps_of(steps, step="PodScheduled")
                       if s.details["node"] == node and s.t >= deletion.t - SKEW]
        assert replacement, f"no replacement on {node}"
        made = first(steps, name=replacement[0].name, step="PodCreated")
        assert made.actor == "daemonset-controller"
        assert made.details["hash"] != first(steps, name=deletion.name,
                                             step="PodCreated").details["hash"]
    # Between the update and the first deletion the controller created nothing.
    first_delete = min(s.t for s in deletions)
    assert not [s for s in steps_of(steps, step="PodCreated")
                if updated.t + SKEW < s.t < first_delete - SKEW]


# -- kwatch itself --------------------------------------------------------------------------


def test_headless_subprocess_saw_the_same_steps(real: RealPlaneRuns) -> None:
    """``kwatch --kubeconfig RO -n … --headless -o jsonl`` (a subprocess, as a user runs
    it) narrated exactly the steps the in-process pipeline derived."""
    for name in ("create-deployment", "daemonset-ondelete"):
        run_of(real, name)
    track = real.track_a
    assert track.headless, track.headless_stderr
    assert "warning" not in track.headless_stderr.lower(), track.headless_stderr

    def key(ns: str, kind: str, step: str, name: str) -> tuple[str, str, str, str]:
        return (ns, kind, step, name)

    seen = sorted(key(x["namespace"], x["kind"], x["step"], x["name"])
                  for x in track.headless
                  if x.get("step") not in (None, "Synced") and x["namespace"] in track.runs)
    derived = sorted(key(s.namespace, s.kind, s.step, s.name) for s in track.all_steps
                     if s.step != "Synced" and s.namespace in track.runs)
    assert seen == derived


def test_readonly_kubeconfig_is_enough_for_every_kind(real: RealPlaneRuns) -> None:
    """kwatch ran with docs/rbac.yaml's get/list/watch ClusterRole only: every kind it
    watches was listed and watched, none marked unavailable (no 403)."""
    for name in ("create-deployment", "controller-failover"):
        run_of(real, name)
    for track in (real.track_a, real.track_c):
        assert track.health, track.error
        bad = [h for h in track.health if h[1] == "unavailable"]
        assert not bad, bad
