"""Three reads: events (cursor-paginated, capped), metrics, and one monitor; logs are in `logs`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any

from connectors.base import Sampling
from connectors.datadog.client import DatadogClient, Json
from connectors.datadog.errors import DatadogError, backend_message
from connectors.datadog.links import epoch_ms
from connectors.datadog.rows import (
    event_row,
    iso,
    metric_rows,
)
from connectors.datadog.settings import DatadogSettings


@dataclass
class ReadResult:
    """Rows in time order, a compact summary, and whether Datadog had more than we fetched."""

    rows: list[dict[str, Any]]
    summary: str
    more: bool = False
    notes: list[str] = field(default_factory=list)
    sampling: Sampling | None = None


@dataclass
class Pages:
    """Cursor pagination state shared by logs and events."""

    items: list[Json] = field(default_factory=list)
    pages: int = 0
    cursor: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, page: Json) -> None:
        """Take one page's data, its next cursor, and any warning or partial-result status."""
        self.pages += 1
        self.items += page.get("data") or []
        meta = page.get("meta") or {}
        self.cursor = (meta.get("page") or {}).get("after") or None
        for warning in meta.get("warnings") or []:
            text = backend_message({"errors": [warning]})
            if text and f"Datadog warning: {text}" not in self.notes:
                self.notes.append(f"Datadog warning: {text}")
        if meta.get("status") == "timeout":
            self.notes.append("Datadog timed out the search: results are partial")


def paged(fetch: Callable[[int, str | None], Json], settings: DatadogSettings, wanted: int,
           pages: Pages | None = None) -> Pages:
    """Follow cursors until `wanted` items, no more pages, or the page cap (going on from `pages`)."""
    pages = pages or Pages()
    while True:
        pages.add(fetch(min(settings.page_size, wanted - len(pages.items)), pages.cursor))
        if not pages.cursor or len(pages.items) >= wanted or pages.pages >= settings.max_pages:
            return pages


def _cap_note(more: bool, kept: int, pages: int, noun: str) -> str:
    return f"; newest {kept} {noun} shown, more matched (stopped after {pages} page(s))" if more else ""


def read_events(client: DatadogClient, settings: DatadogSettings, query: str, start: datetime,
                end: datetime, limit: int) -> ReadResult:
    """Newest-first event search, returned oldest first, each shaped as a deploy record."""
    pages = paged(lambda size, cursor: client.search_events(
        query, epoch_ms(start), epoch_ms(end), size, cursor), settings, limit)
    rows = [event_row(item) for item in pages.items][:limit]
    rows.reverse()
    more = bool(pages.cursor) or len(pages.items) > limit
    latest = "; ".join(_event_line(row) for row in rows[-5:][::-1])
    summary = f"{len(rows)} events; latest: {latest}{_cap_note(more, len(rows), pages.pages, 'events')}"
    return ReadResult(rows, summary, more, pages.notes)


def _event_line(row: dict[str, Any]) -> str:
    what = row["title"] or row["message"][:80]
    where = " ".join(part for part in (row["service"], row["commit"][:10] or row["version"]) if part)
    return f"{row['timestamp']} {what}" + (f" ({where})" if where else "")


def read_metrics(client: DatadogClient, query: str, start: datetime, end: datetime) -> ReadResult:
    """Timeseries points of every series the query returns."""
    # Datadog takes whole epoch seconds; round outwards so the range is never shortened.
    response = client.query_metrics(query, int(start.timestamp()), -int(-end.timestamp() // 1))
    if response.get("status") == "error":
        raise DatadogError(f"Datadog metrics query failed: {response.get('error') or 'status error'}")
    series = response.get("series") or []
    rows = metric_rows(series)
    parts = []
    for each in series[:5]:
        values = [float(p[1]) for p in each.get("pointlist") or [] if len(p) > 1 and p[1] is not None]
        name = each.get("expression") or each.get("metric") or "?"
        if values:
            parts.append(f"{name}: {len(values)} points, first {values[0]:g}, last {values[-1]:g}, "
                         f"min {min(values):g}, max {max(values):g}, mean {fmean(values):.3g}")
        else:
            parts.append(f"{name}: no points")
    more = f" (+{len(series) - 5} more series)" if len(series) > 5 else ""
    summary = f"{len(series)} series, {len(rows)} points; " + "; ".join(parts) + more
    notes = [f"Datadog: {response['message']}"] if response.get("message") else []
    return ReadResult(rows, summary, notes=notes)


def read_monitor(client: DatadogClient, monitor_id: int) -> ReadResult:
    """The monitor (its query and overall state) and the state of each of its groups."""
    monitor = client.get_monitor(monitor_id)
    state = str(monitor.get("overall_state") or "Unknown")
    head = {
        "row": "monitor", "timestamp": iso(monitor.get("modified")), "monitor_id": monitor_id,
        "name": monitor.get("name") or "", "type": str(monitor.get("type") or ""), "state": state,
        "query": monitor.get("query") or "", "priority": monitor.get("priority"),
        "tags": ",".join(monitor.get("tags") or []), "message": monitor.get("message") or "",
    }
    groups = ((monitor.get("state") or {}).get("groups") or {}).items()
    group_rows = [{
        "row": "group", "timestamp": iso(group.get("last_triggered_ts")), "monitor_id": monitor_id,
        "group": group.get("name") or key, "state": str(group.get("status") or ""),
        "last_triggered": iso(group.get("last_triggered_ts")),
        "last_resolved": iso(group.get("last_resolved_ts")),
        "last_nodata": iso(group.get("last_nodata_ts")),
        "last_notified": iso(group.get("last_notified_ts")),
    } for key, group in groups]
    group_rows.sort(key=lambda row: row["timestamp"] or "", reverse=True)
    counts = Counter(row["state"] for row in group_rows)
    firing = [row["group"] for row in group_rows if row["state"] in ("Alert", "Warn", "No Data")]
    summary = (f"monitor {monitor_id} {head['name']!r} ({head['type']}) is {state}; "
               f"query: {head['query']}")
    if group_rows:
        summary += "; groups: " + ", ".join(f"{s}={n}" for s, n in counts.most_common())
    if firing:
        summary += "; not OK: " + ", ".join(firing[:10]) + (" …" if len(firing) > 10 else "")
    return ReadResult([head, *group_rows], summary)
