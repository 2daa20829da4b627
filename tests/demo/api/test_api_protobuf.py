"""Protobuf request bodies, as client-go's typed clients send them (kubectl create …).

The bytes are built here by hand from the wire format, field numbers taken from
Kubernetes' generated.proto, so the decoder is checked against the format rather than
against itself. tests/kubectl/ runs the real kubectl on top.
"""

from __future__ import annotations

import base64

import pytest
from kube_http import Api

from kwatch.demo.api.errors import ApiError
from kwatch.demo.api.protobuf import MAGIC, MEDIA_TYPE, decode_body, decode_object

# -- a minimal protobuf writer ---------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64: ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def num(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return ld(field, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw)


def meta(name: str, **labels: str) -> bytes:
    # ObjectMeta: name = 1, namespace = 3, labels = 11 (map). Go writes plain strings
    # even when empty, so an empty namespace (3) and generateName (2) come along too.
    return ld(1, name) + ld(2, "") + ld(3, "") + b"".join(
        entry(11, k, v) for k, v in labels.items())


# -- the decoder --------------------------------------------------------------------------


def test_a_namespace() -> None:
    body = envelope("v1", "Namespace", ld(1, meta("teach")) + ld(2, b"") + ld(3, b""))
    assert decode_object(body) == {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": "teach"}}


def deployment(replicas: int) -> bytes:
    container = ld(1, "nginx") + ld(2, "nginx:1.27") + ld(6, num(3, 80))  # ports[0].containerPort
    pod_spec = ld(2, container)
    template = ld(1, meta("", app="web")) + ld(2, pod_spec)
    selector = ld(1, ld(1, "app") + ld(2, "web"))  # matchLabels entry
    spec = (num(1, replicas) + ld(2, selector) + ld(3, template) + ld(4, b"")
            + num(5, 0) + num(7, 0))  # minReadySeconds 0, paused false: plain zeros
    return envelope("apps/v1", "Deployment", ld(1, meta("web", app="web")) + ld(2, spec))


def test_a_deployment_keeps_a_deliberate_zero_and_drops_plain_ones() -> None:
    obj = decode_object(deployment(replicas=0))
    assert obj["metadata"] == {"name": "web", "labels": {"app": "web"}}
    spec = obj["spec"]
    assert spec["replicas"] == 0  # a Go pointer: set on purpose
    assert "minReadySeconds" not in spec and "paused" not in spec and "strategy" not in spec
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"] == {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                 "ports": [{"containerPort": 80}]}]},
    }
    assert decode_object(deployment(replicas=3))["spec"]["replicas"] == 3


def test_scalars_bytes_int_or_string_time_and_unknown_fields() -> None:
    # Secret: data = 2 (map<string, bytes>), type = 3; field 99 is from the future.
    secret = envelope("v1", "Secret", ld(1, meta("s")) + entry(2, "pw", b"\x00hunter2")
                      + ld(3, "Opaque") + ld(99, "ignored"))
    assert decode_object(secret)["data"] == {"pw": base64.b64encode(b"\x00hunter2").decode()}
    assert decode_object(secret)["type"] == "Opaque"
    # ServicePort: name 1, protocol 2, port 3, targetPort 4 (IntOrString: type 1, intVal
    # 2, strVal 3); a negative int32 (nodePort 5) is a ten-byte varint.
    by_name = ld(1, "http") + ld(2, "TCP") + num(3, 80) + ld(4, num(1, 1) + ld(3, "web"))
    by_number = num(3, 81) + ld(4, num(1, 0) + num(2, 8081)) + num(5, -1)
    svc = envelope("v1", "Service", ld(1, meta("svc")) + ld(2, ld(1, by_name) + ld(1, by_number)))
    assert decode_object(svc)["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"},
        {"port": 81, "targetPort": 8081, "nodePort": -1},
    ]
    # ObjectMeta.creationTimestamp = 8 (Time: seconds 1, nanos 2); Event.eventTime is a
    # MicroTime (events.k8s.io/v1 Event: eventTime = 2).
    ts = ld(8, num(1, 1_700_000_000))
    ev = envelope("events.k8s.io/v1", "Event",
                  ld(1, ld(1, "e") + ts) + ld(2, num(1, 1_700_000_000) + num(2, 123_456_000)))
    decoded = decode_object(ev)
    assert decoded["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert decoded["eventTime"] == "2023-11-14T22:13:20.123456Z"


def test_packed_and_unpacked_repeated_numbers() -> None:
    # PodSecurityContext.supplementalGroups = 4 (repeated int64) in PodSpec.securityContext
    # = 14; proto2 writes it unpacked, a packed run must read the same.
    unpacked = num(4, 1000) + num(4, 2000)
    packed = ld(4, varint(1000) + varint(2000))
    for groups in (unpacked, packed):
        pod = envelope("v1", "Pod", ld(1, meta("p")) + ld(2, ld(14, groups)))
        assert decode_object(pod)["spec"]["securityContext"] == {
            "supplementalGroups": [1000, 2000]}


@pytest.mark.parametrize(("body", "why"), [
    (b'{"kind": "Namespace"}', "does not start with the k8s protobuf magic number"),
    (envelope("v1", "Namespace", ld(1, meta("x")))[:-3], "truncated field"),
    (MAGIC + b"\xff", "truncated varint"),
    (envelope("batch/v1", "Job", b""), "no protobuf schema here for batch/v1 Job"),
    (envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))), "a string field is not UTF-8"),
])
def test_unreadable_bodies_are_one_line_bad_requests(body: bytes, why: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_body(body)
    assert err.value.reason == "BadRequest"
    assert why in str(err.value) and "\n" not in str(err.value)


# -- over HTTP ----------------------------------------------------------------------------


async def test_post_a_protobuf_deployment(api: Api) -> None:
    status, created = await api.call(
        "POST", "/apis/apps/v1/namespaces/default/deployments", deployment(2),
        content_type=MEDIA_TYPE, headers={"Accept": f"{MEDIA_TYPE}, application/json"})
    assert status == 201
    assert created["spec"]["replicas"] == 2
    assert created["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    _, got = await api.get("/apis/apps/v1/namespaces/default/deployments/web")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]


async def test_a_garbled_protobuf_body_is_a_400_status(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/namespaces", MAGIC + b"\x0a\x05ab",
                                  content_type=MEDIA_TYPE)
    assert status == 400
    assert body["kind"] == "Status" and body["reason"] == "BadRequest"
    assert "truncated field" in body["message"]
