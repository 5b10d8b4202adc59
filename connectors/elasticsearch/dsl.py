"""What the Elasticsearch connector accepts, parsed into a `QueryPlan`, and what it refuses.

    [VERB:] FILTER | [VERB:] {raw query DSL as JSON}

VERB is `search` (the default: matching documents, newest first), `count`, `histogram` (matching
documents over time: a date_histogram), `top` (most frequent values of a field: a terms aggregation)
or `fields` (field names and types: field capabilities). FILTER is the language of `filters`, case
kept: `service=checkout level!=debug "timed out" !healthcheck`, plus three reserved terms:
`_index=logs-app-*` (which allowed indices to search), `_interval=1m` (histogram bucket width) and
`_field=service.name` (the field `top` counts; default: the message keyword field).

Raw DSL may use only the keys a read needs (`query`, `aggs`, `size`, `sort`, ...), never a script
(any key containing `script`, nor `wrapper`, whose payload cannot be inspected), and may name no index
outside the allowlist (terms lookups, more_like_this and friends read other indices).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import QueryRefused

VERBS = ("search", "count", "histogram", "top", "fields")
_VERB = re.compile(rf"^\s*({'|'.join(VERBS)})\s*:\s*(.*)$", re.S | re.I)
_SEARCH_KEYS = frozenset({"index", "query", "aggs", "aggregations", "size", "from", "sort", "_source",
                          "fields", "track_total_hits"})
_QUERY_ONLY_KEYS = frozenset({"index", "query"})
_FORBIDDEN_KEYS = frozenset({"wrapper"})
_INDEX_KEYS = frozenset({"index", "_index", "indices"})
_INDEX_NAME = re.compile(r"^[a-z0-9*][a-z0-9._*+-]*$")
_FIELD_NAME = re.compile(r"^[^\s=!\"'{}]+$")
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NICE_INTERVALS = ("1s", "5s", "10s", "30s", "1m", "5m", "10m", "15m", "30m", "1h", "3h", "6h", "12h",
                   "1d", "7d")
TARGET_BUCKETS = 61  # an hour in minutes, even when it does not start on the minute


@dataclass(frozen=True)
class FieldNames:
    """The connector's field settings the parser needs."""

    timestamp: str
    message: str
    message_keyword: str
    level: str
    service: str

    def resolve(self, name: str) -> str:
        """`service`, `level` and `message` are aliases of the configured fields."""
        return {"service": self.service, "level": self.level, "message": self.message}.get(name, name)


@dataclass(frozen=True)
class QueryPlan:
    """One parsed query: which API, which indices, and the caller's part of the query."""

    verb: str
    indices: tuple[str, ...]
    query: dict[str, Any] | None = None  # without the time range; None matches everything
    kql: str | None = None  # the same filter for a Discover link (structured queries only)
    body: dict[str, Any] = field(default_factory=dict)  # raw DSL keys other than query / index
    interval: str | None = None
    term_field: str | None = None
    field_patterns: tuple[str, ...] = ()


def index_allowed(name: str, allowlist: Sequence[str]) -> bool:
    """Whether an index name or pattern can only ever match indices the allowlist allows.

    `*` in an allowlist pattern matches any text, including a requested pattern's own `*`, so a
    requested pattern that the allowlist pattern matches as a literal string is covered by it.
    """
    if not _INDEX_NAME.match(name):
        return False
    return any(re.fullmatch(".*".join(map(re.escape, allowed.split("*"))), name) for allowed in allowlist)


def check_indices(requested: Sequence[str], allowlist: Sequence[str]) -> tuple[str, ...]:
    """The requested indices, or `QueryRefused` naming the first one outside the allowlist."""
    names = [part.strip() for item in requested for part in item.split(",") if part.strip()]
    if not names:
        raise QueryRefused("no index given")
    for name in names:
        if not index_allowed(name, allowlist):
            raise QueryRefused(f"index {name!r} is outside the allowlist ({', '.join(allowlist)}); "
                               "exclusions, remote clusters and date math are not accepted")
    return tuple(names)


