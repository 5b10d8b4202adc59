"""`logs:` reads under the cap policy (`connectors.sampling`): the newest lines, a per-minute sample
of the older ones, and exact per-minute counts from the logs aggregate API.

1. The newest ceil(N/2) lines (`sort: -timestamp`, cursor pages). If that is everything, done.
2. `POST /api/v2/logs/analytics/aggregate`: a `count` timeseries at `1m`, grouped by `status`, for
   the exact total and per-minute counts by level. If everything fits in N, the rest is paged in.
3. Otherwise each older minute's quota (from the exact counts) is fetched by one search over that
   minute (newest first, a quarter more than the quota so the pick can spread over shapes), at most
   `max_sample_requests` searches; past that, neighbouring minutes share a search, and a busy
   minute can then crowd out a quiet neighbour (Datadog has no random order to sample with).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from connectors.datadog.client import DatadogClient, Json
from connectors.datadog.reads import Pages, ReadResult, paged
from connectors.datadog.rows import log_row, top_messages
from connectors.datadog.settings import DatadogSettings
from connectors.sampling import (
    MINUTE,
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

_MS = timedelta(milliseconds=1)
MAX_AGGREGATE_PAGES = 5  # status groups, 100 per page: far more than any organisation has


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stamp(row: dict[str, Any]) -> datetime:
    return parse_timestamp(row["timestamp"])


def read_logs(client: DatadogClient, settings: DatadogSettings, query: str, start: datetime,
              end: datetime, limit: int) -> ReadResult:
    """Logs in [start, end), oldest first, capped by the sampling policy, with exact counts."""
    newest_count, _ = split(limit)

    def search(size: int, cursor: str | None) -> Json:
        return client.search_logs(query, start.isoformat(), end.isoformat(), size, cursor)

    pages = paged(search, settings, newest_count)
    counts: MinuteCounts | None = None
    if pages.cursor:
        counts = _aggregate(client, query, start, end)
        if counts.total <= limit and pages.pages < settings.max_pages:
            pages = paged(search, settings, limit, pages)
    newest = [log_row(item) for item in pages.items]
    if not pages.cursor:  # every matching line is here: count them exactly
        counts = MinuteCounts(start, end)
        for row in newest:
            counts.add(_stamp(row), row["level"] or "?")
        rows = newest[::-1]
        sampling = describe(counts, len(rows), 0)
    else:
        assert counts is not None
        sampled = _sample(client, settings, query, start, end, counts, newest, limit - len(newest), pages)
        rows = sorted(sampled + newest[::-1], key=_stamp)
        sampling = describe(counts, len(newest), len(sampled), how=", per-minute searches")
    levels: Counter[str] = Counter()
    for minute in sampling.per_minute:
        levels.update(minute.by_level)
    by_level = ", ".join(f"{level}={n}" for level, n in levels.most_common())
    summary = f"{counts.total} log lines ({by_level}); top: {top_messages(rows)}"
    return ReadResult(rows, summary, len(rows) < counts.total, pages.notes, sampling)


def _aggregate(client: DatadogClient, query: str, start: datetime, end: datetime) -> MinuteCounts:
    """Exact per-minute counts by status from the aggregate API."""
    counts = MinuteCounts(start, end)
    cursor: str | None = None
    for _ in range(MAX_AGGREGATE_PAGES):
        page = client.aggregate_logs(query, start.isoformat(), end.isoformat(), "status", "1m", cursor)
        for bucket in (page.get("data") or {}).get("buckets") or []:
            level = str((bucket.get("by") or {}).get("status") or "?")
            points = (bucket.get("computes") or {}).get("c0") or []
            for point in points if isinstance(points, list) else []:
                if point.get("value"):
                    counts.add(parse_timestamp(point["time"]), level, round(float(point["value"])))
        cursor = ((page.get("meta") or {}).get("page") or {}).get("after")
        if not cursor:
            break
    return counts


def _groups(minutes: list[datetime], most: int) -> list[list[datetime]]:
    """Minutes in at most `most` runs of neighbours (one each when they fit)."""
    if most <= 0 or not minutes:
        return []
    size = -(-len(minutes) // most)
    return [minutes[i:i + size] for i in range(0, len(minutes), size)]


def _sample(client: DatadogClient, settings: DatadogSettings, query: str, start: datetime,
            end: datetime, counts: MinuteCounts, newest: list[dict[str, Any]], budget: int,
            pages: Pages) -> list[dict[str, Any]]:
    """The per-minute sample of the lines older than the newest ones."""
    older = counts.counts()
    for row in newest:
        minute = minute_of(_stamp(row))
        if minute in older:
            older[minute] -= 1
    older = {minute: count for minute, count in older.items() if count > 0}
    capacity = {minute: min(count, settings.page_size) for minute, count in older.items()}
    shares = allocate(capacity, max(budget, 0), spread(sorted(capacity), max(budget, 0)), weight=older)
    cutoff, seen = _stamp(newest[-1]), {row["id"] for row in newest}
    seed = seed_of(query, start, end)
    sampled: list[dict[str, Any]] = []
    for group in _groups(sorted(shares), settings.max_sample_requests):
        wanted = sum(shares[minute] for minute in group)
        low, high = max(group[0], start), min(group[-1] + MINUTE - _MS, cutoff, end - _MS)
        # A quarter more than the quota leaves the pick a choice of shapes; not more, because the
        # client spends about a millisecond deserializing each log.
        size = min(settings.page_size, wanted + wanted // 4 + 5)
        page = client.search_logs(query, _iso(low), _iso(high), size, None)
        pages.add(page)
        by_minute: dict[datetime, list[Line[dict[str, Any]]]] = defaultdict(list)
        for item in page.get("data") or []:
            row = log_row(item)
            if row["id"] not in seen:
                stamp = _stamp(row)
                by_minute[minute_of(stamp)].append(Line(stamp, message_shape(row["message"]), row))
        picked: list[Line[dict[str, Any]]] = []
        for minute in group:
            picked += pick_in_minute(by_minute[minute], shares[minute], seed)
        # A shared search returns its newest minutes: what their older neighbours could not fill
        # is taken from the rest, so the group still brings its whole quota.
        chosen = {id(line) for line in picked}
        rest = [line for minute in group for line in by_minute[minute] if id(line) not in chosen]
        picked += pick_in_minute(rest, wanted - len(picked), seed)
        sampled.extend(line.item for line in picked)
    return sampled
