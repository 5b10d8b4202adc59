"""Prometheus API answers as Evidence rows, compact summaries and links into the Prometheus UI.

Points have the shape the metric analyzer reads (see `files_metrics.group_series`):
`{"timestamp": ISO 8601, "metric": __name__, "value": float, <label>: <value>, ...}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Any
from urllib.parse import urlencode

from connectors.files_metrics import series_key
from connectors.prometheus.syntax import format_duration
from connectors.timeparse import parse_timestamp

_RESERVED = ("timestamp", "metric", "value")
_SHOWN_SERIES = 5


def sample_value(text: Any) -> float | str:
    """A sample value as a float; NaN and ±Inf stay Prometheus's own strings (JSON has neither)."""
    value = float(text)
    return value if math.isfinite(value) else str(text)


def iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _label_columns(metric: dict[str, str]) -> dict[str, str]:
    """Labels as columns; a label called timestamp / metric / value becomes `exported_<name>`
    (Prometheus's own convention for clashing labels)."""
    return {(f"exported_{k}" if k in _RESERVED else k): v
            for k, v in sorted(metric.items()) if k != "__name__"}


@dataclass
class Points:
    """Rows of a query result, its values per series, and what was left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, list[float | str]] = field(default_factory=dict)
    skipped: int = 0
    # series of a range query share one grid of timestamps: format each instant once
    _stamps: dict[Any, str] = field(default_factory=dict, repr=False)

    def add(self, metric: dict[str, str], samples: list[list[Any]]) -> None:
        """Append one series' samples (`[unix seconds, "value"]` pairs) as rows."""
        name = metric.get("__name__", "")
        labels = _label_columns(metric)  # once per series: rows share it, so keep it cheap
        values = [sample_value(value) for _, value in samples]
        stamps = self._stamps
        for (stamp, _), value in zip(samples, values, strict=True):
            when = stamps.get(stamp)
            if when is None:
                when = stamps[stamp] = iso(float(stamp))
            self.rows.append({"timestamp": when, "metric": name, "value": value, **labels})
        self.series.setdefault(series_key({"metric": name, **labels}), []).extend(values)


def result_points(result_type: str, result: Any) -> Points:
    """Rows of a query result (matrix, vector, scalar, string); native-histogram samples are
    counted as skipped (they have no single value; query histogram_count() etc. instead)."""
    points = Points()
    if result_type == "matrix":
        for series in result:
            points.add(series["metric"], series.get("values", []))
            points.skipped += len(series.get("histograms", []))
    elif result_type == "vector":
        for sample in result:
            if "value" in sample:
                points.add(sample["metric"], [sample["value"]])
            points.skipped += "histogram" in sample
    elif result_type == "scalar":
        points.add({}, [result])
    elif result_type == "string":
        points.rows.append({"timestamp": iso(float(result[0])), "metric": "", "value": str(result[1])})
        points.series["{}"] = [str(result[1])]
    return points


def points_summary(head: str, points: Points, notes: list[str]) -> str:
    """`head: N series, M points; per series first / last / min / max / mean` (top series only)."""
    parts = []
    for key, all_values in sorted(points.series.items())[:_SHOWN_SERIES]:
        values = [v for v in all_values if isinstance(v, float)]
        odd = len(all_values) - len(values)
        stats = (f"first {values[0]:g}, last {values[-1]:g}, min {min(values):g}, "
                 f"max {max(values):g}, mean {fmean(values):.4g}") if values else "no finite values"
        parts.append(f"{key}: {len(all_values)} points, {stats}"
                     + (f" ({odd} NaN / Inf / text)" if odd else ""))
    count = len(points.series)
    more = f" (+{count - _SHOWN_SERIES} more series)" if count > _SHOWN_SERIES else ""
    text = f"{head}: {count} series, {len(points.rows)} points; " + "; ".join(parts) + more
    return "; ".join([text, *notes])


