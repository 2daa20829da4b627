"""The in-app view filter: text, namespace and label selector over the store's rows.

It only hides what the panes draw; the store, steps and hazards are untouched (the CLI
scope decides what is watched at all). A node is *matched* when the text occurs in its
name and its labels satisfy the selector; the tree keeps matched nodes, their ancestors
(for context) and their descendants (a matched Deployment brings its pods).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from kwatch.core.labels import Selector, parse_selector
from kwatch.core.rows import Row


@dataclass(frozen=True, slots=True)
class ViewFilter:
    text: str = ""
    namespace: str | None = None  # None: every namespace of the session's scope
    selector_text: str = ""
    selector: Selector = field(default_factory=Selector)

    @property
    def narrows_objects(self) -> bool:
        """True when rows are filtered individually (not just by namespace)."""
        return bool(self.text) or not self.selector.empty

    def namespace_ok(self, namespace: str) -> bool:
        # Cluster-scoped objects (nodes) are never hidden by a namespace choice.
        return self.namespace is None or not namespace or namespace == self.namespace

    def name_ok(self, name: str) -> bool:
        return not self.text or self.text.lower() in name.lower()

    def matches(self, row: Row) -> bool:
        """Does this row itself match the text and the selector?"""
        if not self.name_ok(row.name):
            return False
        return self.selector.empty or self.selector.matches(dict(row.labels))

    def with_text(self, text: str) -> ViewFilter:
        return replace(self, text=text.strip())

    def with_namespace(self, namespace: str | None) -> ViewFilter:
        return replace(self, namespace=namespace or None)

    def with_selector(self, text: str) -> ViewFilter:
        """Raises SelectorError for an invalid selector (the editor shows it inline)."""
        text = text.strip()
        return replace(self, selector_text=text, selector=parse_selector(text))

    def describe(self) -> str:
        parts = []
        if self.namespace is not None:
            parts.append(f"ns {self.namespace}")
        if self.selector_text:
            parts.append(f"-l {self.selector_text}")
        if self.text:
            parts.append(f"/{self.text}")
        return " ".join(parts)
