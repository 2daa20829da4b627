"""Parse a request path into what it addresses, like apiserver's RequestInfoFactory."""

from __future__ import annotations

from dataclasses import dataclass

# Subresources of a namespace itself, not resources inside it: /namespaces/x/status.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True, slots=True)
class ResourcePath:
    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False  # /api/v1/watch/... (deprecated form of ?watch=true)


@dataclass(frozen=True, slots=True)
class DiscoveryPath:
    """/api, /apis, /apis/{group}, /api/v1, /apis/{group}/{version}."""

    root: str  # "api" or "apis"
    group: str = ""
    version: str = ""


def parse(path: str) -> ResourcePath | DiscoveryPath | None:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    root = parts[0]
    if root == "api":
        if len(parts) == 1:
            return DiscoveryPath("api")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) <= 2:
            return DiscoveryPath("apis", parts[1] if len(parts) == 2 else "")
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return DiscoveryPath(root, group, version)
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
        if not rest:
            return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    return ResourcePath(
        group=group,
        version=version,
        resource=rest[0],
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else "",
        subresource=rest[2] if len(rest) > 2 else "",
        legacy_watch=legacy_watch,
    )
