"""The simulated kubelet against the embedded API server, over real HTTPS.

Times are simulated seconds (Clock speed 20: one simulated second is 50 ms of wall
time); the assertions leave room for HTTP round trips, which cost simulated time too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, LEASE, NODE, POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import ApiError, Informer, KubeClient, client_from_kubeconfig
from kwatch.demo.clock import Clock, parse_time
from kwatch.demo.kubelet import Kubelet
from kwatch.demo.kubelet_spec import prestop_seconds, probe_spec
from kwatch.demo.kubelet_status import ContainerRecord, PodRecord, build_status, pod_phase

NS = "default"
NODE_NAME = "node-a"
SPEED = 20.0


@dataclass
class Cluster:
    server: DemoApiServer
    client: KubeClient
    clock: Clock
    kubelet: Kubelet


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    clock = Clock(speed=SPEED)
    server = DemoApiServer(tls=True, clock=clock.now)
    await server.start()
    client = client_from_kubeconfig(server.kubeconfig(), user_agent="kwatch-test/1.0")
    kubelet = Kubelet(client, clock, NODE_NAME, pod_cidr_index=1, heartbeat_interval=2.0,
                      backoff_initial=2.0, backoff_max=8.0)
    kubelet.start()
    try:
        await asyncio.wait_for(kubelet.registered.wait(), 5)
        await asyncio.wait_for(kubelet.pods.synced.wait(), 5)
        yield Cluster(server, client, clock, kubelet)
    finally:
        await kubelet.stop()
        await client.session.close()
        await server.stop()


async def eventually(check: Callable[[], Any], within: float = 2.0) -> Any:
    """Poll an async or sync check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.005)


@dataclass
class Timeline:
    """Every version of one pod as a watcher saw it, with the simulated time seen."""

    clock: Clock
    seen: list[tuple[float, str, JSON]] = field(default_factory=list)

    def handler(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        self.seen.append((self.clock.now(), type_, new if new is not None else old or {}))

    def first(self, pred: Callable[[JSON], bool]) -> tuple[int, float, JSON]:
        for i, (t, type_, pod) in enumerate(self.seen):
            if type_ != "DELETED" and pred(pod):
                return i, t, pod
        raise AssertionError("no such pod version")

    def index(self, type_: str) -> int | None:
        return next((i for i, (_, t, _p) in enumerate(self.seen) if t == type_), None)


@pytest.fixture
async def timeline(cluster: Cluster) -> AsyncIterator[Timeline]:
    tl = Timeline(cluster.clock)
    informer = Informer(cluster.client, POD, tl.handler, namespace=NS)
    informer.start()
    await informer.synced.wait()
    try:
        yield tl
    finally:
        await informer.stop()


def pod_body(name: str, container: JSON | None = None, annotations: dict[str, str] | None = None,
             **spec: Any) -> JSON:
    app: JSON = {"name": "app", "image": "nginx:1.27",
                 "ports": [{"name": "http", "containerPort": 8080}], **(container or {})}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"nodeName": NODE_NAME, "containers": [app], **spec}}


async def create(c: Cluster, body: JSON) -> JSON:
    return await c.client.create(POD.collection_path(NS), body)


async def get_pod(c: Cluster, name: str) -> JSON | None:
    return await c.client.get(f"{POD.collection_path(NS)}/{name}")


def cond(pod: JSON, type_: str) -> JSON:
    return next((x for x in pod.get("status", {}).get("conditions") or []
                 if x["type"] == type_), {})


def is_ready(pod: JSON) -> bool:
    return cond(pod, "Ready").get("status") == "True"


def container(pod: JSON, i: int = 0) -> JSON:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return statuses[i] if i < len(statuses) else {}


def state_of(pod: JSON) -> str:
    return str(next(iter(container(pod).get("state") or {"none": 0})))


async def ready_pod(c: Cluster, name: str) -> JSON:
    async def check() -> JSON | None:
        pod = await get_pod(c, name)
        return pod if pod is not None and is_ready(pod) else None

    result: JSON = await eventually(check)
    return result


async def events_for(c: Cluster, name: str) -> list[JSON]:
    await c.kubelet.env.recorder.flush()
    items, _ = await c.client.list(EVENT.collection_path(NS))
    out = [e for e in items if e["regarding"].get("name") == name]
    return sorted(out, key=lambda e: e["eventTime"])


# -- node registration and heartbeats ------------------------------------------------------


