"""Turn a `QueryPlan` into the one read request the connector sends: the time range always applied,
sizes capped, and a one-line description of exactly what was sent (for error Evidence)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import QueryRefused
from connectors.elasticsearch.dsl import FieldNames, QueryPlan, auto_interval, bucket_count

HISTOGRAM = "over_time"
TOP = "top"


@dataclass(frozen=True)
class Limits:
    """Caps from the connector settings."""

    max_hits: int
    max_buckets: int
    timeout_seconds: float


@dataclass(frozen=True)
class ReadRequest:
    """One read API call: `search`, `count` or `field_caps`, its index list and its body."""

    api: str
    indices: tuple[str, ...]
    body: dict[str, Any]
    params: dict[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        """HTTP method: field_caps is a GET; searches and counts POST their body."""
        return "GET" if self.api == "field_caps" else "POST"

    @property
    def path(self) -> str:
        """`/logs-a-*,logs-b-*/_search` (index names are validated, so need no escaping)."""
        endpoint = {"search": "_search", "count": "_count", "field_caps": "_field_caps"}[self.api]
        return f"/{','.join(self.indices)}/{endpoint}"

    def describe(self) -> str:
        """`POST /logs-*/_search?timeout=10000ms {...}`: what went over the wire, compactly."""
        query = "&".join(f"{key}={value}" for key, value in sorted(self.params.items()))
        body = f" {json.dumps(self.body, separators=(',', ':'), default=str)}" if self.body else ""
        return f"{self.method} {self.path}{'?' + query if query else ''}{body}"


def time_range(names: FieldNames, start: datetime, end: datetime) -> dict[str, Any]:
    """The half-open [start, end) range on the timestamp field, in UTC ISO 8601."""
    return {"range": {names.timestamp: {
        "gte": _iso(start), "lt": _iso(end), "format": "strict_date_optional_time"}}}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _bounded(plan: QueryPlan, names: FieldNames, start: datetime, end: datetime) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [time_range(names, start, end)]
    if plan.query is not None:
        clauses.append(plan.query)
    return {"bool": {"filter": clauses}}


def build_request(
    plan: QueryPlan, names: FieldNames, limits: Limits, start: datetime, end: datetime, limit: int
) -> ReadRequest:
    """The request for `plan` over [start, end), at most `limit` rows."""
    if plan.verb == "fields":
        patterns = ",".join(plan.field_patterns) or "*"
        return ReadRequest("field_caps", plan.indices, {}, {"fields": patterns})
    query = _bounded(plan, names, start, end)
    if plan.verb == "count":
        return ReadRequest("count", plan.indices, {"query": query}, {})
    server_timeout = {"timeout": f"{max(1, int(limits.timeout_seconds * 1000))}ms"}
    if plan.verb == "histogram":
        return ReadRequest("search", plan.indices, {
            "query": query, "size": 0, "track_total_hits": True,
            "aggs": {HISTOGRAM: _histogram(plan, names, min(limit, limits.max_buckets), start, end)},
        }, server_timeout)
    if plan.verb == "top":
        size = min(limit, limits.max_buckets)
        return ReadRequest("search", plan.indices, {
            "query": query, "size": 0, "track_total_hits": True,
            "aggs": {TOP: {"terms": {"field": plan.term_field, "size": size}}},
        }, server_timeout)
    return _search(plan, names, limits, query, limit, server_timeout)


def _histogram(
    plan: QueryPlan, names: FieldNames, most: int, start: datetime, end: datetime
) -> dict[str, Any]:
    """A date_histogram over exactly [start, end), empty buckets included, at most `most` buckets."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    interval = plan.interval or auto_interval(start_ms, end_ms, most)
    buckets = bucket_count(start_ms, end_ms, interval)
    if buckets > most:
        raise QueryRefused(f"interval {interval} would make {buckets} buckets over this range; "
                           f"at most {most} fit (the row limit or the bucket cap)")
    return {"date_histogram": {
        "field": names.timestamp, "fixed_interval": interval, "min_doc_count": 0,
        "extended_bounds": {"min": start_ms, "max": max(start_ms, end_ms - 1)},
    }}


def _search(
    plan: QueryPlan,
    names: FieldNames,
    limits: Limits,
    query: dict[str, Any],
    limit: int,
    params: dict[str, Any],
) -> ReadRequest:
    extra = dict(plan.body)
    cap = min(limit, limits.max_hits)
    notes: list[str] = []
    asked = extra.pop("size", None)
    if asked is not None and (not isinstance(asked, int) or isinstance(asked, bool) or asked < 0):
        raise QueryRefused(f"size must be a non-negative integer, not {asked!r}")
    size = cap if asked is None else min(asked, cap)
    if asked is not None and asked > cap:
        notes.append(f"size {asked} capped at {cap}")
    offset = extra.get("from")
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool) or offset < 0):
        raise QueryRefused(f"from must be a non-negative integer, not {offset!r}")
    for key in ("aggs", "aggregations"):
        if key in extra:
            _check_agg_sizes(extra[key], limits.max_buckets, f"$.{key}")
    body: dict[str, Any] = {"query": query, "size": size, "track_total_hits": True,
                            "sort": [{names.timestamp: {"order": "desc"}}], **extra}
    return ReadRequest("search", plan.indices, body, params, tuple(notes))


def _check_agg_sizes(node: Any, cap: int, path: str) -> None:
    """Bucket sizes in raw aggregations stay under the cap (refused, not silently changed)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in ("size", "shard_size") and isinstance(value, int) and value > cap:
                raise QueryRefused(f"{where} = {value} exceeds the bucket cap of {cap}")
            _check_agg_sizes(value, cap, where)
    elif isinstance(node, list):
        for position, item in enumerate(node):
            _check_agg_sizes(item, cap, f"{path}[{position}]")
