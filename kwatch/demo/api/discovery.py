"""Discovery documents: /version, /api, /apis, /api/v1, /apis/{group}/{version}.

kubectl and client-go's RESTMapper read these to map `kubectl get deploy` to
/apis/apps/v1/deployments, so names, short names, verbs and subresources must be right.
"""

from __future__ import annotations

import platform
from typing import Any

from kwatch.demo.api.registry import VERBS, Registry, ResourceDef

JSON = dict[str, Any]

GIT_VERSION = "v1.35.0-kwatch"

# name -> (group, version, kind, verbs) of each subresource's own type.
_SUBRESOURCES: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "status": ("", "", None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "resize": ("", "", None, ("get", "patch", "update")),
    "finalize": ("", "", None, ("update",)),
}


def version_info() -> JSON:
    major, minor = GIT_VERSION[1:].split(".")[:2]
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": f"{platform.system().lower()}/{arch}",
    }


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> JSON:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _named_groups(registry: Registry) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for g, v in registry.groups():
        if g:
            groups.setdefault(g, []).append(v)
    return groups


def api_group_list(registry: Registry) -> JSON:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g, vs) for g, vs in _named_groups(registry).items()],
    }


def api_group(registry: Registry, group: str) -> JSON | None:
    versions = _named_groups(registry).get(group)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource(r: ResourceDef) -> JSON:
    out: JSON = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(VERBS),
    }
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    return out


def _subresource(r: ResourceDef, sub: str) -> JSON:
    group, version, kind, verbs = _SUBRESOURCES[sub]
    out: JSON = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
    if group:
        out["group"], out["version"] = group, version
    out["kind"] = kind or r.kind
    out["verbs"] = list(verbs)
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    resources = registry.in_group(group, version)
    if not resources:
        return None
    listed: list[JSON] = []
    if (group, version) == ("", "v1"):
        # The create-only, storage-less resource behind POST .../namespaces/{ns}/bindings.
        listed.append({"name": "bindings", "singularName": "binding", "namespaced": True,
                       "kind": "Binding", "verbs": ["create"]})
    for r in resources:
        listed.append(_resource(r))
        listed.extend(_subresource(r, s) for s in sorted(r.subresources))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": listed,
    }