async def node_and_lease(c: Cluster) -> tuple[JSON, JSON]:
    node = await c.client.get(f"{NODE.collection_path()}/{NODE_NAME}")
    lease = await c.client.get(f"{LEASE.collection_path('kube-node-lease')}/{NODE_NAME}")
    assert node is not None and lease is not None
    return node, lease


def heartbeat(node: JSON) -> str:
    return str(cond(node, "Ready")["lastHeartbeatTime"])


async def test_registers_node_and_lease_and_heartbeats(cluster: Cluster) -> None:
    node, lease = await node_and_lease(cluster)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE_NAME
    assert labels["kubernetes.io/os"] == "linux"
    assert node["spec"]["podCIDR"] == cluster.kubelet.pod_cidr == "10.244.1.0/24"
    status = node["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "MemoryPressure": "False", "DiskPressure": "False",
        "PIDPressure": "False"}
    assert cond(node, "Ready")["reason"] == "KubeletReady"
    assert {"type": "InternalIP", "address": cluster.kubelet.node_ip} in status["addresses"]
    assert {"type": "Hostname", "address": NODE_NAME} in status["addresses"]
    assert status["capacity"]["pods"] == status["allocatable"]["pods"] == "110"
    assert status["nodeInfo"]["kubeletVersion"] == "v1.35.0"
    assert {m["manager"] for m in node["metadata"]["managedFields"]} == {"kubelet"}

    assert lease["spec"]["holderIdentity"] == NODE_NAME
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]

    # Heartbeats every 2 simulated seconds move both the Lease and the Ready heartbeat.
    await asyncio.sleep(cluster.clock.wall_seconds(5))
    node2, lease2 = await node_and_lease(cluster)
    assert lease2["spec"]["renewTime"] > lease["spec"]["renewTime"]
    assert heartbeat(node2) > heartbeat(node)
    assert cond(node2, "Ready")["lastTransitionTime"] == cond(node, "Ready")["lastTransitionTime"]

    reasons = [e["reason"] for e in await events_for(cluster, NODE_NAME)]
    assert reasons[0] == "Starting" and "NodeReady" in reasons


async def test_stop_heartbeats_freezes_the_node_and_its_pods(cluster: Cluster) -> None:
    k = cluster.kubelet
    uid = (await create(cluster, pod_body("web", annotations={
        "kwatch.dev/startup-seconds": "0"})))["metadata"]["uid"]
    pod = await ready_pod(cluster, "web")
    ip = pod["status"]["podIP"]
    await eventually(lambda: k.listening(ip))

    await k.stop_heartbeats()
    assert not k.alive and not k.listening(ip)  # the host is unreachable
    node, lease = await node_and_lease(cluster)
    await cluster.client.delete(f"{POD.collection_path(NS)}/web")
    await asyncio.sleep(cluster.clock.wall_seconds(8))
    node2, lease2 = await node_and_lease(cluster)
    assert heartbeat(node2) == heartbeat(node)
    assert lease2["spec"]["renewTime"] == lease["spec"]["renewTime"]
    # A dead kubelet does not act on the deletion: the pod stays, terminating.
    terminating = await get_pod(cluster, "web")
    assert terminating is not None and terminating["metadata"].get("deletionTimestamp")
    assert state_of(terminating) == "running" and k.app_state(uid) == "listening"

    await k.resume_heartbeats()
    await eventually(lambda: _gone(cluster, "web"))
    assert k.app_state(uid) == "exited"
    _, lease3 = await node_and_lease(cluster)
    assert lease3["spec"]["renewTime"] > lease2["spec"]["renewTime"]


async def _gone(c: Cluster, name: str) -> bool:
    return await get_pod(c, name) is None


async def test_adopts_a_registered_node(cluster: Cluster) -> None:
    [name] = cluster.server.add_nodes(1)
    node = await cluster.client.get(f"{NODE.collection_path()}/{name}")
    assert node is not None
    cidr = node["spec"]["podCIDR"]
    other = Kubelet(cluster.client, cluster.clock, name, pod_cidr_index=7, register=False,
                    heartbeat_interval=2.0)
    other.start()
    try:
        await asyncio.wait_for(other.registered.wait(), 2)
        assert other.pod_cidr == cidr  # the node's range wins over the index
        body = pod_body("adopted", annotations={"kwatch.dev/startup-seconds": "0"})
        body["spec"]["nodeName"] = name
        await create(cluster, body)
        pod = await ready_pod(cluster, "adopted")
        assert pod["status"]["podIP"].startswith(cidr.rsplit(".", 2)[0] + ".")
        assert pod["status"]["hostIP"] == other.node_ip
        lease = await cluster.client.get(f"{LEASE.collection_path('kube-node-lease')}/{name}")
        assert lease is not None and lease["spec"]["holderIdentity"] == name
    finally:
        await other.stop()


