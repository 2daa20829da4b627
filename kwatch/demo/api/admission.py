"""Admission checks the real kube-apiserver runs that the demo needs to match.

PodResizeValidator (on by default since v1.36): a pods/resize write whose new pod-level
requests exceed what the pod's node can ever offer (its allocatable, ignoring the other
pods) is refused up front with 403 Forbidden, cause NodeCapacity, instead of being stored
and left to the kubelet to report PodResizePending/Infeasible. A resize that fits the
allocatable but not what is currently free still passes: the kubelet reports it Deferred.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kwatch.demo.api.errors import ApiError
from kwatch.demo.kubelet_spec import parse_quantity

if TYPE_CHECKING:
    from kwatch.demo.api.storage import Storage

JSON = dict[str, Any]
# The order the real message lists resources in (then the rest, alphabetically).
_FIRST = ("cpu", "memory", "ephemeral-storage")


def _add(total: dict[str, float], requests: JSON) -> None:
    for name, value in requests.items():
        total[name] = total.get(name, 0.0) + parse_quantity(value)


def _requests(container: JSON) -> JSON:
    return dict((container.get("resources") or {}).get("requests") or {})


def pod_requests(spec: JSON) -> dict[str, float]:
    """The pod's effective requests, as the scheduler counts them: the app containers and
    restartable (sidecar) init containers together, or the largest one-shot init container
    (plus the sidecars started before it) if that is more, plus the pod overhead."""
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        _add(total, _requests(c))
    sidecars: dict[str, float] = {}
    init_peak: dict[str, float] = {}
    for c in spec.get("initContainers") or []:
        if c.get("restartPolicy") == "Always":
            _add(sidecars, _requests(c))
            continue
        during: dict[str, float] = dict(sidecars)
        _add(during, _requests(c))
        for name, value in during.items():
            init_peak[name] = max(init_peak.get(name, 0.0), value)
    _add(total, sidecars)
    for name, value in init_peak.items():
        total[name] = max(total.get(name, 0.0), value)
    _add(total, dict(spec.get("overhead") or {}))
    return total


def _amount(name: str, value: float) -> int:
    # The real message prints CPU in millicores and everything else in base units.
    return round(value * 1000) if name == "cpu" else round(value)


def _ordered(names: Iterable[str]) -> list[str]:
    rest = sorted(n for n in names if n not in _FIRST)
    return [n for n in _FIRST if n in names] + rest


def check_resize(storage: Storage, pod: JSON) -> None:
    """PodResizeValidator: refuse a resize the pod's node cannot fit even when empty."""
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        return  # not bound yet: nothing to compare with (the scheduler will decide)
    node = storage.collection(storage.resolve("nodes")).get(str(node_name))
    if node is None:
        return
    allocatable: JSON = (node.obj().get("status") or {}).get("allocatable") or {}
    wanted = pod_requests(pod.get("spec") or {})
    short: list[str] = []
    for name in _ordered(wanted):
        # A resource the node does not list is left alone (extended resources are not
        # modelled by the demo's nodes).
        if name not in allocatable:
            continue
        have = parse_quantity(allocatable[name])
        if wanted[name] > have:
            short.append(f"{name}, requested: {_amount(name, wanted[name])}, "
                         f"allocatable: {_amount(name, have)}")
    if short:
        name = str((pod.get("metadata") or {}).get("name") or "")
        raise ApiError(
            "Forbidden",
            f'pods "{name}" is forbidden: node didn\'t have enough allocatable resources: '
            + "; ".join(short),
            details={"name": name, "kind": "pods", "causes": [{"reason": "NodeCapacity"}]})
