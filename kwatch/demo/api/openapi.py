"""The OpenAPI v3 description: the demo's operations, and Kubernetes' own schemas.

kubectl create/apply first check, in /openapi/v3, whether the server validates fields
itself (a `fieldValidation` query parameter on the kind's PATCH operation). Saying yes
lets kubectl skip client-side schema validation. The schemas (`components.schemas`)
are what kube-apiserver v1.36.1 publishes for the same group-versions, recorded by
scripts/gen_openapi_schemas.py: `kubectl explain` reads them.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from importlib import resources
from typing import Any

import orjson

from kwatch.demo.api.registry import Registry, ResourceDef

JSON = dict[str, Any]

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


@cache
def _recorded() -> JSON:
    data = resources.files("kwatch.demo.api").joinpath("openapi_schemas.json.gz").read_bytes()
    doc: JSON = orjson.loads(gzip.decompress(data))
    return doc


@cache
def schemas(gv_path: str) -> JSON:
    """The component schemas kube-apiserver publishes for one group-version path."""
    recorded = _recorded()
    pool = recorded["schemas"]
    return {name: pool[key] for name, key in recorded["published"].get(gv_path, {}).items()}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _params(names: tuple[str, ...]) -> list[JSON]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in names]


def _operation(r: ResourceDef, verb: str, names: tuple[str, ...]) -> JSON:
    return {
        "operationId": f"{verb}{r.kind}",
        "parameters": _params(names),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                            "kind": r.kind},
        "responses": {"200": {"description": "OK"}},
    }


def group_version_doc(registry: Registry, group: str, version: str) -> JSON | None:
    resources = registry.in_group(group, version)
    if not resources:
        return None
    doc_paths: JSON = {}
    for r in resources:
        base = "/" + _gv_path(group, version)
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else \
            f"{base}/{r.plural}"
        doc_paths[coll] = {
            "get": _operation(r, "list", ("labelSelector", "fieldSelector", "limit")),
            "post": _operation(r, "post", _WRITE_PARAMS),
        }
        doc_paths[f"{coll}/{{name}}"] = {
            "get": _operation(r, "get", ()),
            "put": _operation(r, "put", _WRITE_PARAMS),
            "patch": _operation(r, "patch", (*_WRITE_PARAMS, "force")),
            "delete": _operation(r, "delete", ("dryRun", "gracePeriodSeconds",
                                               "propagationPolicy")),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.1-kwatch"},
        "paths": doc_paths,
        "components": {"schemas": schemas(_gv_path(group, version))},
    }


def root(registry: Registry) -> JSON:
    listing: JSON = {}
    for group, version in registry.groups():
        doc = group_version_doc(registry, group, version)
        digest = hashlib.sha256(orjson.dumps(doc)).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        listing[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": listing}