# -- start-up and readiness ----------------------------------------------------------------


async def test_without_readiness_probe_ready_before_the_app_listens(
    cluster: Cluster, timeline: Timeline
) -> None:
    k = cluster.kubelet
    uid = (await create(cluster, pod_body("web", annotations={
        "kwatch.dev/startup-seconds": "4"})))["metadata"]["uid"]
    pod = await ready_pod(cluster, "web")
    t_ready = cluster.clock.now()
    ip = pod["status"]["podIP"]
    # The lab-1 race: Ready (so in the endpoints) while nothing listens yet.
    assert k.app_state(uid) == "starting"
    assert not k.listening(ip)
    await eventually(lambda: k.listening(ip))
    gap = cluster.clock.now() - t_ready
    assert 3.0 <= gap <= 5.0
    assert k.app_state(uid) == "listening"

    # What the kubelet wrote, in order.
    i_pending, _, pending = timeline.first(lambda p: bool(p.get("status", {}).get("hostIP")))
    assert pending["status"]["phase"] == "Pending"
    assert container(pending)["state"]["waiting"]["reason"] == "ContainerCreating"
    assert pending["status"]["startTime"]
    assert "podIP" not in pending["status"]
    assert cond(pending, "Initialized")["status"] == "True"
    i_ip, _, with_ip = timeline.first(lambda p: bool(p.get("status", {}).get("podIP")))
    assert with_ip["status"]["podIP"].startswith("10.244.1.")
    assert cond(with_ip, "PodReadyToStartContainers")["status"] == "True"
    assert state_of(with_ip) == "waiting"
    i_running, _, running = timeline.first(lambda p: state_of(p) == "running")
    assert i_pending < i_ip < i_running
    # Running and Ready in the same write: no probe, no wait.
    assert running["status"]["phase"] == "Running" and is_ready(running)
    assert container(running)["started"] is True and container(running)["ready"] is True
    managers = {m["manager"] for m in running["metadata"]["managedFields"]}
    assert "kubelet" in managers

    events = await events_for(cluster, "web")
    kubelet_events = [e for e in events if e["reportingController"] == "kubelet"]
    assert [e["reason"] for e in kubelet_events] == ["Pulled", "Created", "Started"]
    assert all(e["reportingInstance"] == NODE_NAME for e in kubelet_events)
    assert kubelet_events[0]["regarding"]["fieldPath"] == "spec.containers{app}"


@pytest.mark.parametrize(("startup", "initial_delay", "min_gap"), [(3, 1, 2.5), (1, 5, 4.5)])
async def test_readiness_probe_gates_ready(
    cluster: Cluster, timeline: Timeline, startup: int, initial_delay: int, min_gap: float
) -> None:
    k = cluster.kubelet
    probe = {"httpGet": {"path": "/healthz", "port": "http"},
             "initialDelaySeconds": initial_delay, "periodSeconds": 1}
    await create(cluster, pod_body("web", {"readinessProbe": probe}, annotations={
        "kwatch.dev/startup-seconds": str(startup)}))
    pod = await ready_pod(cluster, "web")
    # Ready only once the app listens *and* the probe has run.
    assert k.listening(pod["status"]["podIP"])
    _, t_running, running = timeline.first(lambda p: state_of(p) == "running")
    _, t_ready, _ = timeline.first(is_ready)
    assert not is_ready(running) and container(running)["ready"] is False
    assert t_ready - t_running >= min_gap
    if startup > initial_delay:  # the probe ran while the app was still starting
        notes = [e["note"] for e in await events_for(cluster, "web") if e["reason"] == "Unhealthy"]
        ip = pod["status"]["podIP"]
        assert notes[0] == (f'Readiness probe failed: Get "http://{ip}:8080/healthz": '
                            f"dial tcp {ip}:8080: connect: connection refused")


# -- graceful termination ------------------------------------------------------------------


