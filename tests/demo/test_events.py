"""The demo's Event recorder against the embedded API server, over real HTTPS."""

from __future__ import annotations

import re

from kwatch.core.events import JSON
from kwatch.core.kinds import EVENT, NODE, POD
from kwatch.demo.apiserver import DemoApiServer
from kwatch.demo.client import KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.events import NOTE_LIMIT, EventRecorder, as_component, reference


async def _pod(client: KubeClient, name: str = "web") -> JSON:
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    return await client.create(POD.collection_path("default"), body)


async def _events(client: KubeClient, namespace: str | None = None) -> list[JSON]:
    items, _ = await client.list(EVENT.collection_path(namespace))
    return items


async def test_event_has_the_fields_client_go_sets(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    _, client, clock = api
    pod = await _pod(client)
    rec = EventRecorder(client, clock, "default-scheduler")
    rec.event(pod, "Normal", "Scheduled", "Binding", "Successfully assigned default/web to n1")
    await rec.close()

    [ev] = await _events(client, "default")
    assert re.fullmatch(r"web\.[0-9a-f]+", ev["metadata"]["name"])
    assert ev["metadata"]["namespace"] == "default"
    assert ev["reportingController"] == "default-scheduler"
    assert ev["reportingInstance"].startswith("default-scheduler-")
    assert (ev["action"], ev["reason"], ev["type"]) == ("Binding", "Scheduled", "Normal")
    assert ev["note"] == "Successfully assigned default/web to n1"
    assert ev["regarding"]["kind"] == "Pod"
    assert ev["regarding"]["uid"] == pod["metadata"]["uid"]
    assert ev["eventTime"].endswith("Z") and "." in ev["eventTime"]  # MicroTime
    # events.k8s.io/v1 forbids the legacy fields; a real server would reject them.
    for legacy in ("deprecatedFirstTimestamp", "deprecatedCount", "deprecatedSource"):
        assert not ev.get(legacy)
    assert "series" not in ev


async def test_repeats_become_a_series(api: tuple[DemoApiServer, KubeClient, Clock]) -> None:
    _, client, clock = api
    pod = await _pod(client)
    ref = reference(pod, POD, field_path="spec.containers{app}")
    rec = EventRecorder(client, clock, "kubelet", reporting_instance="node-1")
    for _ in range(3):
        rec.event(ref, "Warning", "Unhealthy", "Probing", "Readiness probe failed")
        await rec.flush()  # each repeat reaches the server on its own
    rec.event(ref, "Warning", "BackOff", "BackOff", "Back-off restarting failed container")
    await rec.close()

    events = {e["reason"]: e for e in await _events(client, "default")}
    assert set(events) == {"Unhealthy", "BackOff"}
    unhealthy = events["Unhealthy"]
    assert unhealthy["series"]["count"] == 3
    assert unhealthy["series"]["lastObservedTime"] >= unhealthy["eventTime"]
    assert unhealthy["regarding"]["fieldPath"] == "spec.containers{app}"
    assert unhealthy["reportingInstance"] == "node-1"
    assert "series" not in events["BackOff"]


async def test_repeats_queued_together_are_written_once(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    server, client, clock = api
    pod = await _pod(client)
    rec = EventRecorder(client, clock, "kubelet", reporting_instance="node-1")
    for _ in range(5):  # no await in between: one create carries the whole count
        rec.event(pod, "Warning", "Unhealthy", "Probing", "probe failed")
    await rec.close()
    [ev] = await _events(client, "default")
    assert ev["series"]["count"] == 5
    writes = [r for r in server.request_log if "/events" in r[1] and r[0] != "GET"]
    assert len(writes) == 1


async def test_cluster_scoped_object_events_go_to_default(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    server, client, clock = api
    [name] = server.add_nodes(1)
    node = await client.get(f"{NODE.collection_path()}/{name}")
    assert node is not None
    rec = EventRecorder(client, clock, "kubelet", reporting_instance=name)
    rec.event(reference(node, NODE), "Normal", "NodeReady", "NodeStatusUpdate",
              "x" * (NOTE_LIMIT + 100))
    await rec.close()
    [ev] = await _events(client, "default")
    assert ev["regarding"]["kind"] == "Node" and "namespace" not in ev["regarding"]
    assert len(ev["note"]) == NOTE_LIMIT


async def test_expired_series_event_is_recreated(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    _, client, clock = api
    pod = await _pod(client)
    rec = EventRecorder(client, clock, "kubelet", reporting_instance="node-1")
    rec.event(pod, "Normal", "Pulled", "Pulled", "already present")
    await rec.flush()
    [ev] = await _events(client, "default")
    await client.delete(f"{EVENT.collection_path('default')}/{ev['metadata']['name']}")
    rec.event(pod, "Normal", "Pulled", "Pulled", "already present")
    await rec.close()
    [again] = await _events(client, "default")
    assert again["metadata"]["name"] == ev["metadata"]["name"]
    assert again["series"]["count"] == 2


async def test_recording_never_fails_the_caller(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    server, client, clock = api
    pod = await _pod(client)
    rec = EventRecorder(client, clock, "kubelet", reporting_instance="node-1")
    await server.stop()  # every write now fails at the connection
    rec.event(pod, "Normal", "Started", "Started", "Started container app")
    await rec.close()  # returns: the Event is dropped, nothing raised
    await server.start()


async def test_as_component_replaces_the_user_agent(
    api: tuple[DemoApiServer, KubeClient, Clock],
) -> None:
    _, client, _ = api
    kubelet = as_component(client, "kubelet/v1.35.0 (linux/amd64) kubernetes/kwatch")
    assert kubelet.headers["User-Agent"].startswith("kubelet/")
    assert kubelet.headers["Authorization"] == client.headers["Authorization"]
    pod = await _pod(client)
    patched = await kubelet.patch(
        f"{POD.collection_path('default')}/{pod['metadata']['name']}",
        {"metadata": {"labels": {"seen-by": "kubelet"}}},
    )
    managers = {m["manager"] for m in patched["metadata"]["managedFields"]}
    assert "kubelet" in managers
