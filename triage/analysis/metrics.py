"""Metric analyzer: robust level shifts (median / MAD) from the baseline to the incident window."""

from __future__ import annotations

from statistics import median
from typing import Any

from connectors.files_metrics import group_series
from connectors.timeparse import parse_timestamp
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds

MIN_POINTS = 3


def _robust_scale(values: list[float], centre: float) -> float:
    mad = median(abs(v - centre) for v in values)
    # 1.4826 makes the MAD estimate a standard deviation for normal data; the floor keeps a
    # perfectly flat baseline from turning any wobble into an infinite z-score.
    return max(1.4826 * mad, 0.05 * abs(centre), 1e-9)


def metric_shifts(cited: CitedEvidence, window: AnalysisWindow,
                  thresholds: Thresholds | None = None) -> list[Signal]:
    """One signal per series whose incident-window median left its baseline band."""
    signals = []
    # Only well-formed points: a backend's metadata rows (rules, series lists) are not series.
    points_only = [row for row in cited.evidence.rows
                   if row.get("metric") is not None and row.get("timestamp") and
                   isinstance(row.get("value"), int | float)]
    for key, points in group_series(points_only).items():
        signal = _series_shift(key, points, window, cited.step_id, thresholds or Thresholds())
        if signal:
            signals.append(signal)
    return signals


def _series_shift(key: str, points: list[dict[str, Any]], window: AnalysisWindow,
                  step_id: str, limits: Thresholds) -> Signal | None:
    timed = [(parse_timestamp(p["timestamp"]), float(p["value"])) for p in points]
    base = [v for t, v in timed if t < window.onset]
    during = [(t, v) for t, v in timed if t >= window.onset]
    if len(base) < MIN_POINTS or len(during) < MIN_POINTS:
        return None
    centre = median(base)
    scale = _robust_scale(base, centre)
    level = median(v for _, v in during)
    z = (level - centre) / scale
    relative = abs(level - centre) / max(abs(centre), 1e-9)
    if abs(z) < limits.metric_z or relative < limits.metric_min_change:
        return None
    onset = next((t for t, v in during if abs(v - centre) / scale >= limits.metric_z), during[0][0])
    direction = "rose" if level > centre else "fell"
    return Signal(
        kind=SignalKind.METRIC_SHIFT,
        title=f"{key} {direction} from {centre:.4g} to {level:.4g} (median; {relative:.0%} change)",
        strength=min(1.0, 0.4 + abs(z) / 40),
        onset=onset,
        evidence=[step_id],
        detail={"series": key, "metric": points[0]["metric"], "baseline_median": centre,
                "incident_median": level, "z": round(z, 2), "relative_change": round(relative, 3),
                "direction": direction},
    )