@pytest.mark.parametrize("pre_stop", [
    {"exec": {"command": ["sleep", "4"]}},
    {"exec": {"command": ["/bin/sh", "-c", "sleep 4"]}},
    {"sleep": {"seconds": 4}},
    None,
], ids=["exec-sleep", "sh-c-sleep", "native-sleep", "no-hook"])
async def test_graceful_deletion(
    cluster: Cluster, timeline: Timeline, pre_stop: JSON | None
) -> None:
    k = cluster.kubelet
    extra = {"lifecycle": {"preStop": pre_stop}} if pre_stop else {}
    created = await create(cluster, pod_body("web", extra, annotations={
        "kwatch.dev/startup-seconds": "0", "kwatch.dev/shutdown-seconds": "1"},
        terminationGracePeriodSeconds=30))
    uid = created["metadata"]["uid"]
    pod = await ready_pod(cluster, "web")
    ip = pod["status"]["podIP"]
    await eventually(lambda: k.listening(ip))

    t_delete = cluster.clock.now()
    await cluster.client.delete(f"{POD.collection_path(NS)}/web")
    await eventually(lambda: not k.listening(ip))
    t_closed = cluster.clock.now()
    await eventually(lambda: _gone(cluster, "web"))
    t_gone = cluster.clock.now()
    hook = 4.0 if pre_stop else 0.0
    # preStop: the app keeps serving; then SIGTERM closes the listener.
    assert hook - 0.5 <= t_closed - t_delete <= hook + 1.0
    assert hook + 1.0 <= t_gone - t_delete <= hook + 3.0
    assert k.app_state(uid) == "exited"

    # The order of what the watcher saw: deletion (still Ready), terminated, gone.
    i_del, _, deleting = timeline.first(lambda p: bool(p["metadata"].get("deletionTimestamp")))
    assert is_ready(deleting) and state_of(deleting) == "running"
    i_term, _, term = timeline.first(lambda p: state_of(p) == "terminated")
    i_gone = await eventually(lambda: timeline.index("DELETED"))
    assert i_del < i_term < i_gone
    for _, _, p in timeline.seen[i_del:i_term]:
        assert is_ready(p)  # no readiness probe: Ready until the container is gone
    terminated = container(term)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert not is_ready(term)
    _, _, final = timeline.first(lambda p: p["status"].get("phase") == "Succeeded")
    assert cond(final, "ContainersReady")["reason"] == "PodCompleted"
    events = await events_for(cluster, "web")
    assert [e["note"] for e in events if e["reason"] == "Killing"] == ["Stopping container app"]


async def test_sigkill_when_the_grace_period_is_too_short(
    cluster: Cluster, timeline: Timeline
) -> None:
    await create(cluster, pod_body(
        "web", {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}},
        annotations={"kwatch.dev/startup-seconds": "0", "kwatch.dev/shutdown-seconds": "4"},
        terminationGracePeriodSeconds=5))
    await ready_pod(cluster, "web")
    t_delete = cluster.clock.now()
    await cluster.client.delete(f"{POD.collection_path(NS)}/web")
    await eventually(lambda: _gone(cluster, "web"))
    _, t_term, term = timeline.first(lambda p: state_of(p) == "terminated")
    terminated = container(term)["state"]["terminated"]
    # 3 s preStop + 4 s shutdown do not fit in 5 s: SIGKILL at the grace period.
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    assert 4.5 <= t_term - t_delete <= 6.5
    _, _, final = timeline.first(lambda p: p["status"].get("phase") == "Failed")
    assert not is_ready(final)


# -- restarts ------------------------------------------------------------------------------


