"""The simulated kubelet's record of a pod, and the PodStatus it reports from it.

Pure (no I/O): the pod worker mutates a `PodRecord` as containers move, and
`build_status` turns it into the ``status`` the kubelet writes to ``pods/status``,
following the real kubelet's rules (``generateAPIPodStatus`` / ``getPhase``):

- phase: Pending until initialized and every regular container has started once,
  Running while any runs (or restarts, under restartPolicy Always), and on a deleted or
  finished pod Succeeded if every container exited 0, else Failed;
- conditions PodReadyToStartContainers, Initialized, ContainersReady, Ready (with
  readiness gates), PodScheduled, and PodResizePending / PodResizeInProgress, each with
  a lastTransitionTime that moves only when its status changes; conditions owned by
  others (DisruptionTarget, readiness-gate conditions, ...) are carried over untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kwatch.core.events import JSON
from kwatch.demo.clock import Clock, parse_time
from kwatch.demo.kubelet_spec import restart_policy

AppState = Literal["not-started", "starting", "listening", "shutting-down", "exited"]
ContainerKind = Literal["init", "sidecar", "regular"]
StateName = Literal["waiting", "running", "terminated"]

# Conditions this kubelet computes; any other type in the pod's status belongs to others.
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodResizePending",
    "PodResizeInProgress",
)


@dataclass
class ContainerRecord:
    """One container as the runtime sees it (the current instance)."""

    name: str
    image: str
    kind: ContainerKind
    state: StateName = "waiting"
    reason: str = "ContainerCreating"  # waiting or terminated reason
    message: str = ""
    exit_code: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    container_id: str = ""
    image_id: str = ""
    restart_count: int = 0
    last_terminated: JSON | None = None  # lastState.terminated of the previous instance
    ready: bool = False
    started: bool = False
    resources: JSON = field(default_factory=dict)  # actuated {requests, limits}
    allocated: JSON = field(default_factory=dict)  # allocated {requests, limits}

    def terminated(self, clock: Clock) -> JSON:
        out: JSON = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": clock.rfc3339(self.started_at) if self.started_at else None,
            "finishedAt": clock.rfc3339(self.finished_at) if self.finished_at else None,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        if self.message:
            out["message"] = self.message
        return out

    def state_json(self, clock: Clock) -> JSON:
        if self.state == "running":
            return {"running": {"startedAt": clock.rfc3339(self.started_at)}}
        if self.state == "terminated":
            return {"terminated": self.terminated(clock)}
        waiting: JSON = {"reason": self.reason}
        if self.message:
            waiting["message"] = self.message
        return {"waiting": waiting}

    def to_status(self, clock: Clock) -> JSON:
        out: JSON = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state_json(clock),
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.container_id:
            out["containerID"] = self.container_id
        if self.resources:
            out["resources"] = self.resources
        if self.allocated.get("requests"):
            out["allocatedResources"] = self.allocated["requests"]
        return out

    @property
    def exited_before(self) -> bool:
        """Waiting to restart (CrashLoopBackOff), as opposed to never started."""
        return self.last_terminated is not None


@dataclass
class PodRecord:
    """Everything the kubelet knows about one of its pods."""

    host_ip: str
    init: list[ContainerRecord]
    containers: list[ContainerRecord]
    host_network: bool = False
    pod_ip: str | None = None
    start_time: float | None = None
    sandbox_ready: bool = False
    initialized: bool = False
    # Finished for good: deleted and stopped, or done under restartPolicy Never/OnFailure.
    terminal: bool = False
    # (condition type, reason, message) of an in-place resize in flight.
    resize: tuple[str, str, str] | None = None
    transitions: dict[str, tuple[str, float]] = field(default_factory=dict)

    def container(self, name: str) -> ContainerRecord | None:
        return next((c for c in [*self.init, *self.containers] if c.name == name), None)


def pod_phase(rec: PodRecord, restart_policy: str) -> str:
    """kubelet's getPhase over the regular containers."""
    if rec.init and not rec.initialized:
        return "Failed" if rec.terminal else "Pending"
    waiting = running = stopped = succeeded = 0
    for c in rec.containers:
        if c.state == "running":
            running += 1
        elif c.state == "terminated":
            stopped += 1
            succeeded += c.exit_code == 0
        elif c.exited_before:
            stopped += 1  # between restarts
        else:
            waiting += 1
    if rec.terminal:
        return "Succeeded" if stopped and stopped == succeeded and not waiting else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always" or (restart_policy == "OnFailure" and stopped != succeeded):
            return "Running"
        return "Succeeded" if stopped == succeeded else "Failed"
    return "Pending"


