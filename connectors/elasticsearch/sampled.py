"""Plain searches under the logs cap policy (`connectors.sampling`), in at most two `_search` calls.

1. The newest hits (`sort: @timestamp desc`, `size` = the cap), `track_total_hits: true` for the
   exact total, and a 1-minute `date_histogram` with a `terms` on the level for exact per-minute
   counts. When everything fits, that is the answer.
2. Otherwise the newest half is kept and the older lines are sampled by a second search over
   [start, oldest kept]: the same 1-minute `date_histogram` with a `top_hits` per minute under a
   `function_score` / `random_score` seeded by the query (a random, repeatable pick inside each
   minute on Elasticsearch and OpenSearch). Each minute's quota (`sampling.allocate`, from the exact
   counts) is then drawn from its hits across message shapes (`sampling.pick_in_minute`).

Limits: `top_hits` returns at most 100 hits per bucket (Elasticsearch's default
`index.max_inner_result_window`), so one minute contributes at most 100 sampled lines; when the
level field is not aggregatable (mapped as text), the per-minute counts come without levels.
osmem-server (the test emulator) accepts `random_score` but scores every hit 0, so there the pick
inside a minute is by index order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError

from connectors.base import QueryRequest, Sampling
from connectors.elasticsearch.dsl import FieldNames, QueryPlan
from connectors.elasticsearch.requests import Limits, ReadRequest, time_range
from connectors.elasticsearch.results import flatten, sampled_summary, shard_notes
from connectors.sampling import (
    Line,
    MinuteCounts,
    allocate,
    describe,
    message_shape,
    minute_of,
    pick_in_minute,
    seed_of,
    split,
    spread,
)
from connectors.timeparse import parse_timestamp

PER_MINUTE = "per_minute"
LEVELS = "levels"
HITS = "sample"
TOP_HITS_MAX = 100
LEVEL_BUCKETS = 50
# What a 400 says when the level field cannot be aggregated (mapped as text): only then is a
# count without levels worth a second request (a refused media type or query fails the same way).
_NOT_AGGREGATABLE = re.compile(r"(?i)fielddata|aggregat|text fields are not optimi[sz]ed")
MAX_MINUTES = 2 * 24 * 60  # per-minute buckets (times levels) must stay under search.max_buckets
# Raw DSL that already decides order, paging or aggregations is sent as written, not sampled.
_OWN_SHAPE = frozenset({"sort", "from", "size", "aggs", "aggregations", "track_total_hits"})


def samplable(plan: QueryPlan, start: datetime, end: datetime) -> bool:
    """Whether a query is a plain search the cap policy applies to."""
    return (plan.verb == "search" and not _OWN_SHAPE & set(plan.body)
            and (end - start) <= timedelta(minutes=MAX_MINUTES))


def _filtered(plan: QueryPlan, names: FieldNames, start: datetime, end: datetime,
              inclusive_end: bool = False) -> dict[str, Any]:
    bounds = time_range(names, start, end)
    if inclusive_end:
        inner = bounds["range"][names.timestamp]
        inner["lte"] = inner.pop("lt")
    clauses: list[dict[str, Any]] = [bounds] + ([plan.query] if plan.query is not None else [])
    return {"bool": {"filter": clauses}}


def _minutes(names: FieldNames) -> dict[str, Any]:
    return {"field": names.timestamp, "fixed_interval": "1m", "min_doc_count": 1}


def newest_request(plan: QueryPlan, names: FieldNames, limits: Limits, start: datetime,
                   end: datetime, cap: int, levels: bool = True) -> ReadRequest:
    """Request 1: the newest `cap` hits, the exact total, and exact per-minute counts by level."""
    per_minute: dict[str, Any] = {"date_histogram": _minutes(names)}
    if levels:
        per_minute["aggs"] = {LEVELS: {"terms": {"field": names.level, "size": LEVEL_BUCKETS}}}
    body: dict[str, Any] = {
        "query": _filtered(plan, names, start, end), "size": cap, "track_total_hits": True,
        "sort": [{names.timestamp: {"order": "desc"}}], "aggs": {PER_MINUTE: per_minute},
        **plan.body,
    }
    notes = () if levels else (f"per-minute counts without levels: {names.level} is not aggregatable",)
    return ReadRequest("search", plan.indices, body, _timeout(limits), notes)


def sample_request(plan: QueryPlan, names: FieldNames, limits: Limits, start: datetime,
                   cutoff: datetime, per_minute: int, seed: int) -> ReadRequest:
    """Request 2: up to `per_minute` random hits of every minute of [start, cutoff]."""
    hits: dict[str, Any] = {"size": per_minute}
    if "_source" in plan.body:
        hits["_source"] = plan.body["_source"]
    body: dict[str, Any] = {
        "query": {"function_score": {
            "query": _filtered(plan, names, start, cutoff, inclusive_end=True),
            "random_score": {"seed": seed, "field": "_seq_no"}, "boost_mode": "replace"}},
        "size": 0,
        "aggs": {PER_MINUTE: {"date_histogram": _minutes(names), "aggs": {HITS: {"top_hits": hits}}}},
    }
    return ReadRequest("search", plan.indices, body, _timeout(limits))


def _timeout(limits: Limits) -> dict[str, Any]:
    return {"timeout": f"{max(1, int(limits.timeout_seconds * 1000))}ms"}


def _buckets(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((response.get("aggregations") or {}).get(PER_MINUTE) or {}).get("buckets") or [])


def _bucket_minute(bucket: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(bucket["key"]) / 1000, tz=UTC)


def minute_counts(response: dict[str, Any], start: datetime, end: datetime) -> MinuteCounts:
    """Exact per-minute counts by level from request 1's aggregation (`other` past 50 levels,
    `?` for documents without a level)."""
    counts = MinuteCounts(start, end)
    for bucket in _buckets(response):
        minute, total = _bucket_minute(bucket), int(bucket.get("doc_count") or 0)
        levels = bucket.get(LEVELS) or {}
        for level in levels.get("buckets") or []:
            counts.add(minute, str(level.get("key_as_string", level.get("key"))),
                       int(level.get("doc_count") or 0))
        other = int(levels.get("sum_other_doc_count") or 0)
        counts.add(minute, "other", other)
        counts.add(minute, "?", total - other - sum(int(level.get("doc_count") or 0)
                                                  for level in levels.get("buckets") or []))
    return counts


def hit_rows(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the connector renders hits: `_index`, `_id`, then the flattened source."""
    return [{"_index": hit.get("_index"), "_id": hit.get("_id"), **flatten(hit.get("_source") or {})}
            for hit in hits]


