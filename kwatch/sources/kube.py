"""The live source: client-go-style reflectors over raw JSON (DESIGN.md §3).

One ``Reflector`` task (reflector.py) per (kind, namespace) does LIST → WATCH →
re-WATCH … and turns what it reads into ``KEvent`` batches for the sink.
``WatchEngine`` creates them,
supervises them (an unexpected exception is counted, backed off and restarted — the
engine never dies silently) and exposes their health.

Why not kubernetes_asyncio's ``Watch``: it retries a 410 once with the same
resourceVersion, reconnects without backoff, has no read timeout, and builds model
objects ~45x slower than orjson. We only borrow its kubeconfig/auth/TLS session.

Scope (namespaces, label selector), decided per kind:

- Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Services: one reflector
  per namespace (one for all when ``namespaces`` is None), label selector applied by
  the server.
- EndpointSlices: per namespace but *not* label-filtered — slices carry
  ``kubernetes.io/service-name``, not the Service's labels, so the store keeps the
  slices of the Services that passed the selector.
- Events: per namespace, not label-filtered (an Event has no labels of the object it
  is about); the store links them to the objects it has.
- Nodes (cluster-scoped) and Leases (kube-system leader election): one reflector,
  never filtered — they are context for whatever pods are in scope.

``streaming_list=True`` first tries a streaming list (one watch with
``sendInitialEvents=true``: the current objects as ADDED, a BOOKMARK annotated
``k8s.io/initial-events-end``, then live changes on the same stream) and falls back
to paged LIST for good when the server answers 400/422. It is off by default: on the
demo server it measured no faster than LIST with prefetch, and LIST is what every
server supports.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from kwatch.core.events import EventSink
from kwatch.core.kinds import WATCHED_KINDS, ResourceKind
from kwatch.sources.backoff import Backoff
from kwatch.sources.health import KindHealth
from kwatch.sources.reflector import (
    LIST_BATCH_SIZE,
    MIN_WATCH_SECONDS,
    PAGE_SIZE,
    Reflector,
    Requester,
    Target,
)

__all__ = ["LIST_BATCH_SIZE", "PAGE_SIZE", "Requester", "WatchEngine", "plan_targets"]

LABEL_FILTERED_KINDS = frozenset(
    {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Service"}
)


def plan_targets(
    kinds: Sequence[ResourceKind],
    namespaces: Sequence[str] | None,
    label_selector: str | None,
) -> list[Target]:
    """One target per reflector: the scope rules in the module docstring."""
    targets: list[Target] = []
    for kind in kinds:
        selector = label_selector if kind.kind in LABEL_FILTERED_KINDS else None
        if not kind.namespaced or kind.fixed_namespace is not None or namespaces is None:
            targets.append(Target(kind, None, selector))
        else:
            # dict.fromkeys: de-duplicate, keep the user's order.
            targets.extend(Target(kind, ns, selector) for ns in dict.fromkeys(namespaces))
    return targets


class WatchEngine:
    """Lists and watches ``kinds`` in scope and feeds ``sink`` with KEvent batches.

    A (re)list of one (kind, namespace) is delivered as: ``RESET`` (relists only),
    ADDED for new keys, MODIFIED for keys whose resourceVersion changed (unchanged ones
    are not re-sent), DELETED for keys that vanished (obj = kind, apiVersion and
    metadata name/namespace/uid/resourceVersion only), then ``LISTED``. Applying it
    swaps that view. Markers of a namespace-scoped reflector carry
    ``{"metadata": {"namespace": ns}}`` so the store can tell which view was swapped.

    That is one batch as long as it holds at most ``list_batch_size`` events; a bigger
    one (a 50,000-pod first list) is cut into several batches, the last carrying the
    deletions and ``LISTED`` — holding every slimmed body of a huge list at once would
    cost ~18 KB per pod, far more than the store's rows, and small batches are
    processed while their bodies are still in the CPU cache (see ``LIST_BATCH_SIZE``).
    A store that wants to hide the intermediate state defers redrawing that view from
    RESET until LISTED.
    ``list_batch_size=None`` always sends one batch.

    Watch events go out in one batch per chunk read off the socket. Bookmarks only
    move the resourceVersion; they are not sent.

    After a reflector crash (e.g. the sink raised) the next relist re-sends every
    surviving object as MODIFIED, since the store may have missed part of a batch;
    the store must treat MODIFIED of an unknown key as an insert.
    """

    def __init__(
        self,
        conn: Requester,
        sink: EventSink,
        *,
        kinds: Sequence[ResourceKind] = WATCHED_KINDS,
        namespaces: Sequence[str] | None = None,
        label_selector: str | None = None,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], float] = time.time,
        watch_timeout_range: tuple[float, float] = (300, 600),
        inactivity_timeout: float = 80.0,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen, so sharing it is safe
        unavailable_retry: float = 60.0,
        min_watch_seconds: float = MIN_WATCH_SECONDS,
        list_batch_size: int | None = LIST_BATCH_SIZE,
        streaming_list: bool = False,
    ) -> None:
        self._reflectors = [
            Reflector(
                target,
                conn,
                sink,
                page_size=page_size,
                clock=clock,
                watch_timeout_range=watch_timeout_range,
                inactivity_timeout=inactivity_timeout,
                backoff=backoff.timer(),
                unavailable_retry=unavailable_retry,
                min_watch_seconds=min_watch_seconds,
                list_batch_size=list_batch_size or sys.maxsize,
                streaming_list=streaming_list,
            )
            for target in plan_targets(kinds, namespaces, label_selector)
        ]
        self._health = MappingProxyType({r.health.key: r.health for r in self._reflectors})
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def health(self) -> Mapping[str, KindHealth]:
        """Live view: keyed "Pod" or "Pod/namespace" (see ``health_key``)."""
        return self._health

    @property
    def synced(self) -> bool:
        return all(r.settled.is_set() for r in self._reflectors)

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("WatchEngine already started")
        self._tasks = [
            asyncio.create_task(r.run(), name=f"kwatch-reflector-{r.health.key}")
            for r in self._reflectors
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # A plain seconds argument, like asyncio.wait_for: callers have no scope to wrap.
    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True once every reflector has listed — or been found unavailable (403…),
        which is final enough not to make the UI wait; False on timeout."""
        waits = [r.settled.wait() for r in self._reflectors]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waits)
        except TimeoutError:
            return False
        return True
