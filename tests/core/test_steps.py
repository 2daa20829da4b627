"""Step derivation: the vocabulary, the details and who did it (actor rules)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kwatch.core.events import KEvent
from kwatch.core.steps import Step, derive_steps
from kwatch.core.store import Store
from tests.core.builders import (
    T0,
    Cluster,
    PodSim,
    deployment,
    deployment_status,
    endpoint,
    endpointslice,
    k8s_event,
    lease,
    mf,
    node,
    owner_ref,
    replicaset,
    rs_pod,
    service,
)

KINDS = "Pod ReplicaSet Deployment StatefulSet DaemonSet EndpointSlice Service Node Event Lease"


class Story:
    """A synced store; `at(t, *objs-as-events)` applies one batch and returns its steps."""

    def __init__(self) -> None:
        self.c = Cluster()
        self.store = Store()
        self.store.apply([self.c.listed(k) for k in KINDS.split()])

    def apply(self, t: float, *events: KEvent) -> list[Step]:
        changes = self.store.apply(list(events))
        return [s for ch in changes for s in derive_steps(ch, self.store)]

    def added(self, t: float, obj: dict[str, Any]) -> list[Step]:
        return self.apply(t, self.c.at(t).added(obj))

    def modified(self, t: float, obj: dict[str, Any]) -> list[Step]:
        return self.apply(t, self.c.at(t).modified(obj))

    def deleted(self, t: float, obj: dict[str, Any]) -> list[Step]:
        return self.apply(t, self.c.at(t).deleted(obj))


def names(steps: list[Step]) -> list[str]:
    return [s.step for s in steps]


def brief(steps: list[Step]) -> list[tuple[str, str, str]]:
    return [(s.step, s.name, s.actor) for s in steps]


# --------------------------------------------------------------------------- rollout


def _bring_up(story: Story, rs: dict[str, Any], suffix: str, t: float) -> PodSim:
    pod = rs_pod(rs, suffix, created=t)
    story.added(t, pod.obj())
    story.modified(t + 0.1, pod.schedule("node-1", t + 0.1))
    story.modified(t + 1, pod.start(t + 1, ip=f"10.0.0.{len(suffix) + ord(suffix[-1]) % 200}"))
    story.modified(t + 2, pod.become_ready(t + 2))
    return pod


def test_deployment_rollout_v1_to_v2() -> None:
    s = Story()
    d = deployment(replicas=3, image="nginx:1.25", revision="1", generation=1)
    steps = s.added(T0, d)
    assert brief(steps) == [("DeploymentCreated", "web", "kubectl-client-side-apply")]
    assert steps[0].details["replicas"] == 3 and steps[0].details["images"] == ["nginx:1.25"]

    rs1 = replicaset(d, "aaa", replicas=3, revision="1", t=T0)
    steps = s.added(T0 + 0.1, rs1)
    assert brief(steps) == [("ReplicaSetCreated", "web-aaa", "deployment-controller")]
    assert (steps[0].details["hash"], steps[0].details["revision"]) == ("aaa", "1")
    assert steps[0].details["owner"] == "Deployment/web"

    pod = rs_pod(rs1, "p1", created=T0 + 0.2)
    steps = s.added(T0 + 0.2, pod.obj())
    assert brief(steps) == [("PodCreated", "web-aaa-p1", "replicaset-controller")]
    assert steps[0].details["owner"] == "ReplicaSet/web-aaa" and steps[0].details["hash"] == "aaa"
    steps = s.modified(T0 + 0.3, pod.schedule("node-1", T0 + 0.3))
    assert brief(steps) == [("PodScheduled", "web-aaa-p1", "default-scheduler")]
    assert steps[0].details["node"] == "node-1"
    steps = s.modified(T0 + 1, pod.start(T0 + 1, ip="10.0.0.1"))
    assert brief(steps) == [("ContainerStarted", "web-aaa-p1", "kubelet")]
    steps = s.modified(T0 + 2, pod.become_ready(T0 + 2))
    assert brief(steps) == [("PodReady", "web-aaa-p1", "kubelet")]
    assert steps[0].details["readiness_probe"] is True
    old_pods = [pod, _bring_up(s, rs1, "p2", T0 + 3), _bring_up(s, rs1, "p3", T0 + 3)]

    d["status"] = deployment_status(
        generation=1,
        replicas=3,
        updated=3,
        ready=3,
        available=3,
        progressing=("True", "NewReplicaSetAvailable"),
    )
    steps = s.modified(T0 + 6, d)
    assert brief(steps) == [
        ("RolloutComplete", "web", "deployment-controller"),
        ("DeploymentAvailable", "web", "deployment-controller"),
    ]

    # v2: a new image → new template hash → a new ReplicaSet, scaled up/down in turns.
    d2 = copy.deepcopy(d)
    d2["metadata"]["generation"] = 2
    d2["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    d2["metadata"]["managedFields"].append(mf("kubectl-set", T0 + 10, ("f:spec",)))
    d2["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    d2["status"]["conditions"][1].update(reason="ReplicaSetUpdated")
    steps = s.modified(T0 + 10, d2)
    assert brief(steps) == [
        ("DeploymentSpecChanged", "web", "kubectl-set"),
        ("RolloutProgressing", "web", "deployment-controller"),
    ]
    assert steps[0].details["changed"] == ["image"]
    assert steps[0].details["images"] == {"from": ["nginx:1.25"], "to": ["nginx:1.26"]}
    assert (steps[0].details["generation"], steps[0].details["from_generation"]) == (2, 1)
    assert steps[1].details["revision"] == "2"

    rs2 = replicaset(d2, "bbb", replicas=1, revision="2", t=T0 + 10, image="nginx:1.26")
    steps = s.added(T0 + 10.1, rs2)
    assert brief(steps) == [("ReplicaSetCreated", "web-bbb", "deployment-controller")]
    assert steps[0].details["images"] == ["nginx:1.26"] and steps[0].details["replicas"] == 1

    # Old RS down: maxUnavailable 25% of 3 rounds down to 0, so availability stays >= 3.
    rs1["spec"]["replicas"] = 2
    steps = s.modified(T0 + 13, rs1)
    assert brief(steps) == [("ReplicaSetScaled", "web-aaa", "deployment-controller")]
    why = steps[0].details
    assert (why["from"], why["to"], why["role"]) == (3, 2, "old")
    assert (why["max_surge"], why["max_unavailable"], why["desired"]) == (1, 0, 3)
    assert why["why"] == (
        "rollout: old ReplicaSet down to 2; available pods must stay at least 3-0 "
        "(maxUnavailable 25%)"
    )

    # The replicaset controller deletes one pod: it leaves exactly `replicas` active.
    steps = s.modified(T0 + 13.1, old_pods[0].delete(T0 + 13.1))
    assert brief(steps) == [("DeletionRequested", "web-aaa-p1", "replicaset-controller")]

    rs2["spec"]["replicas"] = 2
    steps = s.modified(T0 + 14, rs2)
    assert brief(steps) == [("ReplicaSetScaled", "web-bbb", "deployment-controller")]
    assert steps[0].details["role"] == "new"
    assert steps[0].details["why"] == (
        "rollout: new ReplicaSet up to 2; pods may total at most 3+1 (maxSurge 25%)"
    )

    d3 = copy.deepcopy(d2)
    d3["status"]["conditions"][1].update(reason="NewReplicaSetAvailable")
    steps = s.modified(T0 + 30, d3)
    assert brief(steps) == [("RolloutComplete", "web", "deployment-controller")]
    assert steps[0].details["revision"] == "2"

    rs1_gone = s.deleted(T0 + 40, rs1)
    assert brief(rs1_gone) == [("ReplicaSetDeleted", "web-aaa", "deployment-controller")]


def test_deployment_scaled_and_stuck() -> None:
    s = Story()
    d = deployment(replicas=2, revision="1", max_surge=1, max_unavailable=0)
    s.added(T0, d)
    d["spec"]["replicas"] = 5
    d["metadata"]["generation"] = 2
    d["metadata"]["managedFields"].append(mf("kubectl", T0 + 1, ("f:spec",), subresource="scale"))
    steps = s.modified(T0 + 1, d)
    assert brief(steps) == [("DeploymentScaled", "web", "kubectl")]
    assert (steps[0].details["from"], steps[0].details["to"]) == (2, 5)

    d["status"] = deployment_status(
        generation=2,
        replicas=5,
        updated=3,
        ready=3,
        available=3,
        progressing=("False", "ProgressDeadlineExceeded"),
        available_cond=("False", "MinimumReplicasUnavailable"),
    )
    steps = s.modified(T0 + 700, d)
    assert names(steps) == ["RolloutStuck", "DeploymentUnavailable"]
    assert steps[0].details["deadline_s"] == 600 and steps[0].details["available"] == 3


def test_replicaset_scaled_alone_is_a_deployment_scale() -> None:
    s = Story()
    d = deployment(replicas=2, revision="1")
    rs = replicaset(d, "aaa", replicas=2, revision="1")
    s.added(T0, d)
    s.added(T0, rs)
    d["spec"]["replicas"] = 4
    s.modified(T0 + 1, d)
    rs["spec"]["replicas"] = 4
    (step,) = s.modified(T0 + 1.1, rs)
    assert step.details["why"] == "deployment scaled to 4"


# --------------------------------------------------------------------------- actors


def test_pod_creator_actor_rules() -> None:
    s = Story()
    sts = PodSim("db-0", owner=owner_ref("StatefulSet", "db", "sts-uid"))
    ds = PodSim("agent-x", owner=owner_ref("DaemonSet", "agent", "ds-uid"))
    mirror = PodSim("etcd-cp", owner=owner_ref("Node", "cp", "node-uid"), creator="kubelet")
    run = PodSim("debug", creator="kubectl-run")
    anonymous = PodSim("bare")
    anonymous.managers = [{"manager": "", "operation": "Update", "time": "", "fields": []}]
    actors = {p.name: s.added(T0, p.obj())[0].actor for p in (sts, ds, mirror, run, anonymous)}
    assert actors == {
        "db-0": "statefulset-controller",
        "agent-x": "daemonset-controller",
        "etcd-cp": "kubelet",
        "debug": "kubectl-run",
        "bare": "user",
    }


def test_scheduler_actor_prefers_the_scheduled_event() -> None:
    s = Story()
    a, b = PodSim("a"), PodSim("b")
    s.added(T0, a.obj())
    s.added(T0, b.obj())
    s.added(T0, k8s_event("b.1", regarding=b.obj(), reason="Scheduled", controller="my-scheduler"))
    (sa,) = s.modified(T0 + 1, a.schedule("n1", T0 + 1))
    (sb,) = s.modified(T0 + 1, b.schedule("n1", T0 + 1))
    assert (sa.actor, sb.actor) == ("default-scheduler", "my-scheduler")


def _rs_with_pods(s: Story, replicas: int, count: int) -> tuple[dict[str, Any], list[PodSim]]:
    d = deployment(replicas=replicas, revision="1")
    rs = replicaset(d, "aaa", replicas=replicas, revision="1")
    s.added(T0, d)
    s.added(T0, rs)
    pods = [rs_pod(rs, f"p{i}") for i in range(count)]
    for p in pods:
        s.added(T0, p.obj())
    return rs, pods


def test_deletion_by_user_vs_controller() -> None:
    s = Story()
    _, pods = _rs_with_pods(s, replicas=2, count=2)
    (step,) = s.modified(T0 + 1, pods[0].delete(T0 + 1))
    assert step.actor == "user"  # leaves the ReplicaSet one pod short

    s = Story()
    rs, pods = _rs_with_pods(s, replicas=2, count=2)
    rs["spec"]["replicas"] = 1
    s.modified(T0 + 1, rs)
    (step,) = s.modified(T0 + 1.1, pods[0].delete(T0 + 1.1))
    assert step.actor == "replicaset-controller"  # a scale-down


def test_deletion_by_taint_manager_and_garbage_collector() -> None:
    s = Story()
    rs, pods = _rs_with_pods(s, replicas=2, count=2)
    s.modified(T0 + 0.5, pods[0].schedule("dead-node", T0 + 0.5))
    pods[0].disruption = "DeletionByTaintManager"
    steps = s.modified(T0 + 1, pods[0].delete(T0 + 1))
    assert brief(steps) == [
        ("DeletionRequested", pods[0].name, "taint-eviction-controller"),
        ("PodEvicted", pods[0].name, "taint-eviction-controller"),
    ]
    assert steps[0].details["disruption"] == "DeletionByTaintManager"

    rs["metadata"]["deletionTimestamp"] = "2023-11-14T22:14:00Z"
    s.modified(T0 + 2, rs)
    (step,) = s.modified(T0 + 2.1, pods[1].delete(T0 + 2.1))
    assert step.actor == "garbage-collector"


def test_user_delete_whose_replacement_arrives_in_the_same_batch_is_the_users() -> None:
    # kubectl delete pod; the ReplicaSet controller creates the replacement at once and
    # both updates reach kwatch in one watch batch: the replacement must not count.
    s = Story()
    rs, pods = _rs_with_pods(s, replicas=2, count=2)
    replacement = rs_pod(rs, "p9", created=T0 + 5)
    steps = s.apply(
        T0 + 5.2,
        s.c.at(T0 + 5.2).modified(pods[0].delete(T0 + 5)),
        s.c.added(replacement.obj()),
    )
    (deletion,) = [x for x in steps if x.step == "DeletionRequested"]
    assert (deletion.actor, deletion.details["actor_source"]) == ("user", "guess")


def test_scale_down_whose_pod_deletion_outruns_the_replicaset_update() -> None:
    # kubectl scale deployment web --replicas=1: the Deployment's update is seen, the
    # ReplicaSet's (3 → 1, another watch) not yet when its pod deletions arrive.
    s = Story()
    d = deployment(replicas=3, revision="1")
    rs = replicaset(d, "aaa", replicas=3, revision="1")
    s.added(T0, d)
    s.added(T0, rs)
    pods = [rs_pod(rs, f"p{i}") for i in range(3)]
    for p in pods:
        s.added(T0, p.obj())
    d["spec"]["replicas"] = 1
    s.modified(T0 + 1, d)
    (first,) = s.modified(T0 + 1.1, pods[0].delete(T0 + 1))
    (second,) = s.modified(T0 + 1.1, pods[1].delete(T0 + 1))
    assert (first.actor, second.actor) == ("replicaset-controller", "replicaset-controller")
    assert first.details["actor_source"] == "guess"


def test_old_replicaset_pod_deleted_mid_rollout_is_the_controllers() -> None:
    s = Story()
    d = deployment(replicas=2, revision="2")
    old = replicaset(d, "aaa", replicas=2, revision="1")
    new = replicaset(d, "bbb", replicas=1, revision="2", image="nginx:1.26")
    for obj in (d, old, new):
        s.added(T0, obj)
    old_pods = [rs_pod(old, f"p{i}") for i in range(2)]
    for p in old_pods:
        s.added(T0, p.obj())
    s.added(T0 + 1, rs_pod(new, "n0", created=T0 + 1).obj())
    # The old ReplicaSet's 2 → 1 has not arrived yet.
    (step,) = s.modified(T0 + 3, old_pods[0].delete(T0 + 3))
    assert step.actor == "replicaset-controller"

    # Nor has the Deployment's revision bump (separate watches): the new ReplicaSet of a
    # later revision says the same.
    s = Story()
    d = deployment(replicas=2, revision="1")
    old = replicaset(d, "aaa", replicas=2, revision="1")
    new = replicaset(d, "bbb", replicas=1, revision="2", image="nginx:1.26")
    for obj in (d, old, new):
        s.added(T0, obj)
    old_pods = [rs_pod(old, f"p{i}") for i in range(2)]
    for p in old_pods:
        s.added(T0, p.obj())
    (step,) = s.modified(T0 + 3, old_pods[0].delete(T0 + 3))
    assert (step.actor, step.details["actor_source"]) == ("replicaset-controller", "guess")

    # A stuck rollout does not drain the old ReplicaSet: a delete there is a user's.
    s = Story()
    d = deployment(replicas=2, revision="2")
    d["status"] = deployment_status(
        generation=1,
        replicas=3,
        updated=1,
        ready=2,
        available=2,
        progressing=("False", "ProgressDeadlineExceeded"),
    )
    old = replicaset(d, "aaa", replicas=2, revision="1")
    for obj in (d, old):
        s.added(T0, obj)
    old_pods = [rs_pod(old, f"p{i}") for i in range(2)]
    for p in old_pods:
        s.added(T0, p.obj())
    (step,) = s.modified(T0 + 3, old_pods[0].delete(T0 + 3))
    assert step.actor == "user"


def test_replicaset_status_above_spec_means_a_scale_down() -> None:
    s = Story()
    rs, pods = _rs_with_pods(s, replicas=3, count=3)
    # Two pods deleted by a 3 → 1; the second deletion is seen before the first one
    # (watch batches), the spec and the stale status already are.
    rs["spec"]["replicas"] = 1
    s.modified(T0 + 1, rs)
    (step,) = s.modified(T0 + 1.1, pods[0].delete(T0 + 1))
    assert step.actor == "replicaset-controller"


def test_deletion_actor_source() -> None:
    s = Story()
    rs, pods = _rs_with_pods(s, replicas=2, count=2)
    s.added(
        T0 + 1,
        k8s_event(
            "rs.1",
            regarding=rs,
            reason="SuccessfulDelete",
            note=f"Deleted pod: {pods[1].name}",
            controller="replicaset-controller",
        ),
    )
    (step,) = s.modified(T0 + 1, pods[1].delete(T0 + 1))
    assert (step.actor, step.details["actor_source"]) == ("replicaset-controller", "event")
    pods[0].disruption = "DeletionByTaintManager"
    steps = s.modified(T0 + 2, pods[0].delete(T0 + 2))
    assert steps[0].details["actor_source"] == "condition"
    # The kubelet's Killing Event reports the SIGTERM, not who asked for the delete.
    bare = PodSim("bare")
    s.added(T0, bare.obj())
    s.added(
        T0 + 3, k8s_event("bare.1", regarding=bare.obj(), reason="Killing", controller="kubelet")
    )
    (step,) = s.modified(T0 + 3, bare.delete(T0 + 3))
    assert (step.actor, step.details["actor_source"]) == ("user", "guess")


def test_dead_node_pod_steps_name_the_controllers() -> None:
    # The node stops heartbeating: the node lifecycle controller marks its pods not
    # Ready, the taint eviction controller deletes them, and once the operator taints
    # the node out-of-service podgc marks them Failed and force-deletes them — all as
    # kube-controller-manager on f:status. The dead kubelet writes nothing.
    s = Story()
    _, pods = _rs_with_pods(s, replicas=2, count=2)
    pod = pods[0]
    s.modified(T0 + 1, pod.schedule("dead", T0 + 1))
    s.modified(T0 + 2, pod.start(T0 + 2))
    s.modified(T0 + 3, pod.become_ready(T0 + 3))
    s.modified(T0 + 20, node("dead", ready="Unknown", reason="NodeStatusUnknown", t=T0 + 20))
    (step,) = s.modified(T0 + 20.5, pod.mark_not_ready(T0 + 20))
    assert (step.step, step.actor) == ("PodNotReady", "node-lifecycle-controller")
    pod.disruption = "DeletionByTaintManager"
    pod.write_status("kube-controller-manager", T0 + 80)
    s.modified(T0 + 80, pod.obj())
    steps = s.modified(T0 + 80.1, pod.delete(T0 + 80))
    assert brief(steps)[0] == ("DeletionRequested", pod.name, "taint-eviction-controller")
    (step,) = s.modified(T0 + 120, pod.mark_failed(T0 + 120))
    assert (step.step, step.actor) == ("PodFailed", "pod-garbage-collector")
    (gone,) = s.deleted(T0 + 120.2, pod.obj())
    assert (gone.step, gone.actor) == ("PodGone", "pod-garbage-collector")
    assert gone.details["actor_source"] == "managedFields"

    # podgc's orphan path writes its own DisruptionTarget with the Failed phase.
    other = pods[1]
    s.modified(T0 + 1, other.schedule("gone-node", T0 + 1))
    s.modified(T0 + 2, other.start(T0 + 2))
    other.disruption = "DeletionByPodGC"
    (step,) = s.modified(T0 + 130, other.mark_failed(T0 + 130))
    assert (step.step, step.actor) == ("PodFailed", "pod-garbage-collector")


def test_kubelet_status_write_in_the_same_second_as_a_controllers_is_the_kubelets() -> None:
    # managedFields times are whole seconds and the real server orders an object's
    # entries by manager name within a second: the entry *this update* changed counts.
    s = Story()
    pod = PodSim("p")
    s.added(T0, pod.obj())
    s.modified(T0 + 1, pod.schedule("n1", T0 + 1))
    s.modified(T0 + 2, pod.start(T0 + 2))
    s.modified(T0 + 3, pod.become_ready(T0 + 3))
    pod.write_status("kube-controller-manager", T0 + 10)  # e.g. a DisruptionTarget
    s.modified(T0 + 10, pod.obj())
    # Both entries carry the same second; the kubelet's comes first, as the real
    # server sorts them ("kube-controller-manager" < "kubelet").
    assert [m["manager"] for m in pod.managers][1:] == ["kubelet", "kube-controller-manager"]
    (step,) = s.modified(T0 + 10.5, pod.become_not_ready(T0 + 10))
    assert (step.step, step.actor) == ("PodNotReady", "kubelet")


def test_deletion_details_and_gone() -> None:
    s = Story()
    pod = PodSim("p", prestop={"exec": {"command": ["sh", "-c", "sleep 5"]}}, grace=40)
    s.added(T0, pod.obj())
    s.modified(T0 + 1, pod.schedule("n1", T0 + 1))
    s.modified(T0 + 2, pod.start(T0 + 2, ip="10.0.0.3"))
    s.modified(T0 + 2.2, pod.become_ready(T0 + 2.2))
    s.added(T0 + 2.5, endpointslice("web", [endpoint(pod)]))
    (step,) = s.modified(T0 + 10, pod.delete(T0 + 10, grace=20))
    assert step.step == "DeletionRequested" and step.actor == "user"
    d = step.details
    assert (d["grace_s"], d["termination_grace_s"], d["prestop"], d["prestop_s"]) == (
        20,
        40,
        "exec-sleep 5s",
        5.0,
    )
    assert d["endpoints"] == [
        {"slice": "web-abcde", "ready": True, "serving": True, "terminating": False}
    ]
    steps = s.modified(T0 + 16, pod.terminate(T0 + 16, exit_code=143, reason="Error"))
    assert names(steps) == ["ContainerTerminated", "PodNotReady"]
    assert steps[0].details == {
        "container": "app",
        "exit_code": 143,
        "reason": "Error",
        "after_deletion_s": 6.0,
    }
    assert steps[1].details["terminating"] is True
    (gone,) = s.deleted(T0 + 17, pod.obj())
    assert (gone.step, gone.actor) == ("PodGone", "kubelet")
    assert gone.details["terminating_s"] == 7.0 and gone.details["exit_codes"] == {"app": 143}


def test_container_restart_and_waiting() -> None:
    s = Story()
    pod = PodSim("p", readiness_probe=False)
    pod.schedule("n1", T0)
    s.added(T0, pod.start(T0))
    obj = pod.obj()
    cs = obj["status"]["containerStatuses"][0]
    cs.update(
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
        restartCount=1,
        ready=False,
    )
    steps = s.modified(T0 + 5, obj)
    assert names(steps) == ["ContainerRestarted", "ContainerWaiting"]
    assert steps[0].details == {
        "container": "app",
        "count": 1,
        "last_exit_code": 1,
        "last_reason": "Error",
    }
    assert steps[1].details["reason"] == "CrashLoopBackOff"


def test_unschedulable_and_resize() -> None:
    s = Story()
    pod = PodSim("p")
    obj = pod.obj()
    s.added(T0, obj)
    obj = copy.deepcopy(obj)
    obj["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient cpu.",
        }
    ]
    (step,) = s.modified(T0 + 1, obj)
    assert (step.step, step.actor) == ("PodUnschedulable", "default-scheduler")
    assert step.details["message"].startswith("0/3 nodes")

    pod.schedule("n1", T0 + 2)
    base = pod.start(T0 + 2)
    s.modified(T0 + 2, base)
    resized = copy.deepcopy(base)
    resized["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "300m", "memory": "64Mi"}}
    resized["metadata"]["managedFields"].append(
        mf("kubectl-patch", T0 + 3, ("f:spec",), subresource="resize")
    )
    (step,) = s.modified(T0 + 3, resized)
    assert (step.step, step.actor) == ("PodResized", "kubectl-patch")
    assert (step.details["from"], step.details["to"]) == (
        "cpu 100m/- mem 64Mi/-",
        "cpu 300m/- mem 64Mi/-",
    )


def test_endpoint_steps_are_about_the_pod() -> None:
    s = Story()
    a = PodSim("a", ip="10.0.0.1", node="n1")
    b = PodSim("b", ip="10.0.0.2", node="n1")
    s.added(T0, a.obj())
    s.added(T0, b.obj())
    steps = s.added(
        T0 + 1, endpointslice("web", [endpoint(a), endpoint(b, ready=False, serving=False)])
    )
    assert [(x.step, x.kind, x.name, x.uid, x.actor) for x in steps] == [
        ("EndpointAdded", "Pod", "a", a.uid, "endpointslice-controller"),
        ("EndpointAdded", "Pod", "b", b.uid, "endpointslice-controller"),
    ]
    assert steps[0].details == {
        "slice": "web-abcde",
        "service": "web",
        "addresses": ["10.0.0.1"],
        "node": "n1",
        "ready": True,
        "serving": True,
        "terminating": False,
    }
    steps = s.modified(
        T0 + 2, endpointslice("web", [endpoint(a, ready=False, serving=True, terminating=True)])
    )
    assert names(steps) == ["EndpointConditionChanged", "EndpointRemoved"]
    assert steps[0].details["from"] == {"ready": True, "serving": True, "terminating": False}
    assert steps[0].details["to"] == {"ready": False, "serving": True, "terminating": True}
    assert steps[1].name == "b" and steps[1].details["reason"] == "removed from slice"
    (gone,) = s.deleted(T0 + 3, endpointslice("web", [endpoint(a, ready=False, terminating=True)]))
    assert (gone.step, gone.name, gone.details["reason"]) == (
        "EndpointRemoved",
        "a",
        "slice deleted",
    )


def test_slice_actor_rules() -> None:
    s = Story()
    a = PodSim("a", ip="10.0.0.1")
    mirrored = endpointslice(
        "m", [endpoint(a)], managed_by="endpointslicemirroring-controller.k8s.io"
    )
    custom = endpointslice("c", [endpoint(a)], managed_by="my-operator")
    unlabeled = endpointslice("u", [endpoint(a)], managed_by="")
    unlabeled["metadata"]["labels"].pop("endpointslice.kubernetes.io/managed-by")
    actors = [s.added(T0, x)[0].actor for x in (mirrored, custom, unlabeled)]
    assert actors == [
        "endpointslicemirroring-controller",
        "my-operator",
        "endpointslice-controller",
    ]


def test_node_steps() -> None:
    s = Story()
    n = node("n1")
    (added,) = s.added(T0, n)
    assert added.step == "NodeAdded" and added.details["ready"] == "True"
    lost = node(
        "n1",
        ready="Unknown",
        reason="NodeStatusUnknown",
        heartbeat=T0 + 10,
        taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}],
    )
    steps = s.modified(T0 + 60, lost)
    assert brief(steps) == [
        ("NodeNotReady", "n1", "node-lifecycle-controller"),
        ("NodeTainted", "n1", "node-lifecycle-controller"),
    ]
    assert steps[0].details["since_heartbeat_s"] == 50.0
    cordoned = node("n1", unschedulable=True, taints=[{"key": "dedicated", "effect": "NoSchedule"}])
    cordoned["metadata"]["managedFields"] = [mf("kubectl-cordon", T0 + 70, ("f:spec",))]
    steps = s.modified(T0 + 70, cordoned)
    assert brief(steps) == [
        ("NodeReady", "n1", "kubelet"),
        ("NodeTainted", "n1", "kubectl-cordon"),
        ("NodeUntainted", "n1", "node-lifecycle-controller"),
        ("NodeCordoned", "n1", "kubectl-cordon"),
    ]


def test_leader_changed() -> None:
    s = Story()
    (first,) = s.added(T0, lease("kube-controller-manager", "cp-1_a", transitions=2))
    assert (first.step, first.details["from"], first.details["to"]) == (
        "LeaderChanged",
        "",
        "cp-1_a",
    )
    steps = s.modified(T0 + 20, lease("kube-controller-manager", "cp-2_b", transitions=3))
    assert brief(steps) == [("LeaderChanged", "kube-controller-manager", "kube-controller-manager")]
    assert steps[0].details == {
        "lease": "kube-controller-manager",
        "from": "cp-1_a",
        "to": "cp-2_b",
        "transitions": 3,
    }
    assert s.modified(T0 + 22, lease("kube-controller-manager", "cp-2_b", transitions=3)) == []


def test_events_become_steps_only_when_they_matter() -> None:
    s = Story()
    pod = PodSim("p")
    s.added(T0, pod.obj())
    note = "Marking for deletion Pod default/p"
    evict = k8s_event("p.1", regarding=pod.obj(), reason="TaintManagerEviction", note=note)
    (step,) = s.added(T0 + 1, evict)
    assert (step.step, step.kind, step.name, step.uid) == ("PodEvicted", "Pod", "p", pod.uid)
    assert step.actor == "taint-eviction-controller" and step.details["note"] == note
    warn = k8s_event(
        "p.2",
        regarding=pod.obj(),
        reason="Unhealthy",
        note="Readiness probe failed: connection refused",
        controller="kubelet",
        type_="Warning",
    )
    (step,) = s.added(T0 + 2, warn)
    assert (step.step, step.actor, step.details["reason"]) == (
        "WarningEvent",
        "kubelet",
        "Unhealthy",
    )
    normal = k8s_event("p.3", regarding=pod.obj(), reason="Pulled", controller="kubelet")
    assert s.added(T0 + 3, normal) == []


def test_service_and_workload_kinds() -> None:
    s = Story()
    svc = service()
    (step,) = s.added(T0, svc)
    assert (step.step, step.actor) == ("ServiceCreated", "kubectl-client-side-apply")
    assert step.details["selector"] == {"app": "web"} and step.details["ports"] == ["80->8080/TCP"]
    svc["spec"]["selector"] = {"app": "web", "track": "canary"}
    (step,) = s.modified(T0 + 1, svc)
    assert step.step == "ServiceUpdated" and step.details["changed"] == ["selector"]
    assert names(s.deleted(T0 + 2, svc)) == ["ServiceDeleted"]

    sts: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default", "uid": "sts", "generation": 1},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}},
        },
        "status": {"currentRevision": "db-1", "updateRevision": "db-1"},
    }
    assert names(s.added(T0, sts)) == ["StatefulSetCreated"]
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "pg:17"
    sts["metadata"]["generation"] = 2
    sts["status"]["updateRevision"] = "db-2"
    (step,) = s.modified(T0 + 1, sts)
    assert step.step == "StatefulSetUpdated" and step.details["changed"] == ["image"]
    sts["status"]["currentRevision"] = "db-2"
    assert names(s.modified(T0 + 9, sts)) == ["StatefulSetRolloutComplete"]

    ds: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds", "generation": 1},
        "spec": {"updateStrategy": {"type": "OnDelete"}},
        "status": {"desiredNumberScheduled": 2, "observedGeneration": 1},
    }
    assert names(s.added(T0, ds)) == ["DaemonSetCreated"]
    ds["status"].update(updatedNumberScheduled=2, numberAvailable=2)
    assert names(s.modified(T0 + 1, ds)) == ["DaemonSetRolloutComplete"]


def test_step_to_json_is_stable() -> None:
    step = Step(T0, "Pod", "default", "p", "u1", "kubelet", "PodReady", {"node": "n1"})
    data = step.to_json()
    assert list(data) == ["t", "actor", "step", "kind", "namespace", "name", "uid", "details"]
    assert orjson.loads(orjson.dumps(data)) == {
        "t": T0,
        "actor": "kubelet",
        "step": "PodReady",
        "kind": "Pod",
        "namespace": "default",
        "name": "p",
        "uid": "u1",
        "details": {"node": "n1"},
    }
    hash(step)  # usable in sets despite the details dict


def _ds_and_pod(template_generation: str, generation: int, pod_label: str) -> tuple[Any, Any]:
    from kwatch.core.events import EventType, KEvent
    from kwatch.core.rows import PodRow
    from kwatch.core.steps import pod_deleter
    from kwatch.core.store import Store

    ds = {
        "kind": "DaemonSet",
        "metadata": {
            "name": "agent",
            "namespace": "kube-system",
            "uid": "ds-1",
            "resourceVersion": "1",
            "generation": generation,
            "annotations": {"deprecated.daemonset.template.generation": template_generation},
        },
        "spec": {"updateStrategy": {"type": "RollingUpdate"}},
    }
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "agent-x",
            "namespace": "kube-system",
            "uid": "pod-1",
            "resourceVersion": "2",
            "labels": {"pod-template-generation": pod_label},
            "ownerReferences": [
                {"kind": "DaemonSet", "name": "agent", "uid": "ds-1", "controller": True}
            ],
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "a", "image": "x"}]},
    }
    store = Store()
    store.apply(
        [
            KEvent(0.0, "DaemonSet", EventType.ADDED, ds, "1"),
            KEvent(0.0, "Pod", EventType.ADDED, pod, "2"),
        ]
    )
    row = store.get("Pod", "kube-system/agent-x")
    assert isinstance(row, PodRow)
    return pod_deleter, (row, store)


def test_daemonset_deleter_compares_the_template_generation_not_metadata_generation() -> None:
    # A strategy-only change bumps metadata.generation but not the template generation:
    # deleting an up-to-date pod then is the user's doing, not the controller's.
    pod_deleter, (row, store) = _ds_and_pod("1", generation=2, pod_label="1")
    assert pod_deleter(row, store).actor == "user"
    # A template change: pods labelled with the old template generation are outdated.
    pod_deleter, (row, store) = _ds_and_pod("2", generation=2, pod_label="1")
    assert pod_deleter(row, store).actor == "daemonset-controller"
