"""Metrics from a CSV file (`timestamp,metric,value[,label...]`): embedded default and replays."""

from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.timeparse import parse_timestamp

_SELECTOR = re.compile(r"^\s*(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)?\s*(?:\{(?P<labels>.*)\})?\s*$")
_MATCHER = re.compile(
    r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=|!=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)'
)


class FilesMetricsSettings(BaseModel):
    """`type: files_metrics` — long-format CSV; extra columns are labels."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["files_metrics"] = "files_metrics"
    path: Path


def parse_selector(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Parse a Prometheus-style selector `name{label="v",other!="w"}`."""
    match = _SELECTOR.match(text)
    if not match or not (match.group("name") or match.group("labels")):
        raise QueryRefused(f'not a metric selector: {text!r} (expected name{{label="value"}})')
    matchers: list[tuple[str, str, str]] = []
    labels = (match.group("labels") or "").strip()
    position = 0
    while position < len(labels):
        matcher = _MATCHER.match(labels, position)
        if not matcher or matcher.end() == position:
            rest = labels[position:]
            raise QueryRefused(f'bad label matcher {rest!r} in {text!r} (expected key="value")')
        value = matcher["value"].replace('\\"', '"').replace("\\\\", "\\")
        matchers.append((matcher["key"], matcher["op"], value))
        position = matcher.end()
    if not match.group("name") and not matchers:
        raise QueryRefused(f"selector {text!r} selects every metric: name one or add a label")
    return match.group("name") or "", matchers


class FilesMetricsConnector:
    """Selects one metric's series from the CSV inside the time range."""

    kind = EvidenceKind.METRICS
    settings_model = FilesMetricsSettings

    def __init__(self, name: str, settings: FilesMetricsSettings) -> None:
        self.name = name
        self.settings = settings

    def query(self, request: QueryRequest) -> Evidence:
        """Return the points of every matching series, oldest first."""
        builder = EvidenceBuilder(self, request)
        try:
            metric, matchers = parse_selector(request.query)
        except QueryRefused as exc:
            return builder.error(str(exc))
        if not self.settings.path.is_file():
            return builder.error(f"metrics file not found: {self.settings.path}")
        try:
            points = self._read(request, metric, matchers)
        except (UnicodeDecodeError, csv.Error) as exc:
            return builder.error(f"{self.settings.path} is not a readable UTF-8 CSV: {exc}")
        except KeyError as exc:
            return builder.error(f"{self.settings.path} lacks columns: {exc.args[0]}")
        points.sort(key=lambda point: point["timestamp"])
        return builder.ok(points, _summarize(metric, points))

    def _read(self, request: QueryRequest, metric: str,
              matchers: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = []
        with self.settings.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"timestamp", "metric", "value"} - set(reader.fieldnames or [])
            if missing:
                raise KeyError(sorted(missing))
            for raw in reader:
                # Short rows give None values and long rows a None key: keep only named, present cells.
                row = {k: v for k, v in raw.items() if k is not None and v is not None}
                if (metric and row.get("metric") != metric) or not _labels_match(row, matchers):
                    continue
                try:
                    stamp = parse_timestamp(row.get("timestamp"))
                    value = float(row["value"])
                except (ValueError, KeyError):
                    continue
                if request.start <= stamp < request.end:
                    points.append({**row, "timestamp": stamp.isoformat(), "value": value})
        return points

    def check(self) -> ConnectorCheck:
        """The file is readable; it is only ever opened for reading."""
        path = self.settings.path
        readable = path.is_file() and os.access(path, os.R_OK)
        detail = f"{path} is readable" if readable else f"{path} is missing or unreadable"
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=readable,
                              can_write=False, details=[detail, "opened read-only by design"])

    def close(self) -> None:
        """Nothing to release: the file is opened per query."""


def _labels_match(row: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for key, op, value in matchers:
        equal = row.get(key, "") == value
        if equal != (op == "="):
            return False
    return True


def series_key(point: dict[str, Any]) -> str:
    """A stable name for the series a point belongs to (its labels)."""
    labels = {k: v for k, v in point.items() if k not in ("timestamp", "metric", "value") and v}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{point['metric']}{{{inner}}}"


def group_series(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Points grouped by series, each series in time order."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        series[series_key(point)].append(point)
    return dict(series)


def _summarize(metric: str, points: list[dict[str, Any]]) -> str:
    series = {key: [p["value"] for p in pts] for key, pts in group_series(points).items()}
    parts = [
        f"{key}: {len(vals)} points, first {vals[0]:g}, last {vals[-1]:g}, "
        f"min {min(vals):g}, max {max(vals):g}, mean {fmean(vals):.3g}"
        for key, vals in sorted(series.items())[:5]
    ]
    more = f" (+{len(series) - 5} more series)" if len(series) > 5 else ""
    return f"{metric or 'selector'}: {len(series)} series; " + "; ".join(parts) + more
