"""List `continue` tokens, in the real server's format.

A token is base64url(JSON) of {"v": "meta.k8s.io/v1", "rv": <list RV>, "start": <key>}:
the resourceVersion the first page was served at, so later pages show the same
snapshot (or 410 Expired once it is compacted), and the key to resume from.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from kwatch.demo.api.errors import bad_request

_VERSION = "meta.k8s.io/v1"


def encode(rv: int, last_key: str) -> str:
    # "\x00" sorts right after the last key: the next page starts strictly after it.
    raw = orjson.dumps({"v": _VERSION, "rv": rv, "start": last_key + "\x00"})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str) -> tuple[int, str]:
    """(resourceVersion, start key); 400 BadRequest for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad_request("continue key is not valid: malformed token") from None
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                          "(version meta.k8s.io/v1)")
    rv, start = body.get("rv"), body.get("start")
    if not isinstance(rv, int) or rv <= 0 or not isinstance(start, str):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    return rv, start