async def test_crash_restarts_with_backoff(cluster: Cluster, timeline: Timeline) -> None:
    created = await create(cluster, pod_body("crashy", annotations={
        "kwatch.dev/startup-seconds": "0.2", "kwatch.dev/crash-after-seconds": "1"}))
    uid = created["metadata"]["uid"]

    async def restarted_twice() -> JSON | None:
        pod = await get_pod(cluster, "crashy")
        return pod if pod and container(pod).get("restartCount", 0) >= 2 else None

    pod = await eventually(restarted_twice)
    last = container(pod)["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    assert pod["status"]["phase"] == "Running"
    counts = [container(p).get("restartCount", 0) for _, t, p in timeline.seen if t != "DELETED"]
    assert counts == sorted(counts)  # never goes back
    # The first restart is immediate, the second waits in CrashLoopBackOff.
    _, _, backoff = timeline.first(
        lambda p: container(p).get("state", {}).get("waiting", {}).get("reason")
        == "CrashLoopBackOff")
    waiting = container(backoff)["state"]["waiting"]
    assert waiting["message"] == (
        f"back-off 2s restarting failed container=app pod=crashy_default({uid})")
    assert container(backoff)["restartCount"] == 1
    assert backoff["status"]["phase"] == "Running"
    assert not is_ready(backoff)
    events = await events_for(cluster, "crashy")
    backoffs = [e for e in events if e["reason"] == "BackOff"]
    assert backoffs and backoffs[0]["type"] == "Warning"


async def test_crash_with_restart_policy_never_fails_the_pod(cluster: Cluster) -> None:
    await create(cluster, pod_body("once", annotations={
        "kwatch.dev/startup-seconds": "0", "kwatch.dev/crash-after-seconds": "1"},
        restartPolicy="Never"))

    async def failed() -> JSON | None:
        pod = await get_pod(cluster, "once")
        return pod if pod and pod["status"].get("phase") == "Failed" else None

    pod = await eventually(failed)
    assert container(pod)["restartCount"] == 0
    assert container(pod)["state"]["terminated"]["exitCode"] == 1
    await asyncio.sleep(cluster.clock.wall_seconds(3))
    pod = await get_pod(cluster, "once")
    assert pod is not None and container(pod)["restartCount"] == 0  # and it stays


async def test_liveness_probe_restarts_a_slow_starting_app(cluster: Cluster) -> None:
    # The app needs 30 s to listen; liveness gives up after 1 + 2 * 1 s: a restart loop.
    probe = {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 1, "periodSeconds": 1,
             "failureThreshold": 2}
    await create(cluster, pod_body("slow", {"livenessProbe": probe}, annotations={
        "kwatch.dev/startup-seconds": "30", "kwatch.dev/shutdown-seconds": "0.5"}))

    async def restarted() -> JSON | None:
        pod = await get_pod(cluster, "slow")
        return pod if pod and container(pod).get("restartCount", 0) >= 1 else None

    pod = await eventually(restarted)
    last = container(pod)["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (0, "Completed")  # SIGTERM, clean exit
    notes = [(e["reason"], e["note"]) for e in await events_for(cluster, "slow")]
    assert ("Killing", "Container app failed liveness probe, will be restarted") in notes
    assert any(r == "Unhealthy" and n.startswith("Liveness probe failed: dial tcp ")
               for r, n in notes)


# -- init containers -----------------------------------------------------------------------


async def test_init_containers_run_before_containers(
    cluster: Cluster, timeline: Timeline
) -> None:
    await create(cluster, pod_body(
        "web", annotations={"kwatch.dev/init-seconds": "1", "kwatch.dev/startup-seconds": "0"},
        initContainers=[
            {"name": "migrate", "image": "busybox"},
            {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
        ]))
    pod = await ready_pod(cluster, "web")
    init = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
    assert init["migrate"]["state"]["terminated"]["reason"] == "Completed"
    assert "running" in init["proxy"]["state"]  # the native sidecar keeps running

    i_uninit, _, uninit = timeline.first(lambda p: bool(p.get("status", {}).get("hostIP")))
    assert cond(uninit, "Initialized")["status"] == "False"
    assert cond(uninit, "Initialized")["message"] == (
        "containers with incomplete status: [migrate proxy]")
    assert uninit["status"]["phase"] == "Pending"
    i_init, _, _ = timeline.first(lambda p: cond(p, "Initialized").get("status") == "True")
    i_run, _, _ = timeline.first(lambda p: state_of(p) == "running")
    assert i_uninit < i_init <= i_run


# -- in-place resize -----------------------------------------------------------------------


async def test_in_place_resize_without_restart(cluster: Cluster, timeline: Timeline) -> None:
    resources = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}
    await create(cluster, pod_body("web", {"resources": resources},
                                   annotations={"kwatch.dev/startup-seconds": "0"}))
    before = container(await ready_pod(cluster, "web"))
    assert before["resources"] == resources
    assert before["allocatedResources"] == resources["requests"]

    wanted = {"requests": {"cpu": "300m", "memory": "64Mi"}, "limits": {"cpu": "400m"}}
    await cluster.client.patch(
        f"{POD.collection_path(NS)}/web/resize",
        {"spec": {"containers": [{"name": "app", "resources": wanted}]}}, "strategic")

    async def resized() -> JSON | None:
        pod = await get_pod(cluster, "web")
        ok = pod and container(pod).get("resources") == wanted and not cond(
            pod, "PodResizeInProgress")
        return pod if ok else None

    after = container(await eventually(resized))
    assert after["allocatedResources"] == wanted["requests"]
    assert after["restartCount"] == 0 and after["containerID"] == before["containerID"]
    _, _, in_progress = timeline.first(
        lambda p: cond(p, "PodResizeInProgress").get("status") == "True")
    assert container(in_progress)["allocatedResources"] == wanted["requests"]
    assert container(in_progress)["resources"] == resources  # not actuated yet
    assert is_ready(in_progress)


async def test_infeasible_resize_never_reaches_the_kubelet(cluster: Cluster) -> None:
    """v1.36's PodResizeValidator refuses it at the API server: the kubelet's own
    Infeasible check (kept, as a real kubelet keeps it) has nothing to report."""
    await create(cluster, pod_body("web", {"resources": {"requests": {"cpu": "1"}}},
                                   annotations={"kwatch.dev/startup-seconds": "0"}))
    await ready_pod(cluster, "web")
    with pytest.raises(ApiError) as err:
        await cluster.client.patch(
            f"{POD.collection_path(NS)}/web/resize",
            {"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "64"}}}]}},
            "strategic")
    assert err.value.code == 403 and "cpu, requested: 64000" in err.value.message
    pod = await get_pod(cluster, "web")
    assert not cond(pod or {}, "PodResizePending")


# -- pure rules ----------------------------------------------------------------------------


def test_prestop_durations() -> None:
    def hook(h: JSON) -> float | None:
        return prestop_seconds({"lifecycle": {"preStop": h}})

    assert prestop_seconds({}) is None
    assert hook({"sleep": {"seconds": 7}}) == 7
    assert hook({"exec": {"command": ["/bin/sleep", "4"]}}) == 4
    assert hook({"exec": {"command": ["sh", "-c", "nginx -s quit; sleep 5 && sleep 2"]}}) == 7
    assert hook({"exec": {"command": ["/bin/sh", "-c", "echo bye"]}}) == 0
    assert hook({"httpGet": {"path": "/drain", "port": 80}}) == 0


def test_probe_defaults_and_messages() -> None:
    spec = probe_spec({"ports": [{"name": "grpc", "containerPort": 9000}],
                       "livenessProbe": {"grpc": {"port": 9000}}}, "liveness")
    assert spec is not None
    assert (spec.initial_delay, spec.period, spec.success_threshold, spec.failure_threshold) == (
        0, 10, 1, 3)
    assert spec.failure("10.0.0.5") == (
        'Liveness probe failed: timeout: failed to connect service "10.0.0.5:9000" within 1s')
    tcp = probe_spec({"ports": [{"name": "http", "containerPort": 80}],
                      "readinessProbe": {"tcpSocket": {"port": "http"}}}, "readiness")
    assert tcp is not None
    assert tcp.failure("10.0.0.5") == (
        "Readiness probe failed: dial tcp 10.0.0.5:80: connect: connection refused")
    assert probe_spec({}, "startup") is None


def _rec(*states: tuple[str, int, bool]) -> PodRecord:
    containers = []
    for i, (state, code, crashed_before) in enumerate(states):
        c = ContainerRecord(name=f"c{i}", image="x", kind="regular", state=state,  # type: ignore[arg-type]
                            exit_code=code)
        if crashed_before:
            c.last_terminated = {"exitCode": 1}
        containers.append(c)
    return PodRecord(host_ip="172.18.0.2", init=[], containers=containers)


def test_pod_phase_follows_get_phase() -> None:
    assert pod_phase(_rec(("waiting", 0, False)), "Always") == "Pending"
    assert pod_phase(_rec(("running", 0, False)), "Always") == "Running"
    assert pod_phase(_rec(("waiting", 1, True)), "Always") == "Running"  # CrashLoopBackOff
    assert pod_phase(_rec(("terminated", 0, False)), "Never") == "Succeeded"
    assert pod_phase(_rec(("terminated", 1, False)), "Never") == "Failed"
    assert pod_phase(_rec(("terminated", 1, False)), "OnFailure") == "Running"
    done = _rec(("terminated", 0, False), ("terminated", 137, False))
    done.terminal = True
    assert pod_phase(done, "Always") == "Failed"


def test_readiness_gates_hold_ready_back() -> None:
    clock = Clock(speed=1)
    rec = _rec(("running", 0, False))
    rec.containers[0].ready = True
    pod: JSON = {"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]},
                 "status": {"conditions": []}}
    status = build_status(pod, rec, clock)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")
    gate = {"type": "example.com/lb", "status": "True"}
    pod["status"]["conditions"] = [gate]
    status = build_status(pod, rec, clock)
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"
    assert gate in status["conditions"]  # someone else's condition is carried over
    assert parse_time(status["conditions"][0]["lastTransitionTime"]) is not None
