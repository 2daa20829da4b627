"""Kubernetes label selectors: parse the string form and match label sets.

Grammar (as k8s.io/apimachinery/pkg/labels): comma-separated requirements, each one of
``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "!=", "in", "notin", "exists", "!exists"]

# A qualified name with an optional DNS prefix: "app", "app.kubernetes.io/name".
_KEY = r"(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(rf"^{_KEY}$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")
_TOKEN_RE = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


class SelectorError(ValueError):
    """The selector string is not a valid label selector."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.op:
            case "exists":
                return self.key in labels
            case "!exists":
                return self.key not in labels
            case "=":
                return labels.get(self.key) == self.values[0]
            case "!=":
                return labels.get(self.key) != self.values[0]
            case "in":
                return self.key in labels and labels[self.key] in self.values
            case "notin":
                return labels.get(self.key) not in self.values


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:  # pragma: no cover - the regex accepts any non-space run
            raise SelectorError(f"unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f"invalid label value {value!r}")
    return value


def parse_selector(text: str) -> Selector:
    """Parse a label selector; raise SelectorError with a short reason when invalid."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def need(what: str) -> str:
        nonlocal i
        if i >= len(toks):
            raise SelectorError(f"expected {what} at end of selector")
        tok = toks[i]
        i += 1
        return tok

    while i < len(toks):
        tok = need("a key")
        if tok == "!":
            reqs.append(Requirement(_check_key(need("a key after '!'")), "!exists"))
        else:
            key = _check_key(tok)
            nxt = toks[i] if i < len(toks) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                value = toks[i] if i < len(toks) and toks[i] not in (",", "(", ")") else ""
                if value:
                    i += 1
                op: Operator = "!=" if nxt == "!=" else "="
                reqs.append(Requirement(key, op, (_check_value(value),)))
            elif nxt in ("in", "notin"):
                i += 1
                if need("'('") != "(":
                    raise SelectorError(f"expected '(' after {nxt!r}")
                values: list[str] = []
                while True:
                    v = need("a value or ')'")
                    if v == ")":
                        break
                    if v == ",":
                        continue
                    values.append(_check_value(v))
                if not values:
                    raise SelectorError(f"{key} {nxt} () needs at least one value")
                set_op: Operator = "in" if nxt == "in" else "notin"
                reqs.append(Requirement(key, set_op, tuple(values)))
            else:
                raise SelectorError(f"unexpected {nxt!r} after key {key!r}")
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError(f"expected ',' but found {toks[i]!r}")
            i += 1
            if i >= len(toks):
                raise SelectorError("selector ends with ','")
    return Selector(tuple(reqs))
