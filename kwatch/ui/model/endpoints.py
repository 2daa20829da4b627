"""The endpoints pane: per Service, each endpoint with ready / serving / terminating and
its pod — the table to watch while a pod is deleted (lab 2)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from kwatch.core.rows import Endpoint, EndpointSliceRow
from kwatch.core.store import Store
from kwatch.ui.model.spans import Role, Span, fit


@dataclass(frozen=True, slots=True)
class EndpointLine:
    namespace: str
    service: str
    slice: EndpointSliceRow
    endpoint: Endpoint | None = None  # None: the service's header line
    ready: int = 0  # header lines: ready endpoints over all the service's slices
    total: int = 0

    @property
    def pod_uid(self) -> str:
        return self.endpoint.pod_uid if self.endpoint is not None else ""


def endpoint_lines(store: Store, keep: Callable[[str, str, str], bool]) -> list[EndpointLine]:
    """Services (by namespace, name) with their slices' endpoints; `keep(ns, name, uid)`
    is asked about each pod (and each service, to keep an empty one visible)."""
    groups: dict[tuple[str, str], list[EndpointSliceRow]] = {}
    for sl in store.rows("EndpointSlice").values():
        if isinstance(sl, EndpointSliceRow):
            groups.setdefault((sl.namespace, sl.service_name or sl.name), []).append(sl)
    out: list[EndpointLine] = []
    for (ns, svc), slices in sorted(groups.items()):
        slices.sort(key=lambda s: s.name)
        svc_row = store.get("Service", f"{ns}/{svc}")
        svc_ok = keep(ns, svc, svc_row.uid if svc_row is not None else "")
        body = [
            EndpointLine(ns, svc, sl, ep)
            for sl in slices
            for ep in sorted(sl.endpoints, key=lambda e: (e.pod_name, e.ident))
            if svc_ok or keep(ep.pod_namespace or ns, ep.pod_name, ep.pod_uid)
        ]
        if body or svc_ok:
            eps = [e for sl in slices for e in sl.endpoints]
            ready = sum(1 for e in eps if e.is_ready)
            out.append(EndpointLine(ns, svc, slices[0], ready=ready, total=len(eps)))
            out.extend(body)
    return out


def endpoint_flags(ep: Endpoint, compact: bool = False) -> list[Span]:
    """ready / serving / terminating, each ✓ or ✗, coloured by whether it is good news."""

    def flag(name: str, short: str, on: bool, good: bool) -> Span:
        role: Role = ("ok" if on else "muted") if good else ("warn" if on else "muted")
        return (f"{short if compact else name}{'✓' if on else '✗'} ", role)

    return [
        flag("ready", "rdy", ep.is_ready, True),
        flag("serving", "srv", ep.is_serving, True),
        flag("terminating", "term", ep.is_terminating, False),
    ]


def endpoint_spans(line: EndpointLine, width: int, hazard_uids: Collection[str]) -> list[Span]:
    ep = line.endpoint
    if ep is None:
        ready, total = line.ready, line.total
        return fit(
            [("svc ", "kind"), (line.service, "bold"), (f"  {line.namespace}", "muted")],
            [(f"{ready}/{total} ready ", "ok" if ready == total else "warn")],
            width,
        )
    addr = ep.addresses[0] if ep.addresses else "?"
    hazard = ep.pod_uid in hazard_uids
    dying_but_routable = ep.is_terminating and ep.is_serving
    left: list[Span] = [
        ("  ", ""),
        (f"{addr:<15} ", "warn" if dying_but_routable else ""),
        *endpoint_flags(ep, compact=width < 60),
    ]
    pod: list[Span] = [
        ("⚠ " if hazard else "", "hazard"),
        (ep.pod_name, "hazard" if hazard else "muted"),
    ]
    return fit(left + pod, [], width)
