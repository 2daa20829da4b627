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
from kwatch.core.store import Store


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


class ObjectFilter:
    """`keep(namespace, name, uid)`: does an object pass the view filter and, when
    given, the selection focus (a set of uids)?

    For panes that outlive objects (timeline, lanes): the selector's verdict is kept
    per uid, so a deleted pod's steps and lane keep it after its row left the store.
    """

    def __init__(self, flt: ViewFilter, focus: set[str] | None, store: Store) -> None:
        self.flt = flt
        self.focus = focus
        self.store = store
        self._labels_ok: dict[str, bool] = {}

    def _selector_ok(self, uid: str) -> bool:
        if self.flt.selector.empty:
            return True
        known = self._labels_ok.get(uid)
        if known is None:
            row = self.store.by_uid(uid) if uid else None
            known = row is not None and self.flt.selector.matches(dict(row.labels))
            self._labels_ok[uid] = known
        return known

    def __call__(self, namespace: str, name: str, uid: str) -> bool:
        if self.focus is not None and uid not in self.focus:
            return False
        flt = self.flt
        if not flt.namespace_ok(namespace) or (flt.text and not flt.name_ok(name)):
            return False
        return self._selector_ok(uid)
