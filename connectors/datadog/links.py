"""Deep links into the Datadog web UI: the same query over the same time range, not live."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

# `sum:trace.http.request.errors{service:checkout,env:prod} by {host}.as_count()`
_SIMPLE_METRIC = re.compile(
    r"^\s*(?:(?P<agg>avg|sum|min|max|count):)?(?P<metric>[A-Za-z][\w.]*)\s*"
    r"\{(?P<scope>[^{}]*)\}(?:\s*by\s*\{(?P<group>[^{}]*)\})?")
_METRIC_NAME = re.compile(r"(?:avg|sum|min|max|count):(?P<metric>[A-Za-z][\w.]*)")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as the Datadog UI and APIs take them."""
    return int(moment.timestamp() * 1000)


def _window(start: datetime, end: datetime) -> dict[str, str]:
    return {"from_ts": str(epoch_ms(start)), "to_ts": str(epoch_ms(end)), "live": "false"}


def logs_link(ui: str, query: str, start: datetime, end: datetime) -> str:
    """Log Explorer with the query and the time range."""
    return f"{ui}/logs?" + urlencode({"query": query, **_window(start, end)})


def events_link(ui: str, query: str, start: datetime, end: datetime) -> str:
    """Event Explorer with the query and the time range."""
    return f"{ui}/event/explorer?" + urlencode({"query": query, **_window(start, end)})


def monitor_link(ui: str, monitor_id: int, start: datetime, end: datetime) -> str:
    """The monitor's status page over the time range."""
    return f"{ui}/monitors/{monitor_id}?" + urlencode(_window(start, end))


def metrics_link(ui: str, query: str, start: datetime, end: datetime) -> str:
    """Metrics Explorer for the query's metric, scope, aggregation and grouping, over the range.

    The explorer takes a metric and its scope rather than a query, so an arithmetic expression
    opens on its first metric."""
    params: dict[str, str] = {}
    simple = _SIMPLE_METRIC.match(query)
    if simple:
        params["exp_metric"] = simple["metric"]
        if simple["scope"].strip() and simple["scope"].strip() != "*":
            params["exp_scope"] = simple["scope"].strip()
        if simple["agg"]:
            params["exp_agg"] = simple["agg"]
        if simple["group"]:
            params["exp_group"] = simple["group"].strip()
    elif first := _METRIC_NAME.search(query):
        params["exp_metric"] = first["metric"]
    params["exp_row_type"] = "metric"
    return f"{ui}/metric/explorer?" + urlencode({**params, **_window(start, end)})
