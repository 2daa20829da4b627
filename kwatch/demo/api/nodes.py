"""Fake Node objects that look like a healthy kubelet registered them.

What a scheduler and the endpointslice controller read: Ready=True and the pressure
conditions False, InternalIP and Hostname addresses, capacity/allocatable, nodeInfo.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

KUBELET_VERSION = "v1.35.0-kwatch"


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> JSON:
    return {"type": type_, "status": status, "lastHeartbeatTime": now,
            "lastTransitionTime": now, "reason": reason, "message": message}


def fake_node(name: str, index: int, now: str) -> JSON:
    ip = f"10.0.{index // 250}.{index % 250 + 2}"
    resources = {"cpu": "4", "memory": "16318412Ki", "pods": "110",
                 "ephemeral-storage": "101445540Ki", "hugepages-2Mi": "0"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": f"10.244.{index % 256}.0/24",
                 "podCIDRs": [f"10.244.{index % 256}.0/24"]},
        "status": {
            "capacity": dict(resources),
            "allocatable": {**resources, "cpu": "3800m", "memory": "15716012Ki"},
            "conditions": [
                _condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available", now),
                _condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                           "kubelet has no disk pressure", now),
                _condition("PIDPressure", "False", "KubeletHasSufficientPID",
                           "kubelet has sufficient PID available", now),
                _condition("Ready", "True", "KubeletReady",
                           "kubelet is posting ready status", now),
            ],
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{index:032x}",
                "systemUUID": f"{index:08x}-0000-0000-0000-000000000000",
                "bootID": f"{index:08x}-1111-1111-1111-111111111111",
                "kernelVersion": "6.8.0-kwatch",
                "osImage": "kwatch simulated node",
                "containerRuntimeVersion": "containerd://2.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