def interval_ms(interval: str) -> int:
    """Milliseconds in a fixed interval such as `30s` or `5m`."""
    match = _INTERVAL.match(interval)
    if not match or int(match.group(1)) == 0:
        raise QueryRefused(f"bad interval {interval!r}: use a whole number and ms, s, m, h or d, like 1m")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def bucket_count(start_ms: int, end_ms: int, interval: str) -> int:
    """How many epoch-aligned buckets of `interval` the half-open range [start_ms, end_ms) touches."""
    width = interval_ms(interval)
    return (max(start_ms, end_ms - 1) // width) - (start_ms // width) + 1


def auto_interval(start_ms: int, end_ms: int, most: int = TARGET_BUCKETS) -> str:
    """The smallest round interval that cuts the range into at most `most` (and ~60) buckets."""
    most = max(1, min(most, TARGET_BUCKETS))
    for candidate in _NICE_INTERVALS:
        if bucket_count(start_ms, end_ms, candidate) <= most:
            return candidate
    return _NICE_INTERVALS[-1]


def parse_query(text: str, names: FieldNames, allowlist: Sequence[str]) -> QueryPlan:
    """Parse one query; raise `QueryRefused` saying what is wrong with it."""
    verb, rest = "search", text.strip()
    if match := _VERB.match(text):
        verb, rest = match.group(1).lower(), match.group(2).strip()
    if rest.startswith("{"):
        if verb == "fields":
            raise QueryRefused("fields takes field-name patterns, not query DSL")
        return _parse_dsl(verb, rest, names, allowlist)
    return _parse_filter(verb, rest, names, allowlist)


def _parse_dsl(verb: str, text: str, names: FieldNames, allowlist: Sequence[str]) -> QueryPlan:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QueryRefused(f"query DSL is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise QueryRefused("query DSL must be a JSON object such as {\"query\": {...}}")
    allowed = _SEARCH_KEYS if verb == "search" else _QUERY_ONLY_KEYS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise QueryRefused(f"{verb} does not accept {', '.join(unknown)} "
                           f"(allowed keys: {', '.join(sorted(allowed))})")
    check_dsl(body, allowlist)
    requested = body.pop("index", None)
    indices = check_indices(_as_names(requested, "index"), allowlist) if requested else tuple(allowlist)
    query = body.pop("query", None)
    if query is not None and not isinstance(query, dict):
        raise QueryRefused("`query` must be a JSON object")
    term_field = names.message_keyword if verb == "top" else None
    return QueryPlan(verb=verb, indices=indices, query=query, body=body, term_field=term_field)


def check_dsl(node: Any, allowlist: Sequence[str], path: str = "$") -> None:
    """Refuse scripts anywhere, payloads we cannot inspect, and indices outside the allowlist."""
    for key, value, where in _walk(node, path):
        lowered = key.lower()
        if "script" in lowered:
            raise QueryRefused(f"scripts are not allowed: {where}")
        if lowered in _FORBIDDEN_KEYS:
            raise QueryRefused(f"{key} queries are not allowed (their payload cannot be checked): {where}")
        if lowered in _INDEX_KEYS and isinstance(value, str | list):
            for name in _as_names(value, where):
                if not index_allowed(name, allowlist):
                    raise QueryRefused(f"index {name!r} at {where} is outside the allowlist "
                                       f"({', '.join(allowlist)})")


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            yield str(key), value, where
            yield from _walk(value, where)
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _walk(item, f"{path}[{position}]")


def _as_names(value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise QueryRefused(f"index names at {where} must be strings")
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _parse_filter(verb: str, text: str, names: FieldNames, allowlist: Sequence[str]) -> QueryPlan:
    try:
        terms = shlex.split(text)
    except ValueError as exc:
        raise QueryRefused(f"cannot parse filter {text!r}: {exc}") from exc
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    kql: list[str] = []
    reserved: dict[str, str] = {}
    patterns: list[str] = []
    for term in terms:
        if "=" in term:
            negated = "!=" in term
            key, _, value = (part.strip() for part in term.partition("!=" if negated else "="))
            if not key or not value:
                raise QueryRefused(f"filter term {term!r} needs a field and a value, like level=error")
            if not _FIELD_NAME.match(key):
                raise QueryRefused(f"bad field name {key!r} in {term!r}")
            if key in ("_index", "_interval", "_field"):
                if negated or key in reserved:
                    raise QueryRefused(f"{key} may be given once, with =")
                reserved[key] = value
                continue
            if verb == "fields":
                raise QueryRefused("fields takes field-name patterns and _index=, not field filters")
            resolved = names.resolve(key)
            (must_not if negated else must).append({"match_phrase": {resolved: value}})
            kql.append(f"{'not ' if negated else ''}{resolved}:{_kql_quote(value)}")
        elif verb == "fields":
            patterns.append(term)
        elif term.startswith("!") and len(term) > 1:
            must_not.append({"match_phrase": {names.message: term[1:]}})
            kql.append(f"not {names.message}:{_kql_quote(term[1:])}")
        else:
            must.append({"match_phrase": {names.message: term}})
            kql.append(f"{names.message}:{_kql_quote(term)}")
    return _filter_plan(verb, must, must_not, kql, reserved, patterns, names, allowlist)


def _filter_plan(
    verb: str,
    must: list[dict[str, Any]],
    must_not: list[dict[str, Any]],
    kql: list[str],
    reserved: dict[str, str],
    patterns: list[str],
    names: FieldNames,
    allowlist: Sequence[str],
) -> QueryPlan:
    if "_interval" in reserved and verb != "histogram":
        raise QueryRefused("_interval only applies to histogram:")
    if "_field" in reserved and verb != "top":
        raise QueryRefused("_field only applies to top:")
    if "_interval" in reserved:
        interval_ms(reserved["_interval"])
    for pattern in patterns:
        if not _FIELD_NAME.match(pattern):
            raise QueryRefused(f"bad field pattern {pattern!r}")
    indices = check_indices([reserved["_index"]], allowlist) if "_index" in reserved else tuple(allowlist)
    query: dict[str, Any] | None = None
    if must or must_not:
        query = {"bool": {"filter": must, "must_not": must_not}}
    return QueryPlan(
        verb=verb,
        indices=indices,
        query=query,
        kql=" and ".join(kql),
        interval=reserved.get("_interval"),
        term_field=reserved.get("_field", names.message_keyword) if verb == "top" else None,
        field_patterns=tuple(patterns),
    )


def _kql_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
