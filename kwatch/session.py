"""Session: what a view needs to show one watched cluster, whatever feeds it.

Live watching, the demo cluster and replay each build a Session. The TUI reads it and
never fetches: the pipeline (store, steps, hazards) is fed by the session's source;
health, traffic and actions are callables/objects the source provides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from kwatch.core.pipeline import Pipeline


class HealthLike(Protocol):
    """What the status bar reads of one reflector (kwatch.sources.health.KindHealth)."""

    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    def summary(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TrafficCounters:
    """The demo's traffic simulator: requests through the ingress, by outcome."""

    ok: int = 0
    refused: int = 0
    timeout: int = 0
    target: str = ""  # e.g. "svc default/web"


class ClusterActions(Protocol):
    """Writes a user explicitly asks for (teaching actions). Each raises on failure."""

    async def delete_pod(self, namespace: str, name: str) -> None: ...
    async def scale(self, kind: str, namespace: str, name: str, replicas: int) -> None: ...
    async def rollout_restart(self, kind: str, namespace: str, name: str) -> None: ...
    async def set_image(
        self, kind: str, namespace: str, name: str, container: str, image: str
    ) -> None: ...


@dataclass
class Session:
    pipeline: Pipeline
    source: Literal["live", "demo", "replay"]
    context: str  # kubeconfig context name, "kwatch-demo", or the recording's file name
    scope: str  # human description, e.g. "default -l app=web"
    start: float  # epoch seconds the session (or recording) started
    clock: Callable[[], float]  # "now" in the session's time (simulated in demo/replay)
    read_only: bool = True
    health: Callable[[], Sequence[HealthLike]] = lambda: ()
    traffic: Callable[[], TrafficCounters | None] = lambda: None
    actions: ClusterActions | None = None
    recording_path: str | None = None
    add_note: Callable[[str, bool], None] | None = None  # (text, bookmark) → recorder
    narration: list[str] = field(default_factory=list)  # demo scenario narration lines
