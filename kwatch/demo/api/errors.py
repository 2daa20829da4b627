"""Kubernetes `Status` errors, raised by storage and rendered by the HTTP layer.

Every failure leaves the server as a `Status` body, exactly like kube-apiserver's, because
clients branch on `reason` and `code` (client-go's reflector relists on Expired/410,
kubectl prints `message`), not on the HTTP status line alone.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_CODES: dict[str, int] = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Gone": 410,
    "Expired": 410,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "Timeout": 504,
}


class ApiError(Exception):
    """A request failed; `status()` is the body the server sends back."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        code: int | None = None,
        details: JSON | None = None,
        list_meta: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code if code is not None else _CODES.get(reason, 500)
        self.details = details
        # An Expired `continue` carries a fresh token in the Status' ListMeta.
        self.list_meta = list_meta

    def status(self) -> JSON:
        return status_body(
            self.code, self.reason, self.message, details=self.details, metadata=self.list_meta
        )


def status_body(
    code: int,
    reason: str,
    message: str,
    *,
    details: JSON | None = None,
    metadata: JSON | None = None,
) -> JSON:
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata or {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details: JSON | None = None) -> JSON:
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body


def _details(name: str, group: str, kind: str) -> JSON:
    d: JSON = {"name": name} if name else {}
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def qualified(plural: str, group: str) -> str:
    """`pods`, `deployments.apps`: how Kubernetes names a resource in messages."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        details=_details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


def precondition_failed(plural: str, group: str, name: str, field: str, wanted: object,
                        actual: object) -> ApiError:
    """409 for a failed UID / ResourceVersion precondition, worded as the registry does
    (clients match on the text, e.g. to tell a re-created object from a stale read)."""
    return conflict(plural, group, name,
                    f"Precondition failed: {field} in precondition: {wanted}, "
                    f"{field} in object meta: {actual}")


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per (field, message), formatted like the real validators."""
    parts = [f"{f}: {m}" for f, m in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    subject = f"{kind}.{group}" if group else kind
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes
    ]
    return ApiError("Invalid", f'{subject} "{name}" is invalid: {text}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequest", message)


def expired(message: str, list_meta: JSON | None = None) -> ApiError:
    return ApiError("Expired", message, list_meta=list_meta)


def forbidden(user: str, verb: str, plural: str, group: str, namespace: str | None,
              name: str = "") -> ApiError:
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = qualified(plural, group) + (f' "{name}"' if name else "")
    return ApiError(
        "Forbidden",
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
        f'in API group "{group}" {scope}',
        details=_details(name, group, plural),
    )


def namespace_terminating(plural: str, group: str, name: str, namespace: str) -> ApiError:
    """The NamespaceLifecycle admission plugin's refusal of new content in a namespace
    being deleted; clients (controllers) recognise it by the NamespaceTerminating cause
    and stop retrying instead of treating it as a failure."""
    why = (f"unable to create new content in namespace {namespace} because it is being "
           "terminated")
    details = _details(name, group, plural)
    details["causes"] = [{"reason": "NamespaceTerminating", "message": why,
                          "field": "metadata.namespace"}]
    subject = qualified(plural, group) + (f' "{name}"' if name else "")
    return ApiError("Forbidden", f"{subject} is forbidden: {why}", details=details)