def _names(containers: list[ContainerRecord]) -> str:
    return "[" + " ".join(c.name for c in containers) + "]"


def _readiness_gates(pod: JSON) -> tuple[bool, str]:
    conds = {c.get("type"): c for c in pod.get("status", {}).get("conditions") or []}
    for gate in pod.get("spec", {}).get("readinessGates") or []:
        gate_type = gate.get("conditionType")
        cond = conds.get(gate_type)
        if cond is None:
            return False, (f'corresponding condition of pod readiness gate "{gate_type}" '
                           "does not exist.")
        if cond.get("status") != "True":
            return False, (f'the status of pod readiness gate "{gate_type}" is not "True", '
                           f"but {cond.get('status')}")
    return True, ""


def _owned_conditions(pod: JSON, rec: PodRecord, phase: str) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) of the kubelet's own conditions."""
    out: list[tuple[str, str, str, str]] = [
        ("PodReadyToStartContainers", str(rec.sandbox_ready), "", ""),
    ]
    pending_init = [c for c in rec.init if not rec.initialized and
                    not (c.state == "terminated" and c.exit_code == 0)
                    and not (c.kind == "sidecar" and c.started)]
    if not rec.init or rec.initialized:
        out.append(("Initialized", "True", "", ""))
    else:
        out.append(("Initialized", "False", "ContainersNotInitialized",
                    f"containers with incomplete status: {_names(pending_init)}"))
    unready = [c for c in [*rec.containers, *(i for i in rec.init if i.kind == "sidecar")]
               if not c.ready]
    completed = phase == "Succeeded"
    if completed:
        containers_ready = ("False", "PodCompleted", "")
    elif unready:
        containers_ready = ("False", "ContainersNotReady",
                            f"containers with unready status: {_names(unready)}")
    else:
        containers_ready = ("True", "", "")
    gates_ok, gates_message = _readiness_gates(pod)
    if containers_ready[0] != "True":
        ready = containers_ready
    elif not gates_ok:
        ready = ("False", "ReadinessGatesNotReady", gates_message)
    else:
        ready = ("True", "", "")
    out.append(("Ready", *ready))
    out.append(("ContainersReady", *containers_ready))
    if rec.resize is not None:
        resize_type, reason, message = rec.resize
        out.append((resize_type, "True", reason, message))
    return out


def build_status(pod: JSON, rec: PodRecord, clock: Clock) -> JSON:
    """The full ``status`` to write for `pod` (foreign conditions carried over).

    Records in `rec.transitions` when each condition last changed: a transition happens
    when the kubelet first computes the new value, as in the real status manager.
    """
    now = clock.now()
    phase = pod_phase(rec, restart_policy(pod))
    existing = {c.get("type"): c for c in pod.get("status", {}).get("conditions") or []}
    conditions: list[JSON] = []
    for type_, value, reason, message in _owned_conditions(pod, rec, phase):
        prev = rec.transitions.get(type_)
        if prev is None and existing.get(type_, {}).get("status") == value:
            # Keep what the API already says (e.g. after a status write conflict).
            was = parse_time(existing[type_].get("lastTransitionTime"))
            prev = (value, was if was is not None else now)
        if prev is None or prev[0] != value:
            prev = (value, now)
        rec.transitions[type_] = prev
        cond: JSON = {"type": type_, "status": value, "lastProbeTime": None,
                      "lastTransitionTime": clock.rfc3339(prev[1])}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        conditions.append(cond)
    for type_, cond in existing.items():
        if type_ not in KUBELET_CONDITIONS:
            conditions.append(cond)
    if "PodScheduled" not in existing:
        # A pod bound by setting spec.nodeName directly never passed a scheduler.
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": clock.rfc3339(now)})
    status: JSON = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": rec.host_ip,
        "hostIPs": [{"ip": rec.host_ip}],
        "containerStatuses": [c.to_status(clock) for c in rec.containers],
    }
    if rec.start_time is not None:
        status["startTime"] = clock.rfc3339(rec.start_time)
    if rec.init:
        status["initContainerStatuses"] = [c.to_status(clock) for c in rec.init]
    if rec.pod_ip:
        status["podIP"] = rec.pod_ip
        status["podIPs"] = [{"ip": rec.pod_ip}]
    return status
