"""Fake Node objects that look like a healthy kubelet registered them.

What a scheduler and the endpointslice controller read: Ready=True and the pressure
conditions False, InternalIP and Hostname addresses, capacity/allocatable, nodeInfo.
"""

from __future__ import annotations

from typing import Any

from kwatch.demo.nodeinfo import HEALTHY_CONDITIONS, node_info, os_labels

JSON = dict[str, Any]


def fake_node(name: str, index: int, now: str) -> JSON:
    ip = f"10.0.{index // 250}.{index % 250 + 2}"
    resources = {"cpu": "4", "memory": "16318412Ki", "pods": "110",
                 "ephemeral-storage": "101445540Ki", "hugepages-2Mi": "0"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {**os_labels(name),
                       "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": f"10.244.{index % 256}.0/24",
                 "podCIDRs": [f"10.244.{index % 256}.0/24"]},
        "status": {
            "capacity": dict(resources),
            "allocatable": {**resources, "cpu": "3800m", "memory": "15716012Ki"},
            "conditions": [
                {"type": type_, "status": status, "reason": reason, "message": message,
                 "lastHeartbeatTime": now, "lastTransitionTime": now}
                for type_, status, reason, message in HEALTHY_CONDITIONS
            ],
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": node_info(
                machine_id=f"{index:032x}",
                system_uuid=f"{index:08x}-0000-0000-0000-000000000000",
                boot_id=f"{index:08x}-1111-1111-1111-111111111111",
            ),
        },
    }
