"""Command palette provider fed by the action registry (the same source as BINDINGS)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from kwatch.ui.actions import UiAction, palette_actions


def _help(action: UiAction) -> str:
    # The palette parses help as markup: keys like "/" or "[" must not become tags.
    return escape(f"{action.help}  (key: {action.display_keys})")


class ActionCommands(Provider):
    """Every app-level action, searchable by its description."""

    def _run(self, action: UiAction) -> Callable[[], object]:
        return partial(self.app.run_action, action.id)

    async def discover(self) -> Hits:
        for action in palette_actions():
            yield DiscoveryHit(action.description, self._run(action), help=_help(action))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in palette_actions():
            score = matcher.match(action.description)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(action.description),
                    self._run(action),
                    help=_help(action),
                )
