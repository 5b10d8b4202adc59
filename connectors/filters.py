"""A small, strict filter language shared by the file-backed connectors.

`level!=info service=checkout "connection refused" !debug` means: field `level` is not `info`,
field `service` equals `checkout`, the message contains `connection refused`, and does not contain
`debug`. Terms are AND-ed; matching is case-insensitive.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from connectors.base import QueryRefused


@dataclass(frozen=True)
class RecordFilter:
    """A parsed filter expression."""

    equals: tuple[tuple[str, str], ...] = ()
    not_equals: tuple[tuple[str, str], ...] = ()
    contains: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def matches(self, record: dict[str, Any], message: str) -> bool:
        """Whether one record passes every term."""
        text = message.lower()
        for key, want in self.equals:
            if str(record.get(key, "")).lower() != want:
                return False
        for key, unwanted in self.not_equals:
            if str(record.get(key, "")).lower() == unwanted:
                return False
        return all(n in text for n in self.contains) and not any(n in text for n in self.excludes)


def parse_filter(expression: str) -> RecordFilter:
    """Parse a filter expression; raise `QueryRefused` naming the bad term."""
    try:
        terms = shlex.split(expression)
    except ValueError as exc:
        raise QueryRefused(f"cannot parse filter {expression!r}: {exc}") from exc
    equals: list[tuple[str, str]] = []
    not_equals: list[tuple[str, str]] = []
    contains: list[str] = []
    excludes: list[str] = []
    for term in terms:
        if "=" in term:
            negated = "!=" in term
            key, _, value = term.partition("!=" if negated else "=")
            if not key.strip() or not value.strip():
                raise QueryRefused(f"filter term {term!r} needs a field and a value, like level=error")
            if negated:
                not_equals.append((key.strip(), value.strip().lower()))
            else:
                equals.append((key.strip(), value.strip().lower()))
        elif term.startswith("!") and len(term) > 1:
            excludes.append(term[1:].lower())
        else:
            contains.append(term.lower())
    return RecordFilter(tuple(equals), tuple(not_equals), tuple(contains), tuple(excludes))
