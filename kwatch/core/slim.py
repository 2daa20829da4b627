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
        sub = e.get("subresource")
        if sub:
            item["subresource"] = sub
        out.append(item)
    return out


def _redact_env(env: list[JSON]) -> list[JSON]:
    return [
        {"name": e.get("name", ""), "value": REDACTED}
        if "value" in e
        else {"name": e.get("name", ""), "valueFrom": REDACTED}
        for e in env
    ]


def _redact_containers(containers: list[JSON]) -> list[JSON] | None:
    """A copy with env values redacted, or None when no container has an env (most
    pods of a list: then the caller keeps sharing the original list)."""
    out: list[JSON] | None = None
    for i, c in enumerate(containers):
        if "env" in c:
            if out is None:
                out = list(containers)
            c = dict(c)
            c["env"] = _redact_env(c["env"])
            out[i] = c
    return out


def _redact_pod_spec(spec: JSON) -> JSON:
    """spec with env values redacted: a copy if anything was redacted, else spec itself."""
    copied: JSON | None = None
    for key in ("containers", "initContainers", "ephemeralContainers"):
        containers = spec.get(key)
        if isinstance(containers, list):
            redacted = _redact_containers(containers)
            if redacted is not None:
                if copied is None:
                    copied = dict(spec)
                copied[key] = redacted
    return copied if copied is not None else spec


def slim(obj: JSON) -> JSON:
    """Return a slimmed, redacted shallow copy of obj (obj itself is not mutated).

    Only the containers on the path to something changed are copied (the object, its
    metadata, and a spec / container whose env was redacted); everything else is
    shared with obj. Why: slim runs on every object of a 50k-pod list, and copies of
    dicts nobody changes were a measurable part of it.
    """
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
            spec = _redact_pod_spec(spec)
        tmpl = spec.get("template")
        if isinstance(tmpl, dict):
            tspec = tmpl.get("spec")
            if isinstance(tspec, dict):
                redacted = _redact_pod_spec(tspec)
                if redacted is not tspec:
                    spec = {**spec, "template": {**tmpl, "spec": redacted}}
        out["spec"] = spec
    return out
