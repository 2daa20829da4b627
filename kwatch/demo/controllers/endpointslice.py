"""The endpointslice controller: Service selector → EndpointSlices of ready/serving pods.

This is where lab 2 of the notes happens: when a pod gets its deletionTimestamp, this
controller rewrites its endpoint as ready=false, serving=<Ready condition>,
terminating=true — *in parallel* with the kubelet sending SIGTERM. kwatch measures that
race, so the controller reproduces kube-controller-manager's (1.22+) behaviour:

- only pods with an IP, not Succeeded/Failed, on a Node that exists, are endpoints
  (ShouldPodBeInEndpoints with includeTerminating=true);
- ready = publishNotReadyAddresses or (Ready and not terminating); serving = Ready;
  terminating = deletionTimestamp set; terminating endpoints stay until the pod is gone;
- endpoints are grouped by their resolved ports (a named targetPort can resolve to
  different numbers on different pods), at most 100 per slice;
- existing slices are updated in place (PUT with resourceVersion) and refilled before
  new ones are created; a delete+create pair becomes one update; a Service without
  endpoints keeps one empty placeholder slice;
- writes are checked against the informer: a sync waits until the cache has seen the
  controller's own previous writes (the real EndpointSliceTracker), so a stale cache never
  creates duplicate slices.

What the slices should contain is computed without I/O in `_sliceplan.py`; this module
watches, decides when to sync, and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import ENDPOINTSLICE, NODE, POD, SERVICE
from kwatch.demo.client import ApiError, KubeClient
from kwatch.demo.clock import Clock
from kwatch.demo.controllers._objects import meta, typed_copy
from kwatch.demo.controllers._sliceplan import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME_LABEL,
    ZONE_LABEL,
    DesiredPorts,
    SlicePlan,
    endpoint_id,
    endpoint_ports,
    plan_slices,
    pod_to_endpoint,
    ports_key,
    should_pod_be_in_endpoints,
)
from kwatch.demo.controllers.base import Controller, Recorder, register, split_key
from kwatch.demo.placement import map_selector_matches

log = logging.getLogger(__name__)

# How long a sync waits for the informer to catch up with our own writes...
_STALE_RETRY_SECONDS = 0.5
# ...and how long at most, should a watch event have been missed.
_TRACKER_TIMEOUT = 30.0


# -- the controller ---------------------------------------------------------------------


def _rv(obj: Mapping[str, Any]) -> int | None:
    try:
        return int(meta(obj).get("resourceVersion") or "")
    except ValueError:
        return None  # opaque resourceVersion: can't order, assume up to date


class _SliceTracker:
    """What the informer must show before the next sync of a service may trust it.

    After each write we remember the slice's resourceVersion (or that it is deleted);
    until the cache shows at least that version, a sync would act on old data.
    """

    _GONE = -1

    def __init__(self, clock: Clock, timeout: float = _TRACKER_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        # service key → slice uid → (resourceVersion or _GONE, when written)
        self._expected: dict[str, dict[str, tuple[int, float]]] = {}

    def wrote(self, service_key: str, slice_: JSON) -> None:
        rv = _rv(slice_)
        if rv is not None:
            exp = self._expected.setdefault(service_key, {})
            exp[meta(slice_)["uid"]] = (rv, self.clock.now())

    def deleted(self, service_key: str, slice_: JSON) -> None:
        exp = self._expected.setdefault(service_key, {})
        exp[meta(slice_)["uid"]] = (self._GONE, self.clock.now())

    def observe(self, service_key: str, slice_: JSON | None, uid: str) -> None:
        exp = self._expected.get(service_key)
        if not exp or uid not in exp:
            return
        want = exp[uid][0]
        if slice_ is None:
            del exp[uid]
        elif want != self._GONE:
            rv = _rv(slice_)
            if rv is None or rv >= want:
                del exp[uid]

    def stale(self, service_key: str, cached: Mapping[str, JSON]) -> bool:
        exp = self._expected.get(service_key) or {}
        now = self.clock.now()
        for uid, (want, since) in list(exp.items()):
            if now - since > self.timeout:
                del exp[uid]  # a missed watch event must not block the service forever
                continue
            have = cached.get(uid)
            if want == self._GONE:
                if have is not None:
                    return True
            elif have is None or (_rv(have) or want) < want:
                return True
        return False

    def forget(self, service_key: str) -> None:
        self._expected.pop(service_key, None)


@register
class EndpointSliceController(Controller):
    name = "endpoint-slice-controller"
    concurrent_syncs = 5

    def __init__(self, client: KubeClient, clock: Clock, recorder: Recorder | None = None, *,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__(client, clock, recorder)
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self._tracker = _SliceTracker(self.clock)

    def setup(self) -> None:
        self.services = self.informer(SERVICE, self._on_service)
        self.pods = self.informer(POD, self._on_pod)
        self.nodes = self.informer(NODE, self._on_node)
        self.slices = self.informer(
            ENDPOINTSLICE, self._on_slice, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        )

    # -- event handlers: only enqueue service keys ---------------------------------------

    def _on_service(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        self.enqueue_object(new or old or {})

    def _services_selecting(self, pod: JSON) -> list[str]:
        ns = meta(pod).get("namespace")
        labels = meta(pod).get("labels") or {}
        keys = []
        for svc in self.services.cache.values():
            selector = (svc.get("spec") or {}).get("selector")
            if meta(svc).get("namespace") == ns and selector and map_selector_matches(
                selector, labels
            ):
                keys.append(object_key(svc))
        return keys

    def _on_pod(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        keys: set[str] = set()
        for pod in (old, new):
            if pod is not None:
                keys.update(self._services_selecting(pod))
        for key in keys:
            self.enqueue(key)

    def _on_node(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        # A node appearing/disappearing (or changing zone) changes which pods count.
        if type_ == "MODIFIED" and (meta(old or {}).get("labels") or {}).get(ZONE_LABEL) == (
            meta(new or {}).get("labels") or {}
        ).get(ZONE_LABEL):
            return
        for svc in self.services.cache.values():
            if (svc.get("spec") or {}).get("selector"):
                self.enqueue_object(svc)

    def _on_slice(self, type_: str, old: JSON | None, new: JSON | None) -> None:
        obj = new or old or {}
        labels = meta(obj).get("labels") or {}
        service = labels.get(SERVICE_NAME_LABEL)
        if not service:
            return
        key = f"{meta(obj).get('namespace')}/{service}"
        self._tracker.observe(key, new, str(meta(obj).get("uid", "")))
        # Someone else edited (or deleted) one of our slices: put it right again.
        self.enqueue(key)

    # -- reconcile ----------------------------------------------------------------------

    def _owned_slices(self, service_key: str, service: JSON | None) -> dict[str, JSON]:
        ns, name = split_key(service_key)
        out: dict[str, JSON] = {}
        for s in self.slices.cache.values():
            m = meta(s)
            if m.get("namespace") != ns or (m.get("labels") or {}).get(SERVICE_NAME_LABEL) != name:
                continue
            if service is not None and not any(
                ref.get("uid") == meta(service).get("uid")
                for ref in m.get("ownerReferences") or []
            ):
                continue  # left over from an earlier Service of the same name
            out[str(m.get("uid"))] = s
        return out

    def _desired(self, service: JSON) -> tuple[dict[bytes, DesiredPorts], bool]:
        """Desired endpoints by port set, and whether a pod waits for its Node."""
        ns = meta(service).get("namespace")
        selector = (service.get("spec") or {}).get("selector") or {}
        desired: dict[bytes, DesiredPorts] = {}
        missing_node = False
        for pod in self.pods.cache.values():
            pod_meta = meta(pod)
            if pod_meta.get("namespace") != ns or not map_selector_matches(
                selector, pod_meta.get("labels") or {}
            ):
                continue
            if not should_pod_be_in_endpoints(pod):
                continue
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = self.nodes.cache.get(node_name)
            if node is None:
                # The real controller leaves such a pod out and retries later.
                missing_node = True
                continue
            ep = pod_to_endpoint(service, pod, node)
            if ep is None:
                continue
            ports = endpoint_ports(service, pod)
            group = desired.setdefault(ports_key(ports), DesiredPorts(ports))
            group.endpoints[endpoint_id(ep)] = ep
        return desired, missing_node

    async def reconcile(self, key: str) -> None:
        service = self.services.cache.get(key)
        owned = self._owned_slices(key, service)
        if service is None or meta(service).get("deletionTimestamp"):
            # The garbage collector deletes owned slices; nothing to maintain.
            self._tracker.forget(key)
            return
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            return  # slices of selector-less Services are someone else's to manage
        if self._tracker.stale(key, owned):
            self.enqueue_after(key, _STALE_RETRY_SECONDS)
            return
        desired, missing_node = self._desired(service)
        plan = plan_slices(service, list(owned.values()), desired, self.max_endpoints_per_slice)
        try:
            await self._apply(key, plan)
        except ApiError as e:
            if e.code != 409:
                self.recorder.event(
                    typed_copy(service, SERVICE.api_version, SERVICE.kind), "Warning",
                    "FailedToUpdateEndpointSlices", "UpdateEndpointSlices",
                    f"Error updating Endpoint Slices for Service {key}: {e.message}",
                )
            raise
        if missing_node:
            self.enqueue_after(key, 1.0)

    async def _apply(self, key: str, plan: SlicePlan) -> None:
        ns, _ = split_key(key)
        path = ENDPOINTSLICE.collection_path(ns)
        for s in plan.creates:
            self._tracker.wrote(key, await self.client.create(path, s))
        for s in plan.updates:
            # PUT with the cached resourceVersion: a 409 means our cache was stale and
            # the key is retried (the base class requeues on the raised ApiError).
            self._tracker.wrote(key, await self.client.update(f"{path}/{meta(s)['name']}", s))
        for s in plan.deletes:
            await self.client.delete(f"{path}/{meta(s)['name']}", uid=meta(s).get("uid"))
            self._tracker.deleted(key, s)