def row_stamp(row: dict[str, Any], names: FieldNames) -> datetime:
    """A row's timestamp (rows without a readable one sort first)."""
    try:
        return parse_timestamp(row.get(names.timestamp))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def quotas(counts: MinuteCounts, newest: list[dict[str, Any]], names: FieldNames,
           budget: int) -> tuple[dict[datetime, int], int]:
    """Each older minute's share of the sample budget (from the exact counts less the newest rows),
    and how many hits per minute to fetch for it."""
    older = counts.counts()
    for row in newest:
        minute = minute_of(row_stamp(row, names))
        if minute in older:
            older[minute] -= 1
    older = {minute: count for minute, count in older.items() if count > 0}
    per_minute = TOP_HITS_MAX
    # Every minute gets the same top_hits size: shrink it while the answer would hold more than
    # four times the budget (a spike minute must not make every quiet minute send 100 hits).
    while per_minute > 1 and sum(min(count, per_minute) for count in older.values()) > 4 * budget:
        per_minute = max(1, per_minute * 3 // 4)
    capacity = {minute: min(count, per_minute) for minute, count in older.items()}
    shares = allocate(capacity, budget, spread(sorted(capacity), budget), weight=older)
    return shares, max(shares.values(), default=1)


def pick(response: dict[str, Any], quota: dict[datetime, int], exclude: set[tuple[Any, Any]],
         names: FieldNames, seed: str) -> list[dict[str, Any]]:
    """Each minute's quota from its sampled hits, spread over message shapes."""
    picked: list[dict[str, Any]] = []
    for bucket in _buckets(response):
        wanted = quota.get(_bucket_minute(bucket), 0)
        hits = ((bucket.get(HITS) or {}).get("hits") or {}).get("hits") or []
        rows = [row for row in hit_rows(hits) if (row["_index"], row["_id"]) not in exclude]
        lines = [Line(row_stamp(row, names), message_shape(str(row.get(names.message, ""))), row)
                 for row in rows]
        picked.extend(line.item for line in pick_in_minute(lines, wanted, seed))
    return picked


def search_capped(send: Callable[[ReadRequest], dict[str, Any]], plan: QueryPlan, names: FieldNames,
                  limits: Limits, request: QueryRequest,
                  cap: int) -> tuple[list[dict[str, Any]], str, Sampling]:
    """A plain search under the cap policy: rows oldest first, a summary, and the `Sampling`."""
    start, end = request.start, request.end
    first = newest_request(plan, names, limits, start, end, cap)
    try:
        response = send(first)
    except ApiError as exc:
        # A level field mapped as text cannot be aggregated (400): count without levels rather
        # than fail a search that works; a 400 for any other reason fails again, and is reported.
        if exc.meta.status != 400 or not _NOT_AGGREGATABLE.search(f"{exc.message} {exc.body}"):
            raise
        first = newest_request(plan, names, limits, start, end, cap, levels=False)
        response = send(first)
    rows = hit_rows(response.get("hits", {}).get("hits", []))
    counts = minute_counts(response, start, end)
    notes = "".join(f"; {note}" for note in first.notes) + shard_notes(response)
    if counts.total <= len(rows):
        rows.reverse()
        sampling = describe(counts, len(rows), 0)
    else:
        newest_count, budget = split(cap)
        newest = rows[:newest_count]
        shares, per_minute = quotas(counts, newest, names, budget)
        sampled: list[dict[str, Any]] = []
        if shares:
            seed = seed_of(request.query, start, end)
            answer = send(sample_request(plan, names, limits, start, row_stamp(newest[-1], names),
                                         per_minute, int(seed, 16) % 2**31))
            sampled = pick(answer, shares, {(row["_index"], row["_id"]) for row in newest}, names, seed)
            notes += shard_notes(answer)
        rows = sorted(sampled + newest[::-1], key=lambda row: row_stamp(row, names))
        sampling = describe(counts, len(newest), len(sampled), how=", random top hits per minute")
    levels: Counter[str] = Counter()
    for minute in sampling.per_minute:
        levels.update(minute.by_level)
    return rows, sampled_summary(counts.total, levels, rows, names, notes), sampling
