"""Decode Kubernetes protobuf request bodies into the JSON objects the server stores.

Why: client-go's typed clients send protobuf, and kubectl's generator commands
(``kubectl create namespace|deployment|service|configmap|secret|serviceaccount``) use
them; client-go never retries as JSON. Responses stay JSON, which those clients accept.

The wire format is the apiserver's: the magic ``k8s\\x00``, then a ``runtime.Unknown``
whose ``typeMeta`` names the kind and whose ``raw`` is the object's message. Messages
are decoded with the field table in protobuf_schema.json (generated from Kubernetes'
.proto files by scripts/gen_protobuf_schema.py). As Go's decoder does, unknown fields
are skipped; as Go's JSON encoder does (``omitempty``), zero values of plain fields are
left out, but a zero in a *pointer* field (label "p", e.g. ``replicas: 0``) was set on
purpose and is kept.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

from kwatch.demo.api.errors import ApiError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

JSON = dict[str, Any]
Field = tuple[str, str, str]  # (JSON name, type, label o|p|r|m)

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_TYPE_META = "k8s.io.apimachinery.pkg.runtime.TypeMeta"
_GO_ZERO_TIME = -62135596800  # Unix seconds of Go's time.Time{}
_INT_TYPES = frozenset({"int32", "int64", "uint32", "uint64"})
_PACKABLE = _INT_TYPES | {"bool", "double", "float"}
# API group → the .proto package under k8s.io.api.
_GROUP_PACKAGES = {"": "core", "apps": "apps", "discovery.k8s.io": "discovery",
                   "events.k8s.io": "events", "coordination.k8s.io": "coordination",
                   "policy": "policy", "autoscaling": "autoscaling"}


class ProtobufError(ValueError):
    """The body is not a protobuf object this server can read."""


@cache
def _schema() -> dict[str, dict[int, Field]]:
    text = resources.files("kwatch.demo.api").joinpath("protobuf_schema.json").read_text()
    messages: dict[str, dict[str, list[str]]] = json.loads(text)["messages"]
    return {name: {int(n): (f[0], f[1], f[2]) for n, f in fields.items()}
            for name, fields in messages.items()}


def decode_body(body: bytes) -> JSON:
    """The object in a protobuf request body, as JSON; ApiError when unreadable."""
    try:
        return decode_object(body)
    except ProtobufError as e:
        raise ApiError("BadRequest", f"the body of the request could not be decoded as "
                       f"{MEDIA_TYPE}: {e}") from None


def decode_object(body: bytes) -> JSON:
    if not body.startswith(MAGIC):
        raise ProtobufError("it does not start with the k8s protobuf magic number")
    # runtime.Unknown: typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4.
    type_meta: JSON = {}
    raw = memoryview(b"")
    for number, _, value in _fields(memoryview(body)[len(MAGIC):]):
        if number == 1:
            type_meta = _message(_bytes(value), _TYPE_META)
        elif number == 2:
            raw = _bytes(value)
        elif number == 3 and len(_bytes(value)):
            encoding = bytes(_bytes(value)).decode(errors="replace")
            raise ProtobufError(f"content encoding {encoding!r} is not supported")
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    obj = _message(raw, _message_name(api_version, kind))
    return {"apiVersion": api_version, "kind": kind, **obj}


def _message_name(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    if kind == "DeleteOptions":
        name = f"{_META}.{kind}"
    else:
        package = _GROUP_PACKAGES.get(group)
        name = f"k8s.io.api.{package}.{version}.{kind}" if package else ""
    if name not in _schema():
        raise ProtobufError(f"no protobuf schema here for {api_version or '?'} {kind or '?'}")
    return name


# -- the wire format ------------------------------------------------------------------


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(buf: memoryview) -> list[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) in order: ints for varint / fixed, views for
    length-delimited."""
    out: list[tuple[int, int, int | memoryview]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(_take(buf, pos, 8), "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(_take(buf, pos, 4), "little"), pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = _take(buf, pos, size), pos + size
        else:
            raise ProtobufError(f"unsupported wire type {wire} (field {number})")
        out.append((number, wire, value))
    return out


def _take(buf: memoryview, pos: int, size: int) -> memoryview:
    if pos + size > len(buf):
        raise ProtobufError("truncated field")
    return buf[pos:pos + size]


# -- messages -------------------------------------------------------------------------


def _message(buf: memoryview, name: str) -> JSON:
    schema = _schema()[name]
    out: JSON = {}
    for number, wire, value in _fields(buf):
        field = schema.get(number)
        if field is None:
            continue  # a field this Kubernetes version does not know: skipped, as Go does
        json_name, typ, label = field
        if label == "m":
            key, val = _map_entry(value, typ)
            out.setdefault(json_name, {})[key] = val
        elif label == "r":
            out.setdefault(json_name, []).extend(_repeated(wire, value, typ))
        else:
            out[json_name] = _value(wire, value, typ)
    # omitempty: zero values of plain fields are dropped; pointers keep theirs.
    for json_name, _, label in schema.values():
        if label == "o" and json_name in out and _is_zero(out[json_name]):
            del out[json_name]
    return out


def _is_zero(value: Any) -> bool:
    return value is None or value == 0 or value == "" or value is False or value == {}


def _map_entry(value: int | memoryview, typ: str) -> tuple[str, Any]:
    key_type, value_type = typ.split(",", 1)
    key: Any = ""
    val: Any = _zero(value_type)
    for number, wire, v in _fields(_bytes(value)):
        if number == 1:
            key = _value(wire, v, key_type)
        elif number == 2:
            val = _value(wire, v, value_type)
    return str(key), val


def _zero(typ: str) -> Any:
    if typ in _INT_TYPES or typ in ("double", "float"):
        return 0
    if typ == "bool":
        return False
    return "" if typ in ("string", "bytes") else None


def _repeated(wire: int, value: int | memoryview, typ: str) -> list[Any]:
    if wire == 2 and typ in _PACKABLE:  # packed: one length-delimited run of scalars
        view = _bytes(value)
        items: list[Any] = []
        pos = 0
        while pos < len(view):
            if typ == "double":
                items.append(struct.unpack("<d", _take(view, pos, 8))[0])
                pos += 8
            elif typ == "float":
                items.append(struct.unpack("<f", _take(view, pos, 4))[0])
                pos += 4
            else:
                n, pos = _varint(view, pos)
                items.append(_scalar(n, typ))
        return items
    return [_value(wire, value, typ)]


def _bytes(value: int | memoryview) -> memoryview:
    if isinstance(value, int):
        raise ProtobufError("expected a length-delimited field, got a number")
    return value


def _value(wire: int, value: int | memoryview, typ: str) -> Any:
    if typ == "string":
        try:
            return bytes(_bytes(value)).decode()
        except UnicodeDecodeError as e:
            raise ProtobufError(f"a string field is not UTF-8: {e}") from None
    if typ == "bytes":  # JSON carries []byte as base64
        return base64.b64encode(_bytes(value)).decode()
    if typ == "double":
        return struct.unpack("<d", int(value).to_bytes(8, "little"))[0] if isinstance(
            value, int) else 0.0
    if typ == "float":
        return struct.unpack("<f", int(value).to_bytes(4, "little"))[0] if isinstance(
            value, int) else 0.0
    if typ in _INT_TYPES or typ == "bool":
        if not isinstance(value, int):
            raise ProtobufError(f"expected a number for a {typ} field")
        return _scalar(value, typ)
    return _special(_bytes(value), typ)


def _scalar(n: int, typ: str) -> int | bool:
    if typ == "bool":
        return n != 0
    if typ in ("int32", "int64") and n >= 1 << 63:
        n -= 1 << 64  # negative numbers are ten-byte two's complement varints
    return n


def _special(view: memoryview, typ: str) -> Any:
    """Messages whose JSON form is not an object (Go gives them custom marshalling)."""
    if typ in (f"{_META}.Time", f"{_META}.MicroTime"):
        t = _message(view, typ)
        seconds, nanos = t.get("seconds", 0), t.get("nanos", 0)
        if seconds in (0, _GO_ZERO_TIME) and not nanos:
            return None
        when = datetime.fromtimestamp(seconds + nanos / 1e9, UTC)
        if typ.endswith("MicroTime"):
            return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if typ == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return _message(view, typ).get("string", "")
    if typ == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        v = _message(view, typ)
        return v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
    if typ in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}.FieldsV1"):
        # One bytes field (1) holding JSON; its Go field is not in the JSON form.
        raw = b"".join(bytes(_bytes(v)) for number, _, v in _fields(view) if number == 1)
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ProtobufError(f"embedded JSON in {typ.rsplit('.', 1)[1]}: {e}") from None
    if typ not in _schema():
        raise ProtobufError(f"no schema for message {typ}")
    return _message(view, typ)

