"""Per-kind create/update rules of kube-apiserver's registry strategies beyond defaulting.

Only what a client can observe and the demo needs: the DaemonSet *template generation*.
apps/v1 has no field for it, so kube-apiserver carries it in the annotation
`deprecated.daemonset.template.generation` (pkg/apis/apps/v1 conversion) and its
DaemonSet strategy (pkg/registry/apps/daemonset/strategy.go) sets it to 1 on create and
adds 1 whenever `spec.template` changes. The daemonset controller copies it into each
pod's `pod-template-generation` label, which is how a watcher (kwatch's step deriver
among them) tells a pod replaced by a rolling update from one a user deleted.

And the Namespace's `spec.finalizers` (pkg/registry/core/namespace/strategy.go): the
`kubernetes` finalizer is added on create, and only the `finalize` subresource may
change the list afterwards.
"""

from __future__ import annotations

from typing import Any

from kwatch.demo.api.errors import bad_request

JSON = dict[str, Any]

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
# The spec finalizer every namespace gets on create (api.FinalizerKubernetes).
NAMESPACE_FINALIZER = "kubernetes"


def _template_generation(obj: JSON) -> int | None:
    """The annotation as the v1 → internal conversion reads it (None when absent)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        TEMPLATE_GENERATION_ANNOTATION)
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        # The real conversion fails on it, so the body can't be decoded: 400, worded as
        # kube-apiserver words it. (A PATCH producing it gets 422 there; not modelled.)
        raise bad_request(
            'DaemonSet in version "v1" cannot be handled as a DaemonSet: '
            f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def _set_template_generation(obj: JSON, generation: int) -> None:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations") or {}
    meta["annotations"] = {**annotations, TEMPLATE_GENERATION_ANNOTATION: str(generation)}


def prepare_for_create(kind: str, obj: JSON) -> None:
    """PrepareForCreate: a client's value of at least 1 is kept (as by the real server)."""
    if kind == "DaemonSet":
        _set_template_generation(obj, max(_template_generation(obj) or 0, 1))
    elif kind == "Namespace":
        # Create-only, not a default: the namespace controller removes it (through the
        # finalize subresource) once the namespace's content is gone, and an update must
        # not bring it back.
        spec = obj.setdefault("spec", {})
        finalizers = list(spec.get("finalizers") or [])
        if NAMESPACE_FINALIZER not in finalizers:
            finalizers.append(NAMESPACE_FINALIZER)
        spec["finalizers"] = finalizers


def prepare_for_update(kind: str, old: JSON, new: JSON) -> None:
    """PrepareForUpdate: clients can't set the template generation; a template change
    bumps it. `new` must already be defaulted, as `old` is, so that only a real change
    of the template counts."""
    if kind == "Namespace":
        # spec.finalizers (all of NamespaceSpec) changes only through /finalize.
        new["spec"] = old.get("spec") or {}
        return
    if kind != "DaemonSet":
        return
    _template_generation(new)  # an unparsable value is refused even though it's ignored
    generation = _template_generation(old) or 0
    if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
        generation += 1
    _set_template_generation(new, generation)
