"""When the incident began: the earliest robust change among the symptom series, found by change
point detection over the whole window (never a fixed offset before the alert).

Symptom series are the per-minute count of error lines of each logs evidence and every metric
series. A change counts only if it is significant (see `changepoints`) and its new level persists
up to the alert; a single rare line is never an onset (`event_onset` needs a sustained rise); and
only the chain of changes that leads into the alert dates the incident (`incident_chain`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from connectors import EvidenceKind
from connectors.files_metrics import group_series
from connectors.timeparse import parse_timestamp
from triage.analysis.changepoints import ChangePoint, event_onset, incident_change
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Thresholds

MIN_ERROR_EVENTS = 5
# Counters as Prometheus names them; a backend that already returns rates under such a name
# (not cumulative) is left alone.
COUNTER_NAME = re.compile(r"(_total|_count|_sum|_created)$")
CHAIN_GAP = timedelta(minutes=20)


@dataclass(frozen=True)
class Onset:
    """The detected onset and the series that moved first."""

    at: datetime
    series: str
    change: ChangePoint


def series_points(cited: CitedEvidence) -> dict[str, tuple[list[datetime], list[float]]]:
    """Every well-formed metric series of one metrics evidence, as (times, values)."""
    if "series" not in cited.memo:
        cited.memo["series"] = _series_points(cited)
    series: dict[str, tuple[list[datetime], list[float]]] = cited.memo["series"]
    return series


def series_change(cited: CitedEvidence, key: str, *, not_after: datetime, min_z: float,
                  min_relative: float) -> ChangePoint | None:
    """The incident change of one series of `cited` (computed once per set of parameters)."""
    memo_key = ("change", key, not_after, min_z, min_relative)
    if memo_key not in cited.memo:
        times, values = series_points(cited)[key]
        cited.memo[memo_key] = incident_change(times, values, not_after=not_after, min_z=min_z,
                                               min_relative=min_relative)
    found: ChangePoint | None = cited.memo[memo_key]
    return found


def _series_points(cited: CitedEvidence) -> dict[str, tuple[list[datetime], list[float]]]:
    rows = [row for row in cited.evidence.rows
            if row.get("metric") is not None and row.get("timestamp")
            and isinstance(row.get("value"), int | float) and not isinstance(row.get("value"), bool)]
    out: dict[str, tuple[list[datetime], list[float]]] = {}
    for key, points in group_series(rows).items():
        timed = []
        for point in points:
            try:
                timed.append((parse_timestamp(point["timestamp"]), float(point["value"])))
            except (ValueError, TypeError, OverflowError):
                continue
        timed.sort(key=lambda pair: pair[0])
        times, values = [t for t, _ in timed], [v for _, v in timed]
        if COUNTER_NAME.search(key.split("{", 1)[0]) and _cumulative(values):
            times, values = _per_minute(times, values)
        out[key] = (times, values)
    return out


def _cumulative(values: list[float]) -> bool:
    """Whether a series only ever grows (but for a few resets): a raw Prometheus counter."""
    if len(values) < 4:
        return False
    drops = sum(1 for a, b in pairwise(values) if b < a)
    rises = sum(1 for a, b in pairwise(values) if b > a)
    return rises > 0 and drops <= max(1, len(values) // 20)


def _per_minute(times: list[datetime], values: list[float]) -> tuple[list[datetime], list[float]]:
    """A cumulative counter as its rate per minute (a reset restarts from zero, like rate())."""
    rates_at, rates = [], []
    for (t0, v0), (t1, v1) in pairwise(zip(times, values, strict=True)):
        minutes = (t1 - t0).total_seconds() / 60
        if minutes <= 0:
            continue
        rates_at.append(t1)
        rates.append((v1 - v0 if v1 >= v0 else v1) / minutes)
    return rates_at, rates


def error_stamps(cited: CitedEvidence) -> list[datetime]:
    """The timestamps of the error-level lines of one logs evidence."""
    return cited.error_stamps


def detect_onset(cited: list[CitedEvidence], window: AnalysisWindow,
                 thresholds: Thresholds | None = None) -> Onset | None:
    """The earliest persisting significant change among the symptom series, or None."""
    limits = thresholds or Thresholds()
    found: list[Onset] = []
    for item in cited:
        if item.evidence.kind == EvidenceKind.LOGS:
            change = event_onset(error_stamps(item), window.start, window.end,
                                 min_events=max(MIN_ERROR_EVENTS, limits.error_spike_min_count),
                                 min_z=limits.metric_z)
            if change is not None:
                found.append(Onset(change.at, f"error lines ({item.evidence.connector})", change))
        elif item.evidence.kind == EvidenceKind.METRICS:
            for key in series_points(item):
                change = series_change(item, key, not_after=window.end, min_z=limits.metric_z,
                                       min_relative=limits.metric_min_change)
                if change is not None:
                    found.append(Onset(change.at, key, change))
    usable = [o for o in found if window.start < o.at <= window.end]
    chain = incident_chain(usable)
    return min(chain, key=lambda o: (o.at, o.series)) if chain else None


def incident_chain(changes: list[Onset], gap: timedelta = CHAIN_GAP) -> list[Onset]:
    """The changes that lead into the alert: from the latest one back in time, each within `gap`
    of the next. A shift long before (an earlier deploy's harmless new baseline, a cache ratio
    that moved an hour ago) is not part of this incident and must not date it; a precursor that
    keeps building up to the symptoms (a pool climbing for 20 minutes) is."""
    chain: list[Onset] = []
    for change in sorted(changes, key=lambda o: o.at, reverse=True):
        if chain and chain[-1].at - change.at > gap:
            break
        chain.append(change)
    return chain
