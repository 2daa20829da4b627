"""Slim a raw API object before it becomes a KEvent.

Why: bodies are large (managedFields alone is often half a pod), and anything kept here
may end up in a recording. We keep what the store and the step deriver need, summarise
managedFields to (manager, operation, subresource, time, top-level fields), and redact
what must never be recorded: env values, last-applied-configuration, Secret data.
"""

from __future__ import annotations

from typing import Any

from kwatch.core.events import JSON

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED = "<redacted>"


def summarize_managed_fields(entries: list[JSON]) -> list[JSON]:
    out: list[JSON] = []
    for e in entries:
        fields = e.get("fieldsV1")
        if isinstance(fields, dict):
            top: list[str] = sorted(fields)
        else:
            # Already summarised (slim is idempotent): keep what the first pass kept.
            top = list(e.get("fields") or [])
        item: JSON = {
            "manager": e.get("manager", ""),
            "operation": e.get("operation", ""),
            "time": e.get("time", ""),
            "fields": top,
        }
        if e.get("subresource"):
            item["subresource"] = e["subresource"]
        out.append(item)
    return out


def _redact_containers(containers: list[JSON]) -> list[JSON]:
    out = []
    for c in containers:
        if "env" in c:
            c = dict(c)
            c["env"] = [
                {"name": e.get("name", ""), "value": REDACTED}
                if "value" in e
                else {"name": e.get("name", ""), "valueFrom": REDACTED}
                for e in c["env"]
            ]
        out.append(c)
    return out


def _redact_pod_spec(spec: JSON) -> JSON:
    spec = dict(spec)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        if isinstance(spec.get(key), list):
            spec[key] = _redact_containers(spec[key])
    return spec


def slim(obj: JSON) -> JSON:
    """Return a slimmed, redacted shallow copy of obj (obj itself is not mutated)."""
    out = dict(obj)
    meta: dict[str, Any] = dict(out.get("metadata") or {})
    mf = meta.pop("managedFields", None)
    if mf:
        meta["managedFields"] = summarize_managed_fields(mf)
    ann = meta.get("annotations")
    if ann and LAST_APPLIED in ann:
        meta["annotations"] = {k: v for k, v in ann.items() if k != LAST_APPLIED}
    out["metadata"] = meta
    if obj.get("kind") == "Secret":
        out.pop("data", None)
        out.pop("stringData", None)
    spec = out.get("spec")
    if isinstance(spec, dict):
        if "containers" in spec:
            out["spec"] = _redact_pod_spec(spec)
        tmpl = spec.get("template")
        if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
            new_spec = dict(out["spec"])
            new_spec["template"] = {**tmpl, "spec": _redact_pod_spec(tmpl["spec"])}
            out["spec"] = new_spec
    return out
