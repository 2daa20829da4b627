"""What a kubelet says about its own node when it registers and reports healthy.

Shared by the simulated kubelet (`kubelet_node`) and the API server's instant nodes
(`api.nodes.fake_node`, registered "as if a kubelet had"), so both kinds of node look
alike to the scheduler, the controllers and kwatch. A leaf module: the API server side
may import it without pulling in the kubelet.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

KUBELET_VERSION = "v1.35.0"

# (type, status, reason, message) exactly as the real kubelet's setters report them.
HEALTHY_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def os_labels(name: str) -> dict[str, str]:
    """The well-known labels the kubelet sets on its Node (node selectors use them)."""
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }


def node_info(*, machine_id: str, system_uuid: str, boot_id: str) -> JSON:
    """status.nodeInfo (what `kubectl get nodes -o wide` shows)."""
    return {
        "machineID": machine_id,
        "systemUUID": system_uuid,
        "bootID": boot_id,
        "kernelVersion": "6.8.0-kwatch",
        "osImage": "kwatch simulated node",
        "containerRuntimeVersion": "containerd://2.1.0",
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "",
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
