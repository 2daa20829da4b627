"""Service ClusterIP and NodePort allocation, like the real registry's allocators."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any


class AllocationError(ValueError):
    pass


class ServiceIPAllocator:
    """Hands out addresses of `cidr` (10.96.0.0/12 by default), lowest free first.

    The first host address (10.96.0.1) is reserved for the `kubernetes` Service, as in
    every real cluster.
    """

    def __init__(self, cidr: str = "10.96.0.0/12") -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self._used: set[int] = set()
        self._next = 2  # offsets into the network; 0 is the network, 1 is reserved
        self._size = self.network.num_addresses - 1  # minus the broadcast address

    def _offset(self, ip: str) -> int:
        try:
            addr = ipaddress.IPv4Address(ip)
        except ipaddress.AddressValueError:
            raise AllocationError(f"{ip!r} is not a valid IP address") from None
        if addr not in self.network:
            raise AllocationError(
                f"the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self.network}"
            )
        return int(addr) - int(self.network.network_address)

    def allocate(self, ip: str | None = None) -> str:
        if ip:
            off = self._offset(ip)
            if off in self._used:
                raise AllocationError(
                    f"failed to allocate IP {ip}: provided IP is already allocated")
            self._used.add(off)
            return ip
        for _ in range(self._size):
            off = self._next
            self._next = self._next + 1 if self._next + 1 < self._size else 1
            if off not in self._used:
                self._used.add(off)
                return str(self.network.network_address + off)
        raise AllocationError("range is full")

    def release(self, ip: str | None) -> None:
        if not ip or ip == "None":
            return
        with contextlib.suppress(AllocationError):
            self._used.discard(self._offset(ip))


class NodePortAllocator:
    def __init__(self, low: int = 30000, high: int = 32767) -> None:
        self.low, self.high = low, high
        self._used: set[int] = set()
        self._next = low

    def allocate(self, port: int | None = None) -> int:
        if port:
            if not self.low <= port <= self.high or port in self._used:
                raise AllocationError(f"provided port {port} is not available")
            self._used.add(port)
            return port
        for _ in range(self.high - self.low + 1):
            p = self._next
            self._next = p + 1 if p < self.high else self.low
            if p not in self._used:
                self._used.add(p)
                return p
        raise AllocationError("range is full")

    def release(self, port: int | None) -> None:
        if port:
            self._used.discard(port)


class ServiceAllocations:
    """ClusterIPs and NodePorts of Services, kept across create/update/delete."""

    def __init__(self) -> None:
        self.ips = ServiceIPAllocator()
        self.node_ports = NodePortAllocator()

    def on_create(self, spec: dict[str, Any]) -> None:
        """Allocate what `spec` asks for; raises AllocationError (a 422) when taken."""
        stype = spec.get("type", "ClusterIP")
        if stype != "ExternalName" and spec.get("clusterIP") != "None":
            ip = self.ips.allocate(spec.get("clusterIP") or None)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        if stype in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                port["nodePort"] = self.node_ports.allocate(port.get("nodePort"))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Keep allocated values a PUT left out (the real server patches them back in)."""
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key in old and not new.get(key):
                new[key] = old[key]
        old_ports = {p.get("port"): p.get("nodePort") for p in old.get("ports") or []}
        for port in new.get("ports") or []:
            if not port.get("nodePort") and old_ports.get(port.get("port")):
                port["nodePort"] = old_ports[port.get("port")]

    def on_delete(self, spec: dict[str, Any]) -> None:
        self.ips.release(spec.get("clusterIP"))
        for port in spec.get("ports") or []:
            self.node_ports.release(port.get("nodePort"))