def series_rows(found: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One row per series: its metric name and labels."""
    return [{"metric": labels.get("__name__", ""), **_label_columns(labels)} for labels in found]


def rule_rows(groups: list[dict[str, Any]], filters: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """One row per rule with its state, filtered by `type=`, `name=`, `group=`, `state=` ..."""
    rows = []
    for group in groups:
        for rule in group.get("rules", []):
            row = {
                "group": group.get("name", ""), "file": group.get("file", ""),
                "name": rule.get("name", ""), "type": rule.get("type", ""),
                "state": rule.get("state", ""), "health": rule.get("health", ""),
                "query": rule.get("query", ""), "for": rule.get("duration", 0),
                "labels": rule.get("labels") or {}, "annotations": rule.get("annotations") or {},
                "active_alerts": len(rule.get("alerts") or []),
                "last_error": rule.get("lastError", ""),
                "last_evaluation": _when(rule.get("lastEvaluation")),
            }
            if all(str(row.get(key, "")) == want for key, want in filters):
                rows.append(row)
    return rows


def rules_summary(rows: list[dict[str, Any]]) -> str:
    """Counts by type and state, the firing / pending rules by name, and unhealthy rules."""
    alerting = [r for r in rows if r["type"] == "alerting"]
    by_state = {s: [r["name"] for r in alerting if r["state"] == s] for s in ("firing", "pending")}
    parts = [f"{len(rows)} rules (current state): {len(alerting)} alerting, "
             f"{len(rows) - len(alerting)} recording"]
    parts += [f"{state}: {', '.join(names)}" for state, names in by_state.items() if names]
    broken = [f"{r['name']} ({r['health']}: {r['last_error']})" for r in rows if r["health"] == "err"]
    if broken:
        parts.append("unhealthy: " + ", ".join(broken))
    return "; ".join(parts)


def alert_rows(alerts: list[dict[str, Any]], filters: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """One row per active alert, filtered by `state=` or any label; oldest first."""
    rows = []
    for alert in alerts:
        labels: dict[str, str] = alert.get("labels") or {}
        fields = {**labels, "state": alert.get("state", "")}
        if not all(fields.get(key) == want for key, want in filters):
            continue
        rows.append({
            "alertname": labels.get("alertname", ""), "state": alert.get("state", ""),
            "active_at": _when(alert.get("activeAt")), "value": _alert_value(alert.get("value")),
            "labels": labels, "annotations": alert.get("annotations") or {},
        })
    return sorted(rows, key=lambda row: (row["active_at"], row["alertname"]))


def alerts_summary(rows: list[dict[str, Any]]) -> str:
    """Firing / pending counts and each alert with its labels and start."""
    firing = sum(r["state"] == "firing" for r in rows)
    parts = [f"{len(rows)} active alerts (current state): {firing} firing, "
             f"{len(rows) - firing} pending"]
    for row in rows[:_SHOWN_SERIES]:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(row["labels"].items()) if k != "alertname")
        parts.append(f"{row['alertname']}{{{labels}}} {row['state']} since {row['active_at']}")
    return "; ".join(parts)


def graph_link(ui_url: str, expr: str, *, end: datetime, window: float | None = None,
               step: float | None = None) -> str:
    """A link to the Prometheus expression browser: graph over the window, or table at `end`."""
    params = {"g0.expr": expr}
    moment = end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if window is None:
        params.update({"g0.tab": "1", "g0.moment_input": moment})
    else:
        params.update({"g0.tab": "0", "g0.range_input": format_duration(window),
                       "g0.end_input": moment})
        if step is not None and step >= 1:
            params["g0.step_input"] = str(math.ceil(step))
    return f"{ui_url}/graph?{urlencode(params)}"


def _when(raw: Any) -> str:
    """RFC 3339 (nanoseconds, `Z`) as the ISO 8601 UTC the point rows use; other text as is."""
    try:
        return parse_timestamp(raw).isoformat()
    except ValueError:
        return str(raw or "")


def _alert_value(raw: Any) -> float | str:
    try:
        return sample_value(raw)
    except (TypeError, ValueError):
        return str(raw or "")
