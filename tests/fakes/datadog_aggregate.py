"""`POST /api/v2/logs/analytics/aggregate` for the loopback Datadog API, in the documented shapes.

Request: `{"compute": [{"aggregation": "count", "type": "timeseries" | "total", "interval": "1m"}],
"filter": {"query", "from", "to", "indexes"}, "group_by": [{"facet": "status", "limit": 10}],
"page": {"cursor"}}`. Response: `{"data": {"buckets": [{"by": {"status": "error"}, "computes":
{"c0": [{"time": "2024-05-01T12:00:00.000Z", "value": 12.0}, ...]}}]}, "meta": {"elapsed",
"request_id", "status": "done", "page": {"after"}}}`: one bucket per group value (the top `limit`
by count; the next groups behind `meta.page.after`), compute `cN` for the N-th compute, a
timeseries listing its non-empty intervals, a total a number. Only `count` is supported.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class AggregateError(ValueError):
    """A request the real API would answer with 400."""


def _interval_ms(text: Any) -> int:
    found = _INTERVAL.match(str(text))
    if not found or int(found.group(1)) < 1:
        raise AggregateError(f"invalid interval {text!r}")
    return int(found.group(1)) * _UNIT_MS[found.group(2)]


def _facet_value(log: Json, facet: str) -> str:
    attrs = log["attributes"]
    if facet.startswith("@"):
        return str((attrs.get("attributes") or {}).get(facet[1:], ""))
    return str(attrs.get(facet, ""))


def check_body(body: Any) -> Json:
    """The body, if it is a request the fake can answer; `AggregateError` names what is not."""
    if not isinstance(body, dict) or set(body) - {"compute", "filter", "group_by", "options", "page"}:
        raise AggregateError(f"invalid request body: {body!r}")
    for compute in body.get("compute") or [{"aggregation": "count"}]:
        if compute.get("aggregation") != "count":
            raise AggregateError(f"aggregation {compute.get('aggregation')!r} is not supported by the fake")
        if compute.get("type", "total") not in ("timeseries", "total"):
            raise AggregateError(f"invalid compute type {compute.get('type')!r}")
        if compute.get("type") == "timeseries":
            _interval_ms(compute.get("interval", "1m"))
    if len(body.get("group_by") or []) > 1:
        raise AggregateError("the fake groups by one facet at most")
    return body


def aggregate(body: Json, stamps: list[datetime], logs: list[Json], offset: int) -> tuple[Json, int | None]:
    """The response data for matching `logs` (with their `stamps`), and the next group offset."""
    computes = body.get("compute") or [{"aggregation": "count"}]
    group = (body.get("group_by") or [{}])[0]
    facet = group.get("facet")
    members: dict[str, list[datetime]] = defaultdict(list)
    for stamp, log in zip(stamps, logs, strict=True):
        members[_facet_value(log, facet) if facet else "*"].append(stamp)
    ranked = sorted(members, key=lambda key: (-len(members[key]), key))
    limit = int(group.get("limit", 10)) if facet else 1
    page = ranked[offset:offset + limit]
    buckets = []
    for key in page:
        values: Json = {}
        for position, compute in enumerate(computes):
            if compute.get("type") == "timeseries":
                width = _interval_ms(compute.get("interval", "1m"))
                per = Counter(int(s.timestamp() * 1000) // width * width for s in members[key])
                values[f"c{position}"] = [{"time": _iso(ms), "value": float(n)}
                                           for ms, n in sorted(per.items())]
            else:
                values[f"c{position}"] = float(len(members[key]))
        buckets.append({"by": {facet: key} if facet else {}, "computes": values})
    more = offset + limit if offset + limit < len(ranked) else None
    return {"buckets": buckets}, more


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
