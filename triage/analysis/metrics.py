"""Metric analyzer: robust level shifts (median / MAD) from the baseline to the incident window,
each dated by change point detection on its own series (steps and slow ramps alike)."""

from __future__ import annotations

from datetime import datetime
from statistics import median

from triage.analysis.changepoints import ChangePoint
from triage.analysis.metric_roles import is_outbound, role_of
from triage.analysis.onset import series_change, series_points
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds

MIN_POINTS = 3


def _robust_scale(values: list[float], centre: float) -> float:
    mad = median(abs(v - centre) for v in values)
    # 1.4826 makes the MAD estimate a standard deviation for normal data; the floor keeps a
    # perfectly flat baseline from turning any wobble into an infinite z-score.
    return max(1.4826 * mad, 0.05 * abs(centre), 1e-9)


def metric_shifts(cited: CitedEvidence, window: AnalysisWindow,
                  thresholds: Thresholds | None = None) -> list[Signal]:
    """One signal per series whose incident-window level left its baseline band."""
    limits = thresholds or Thresholds()
    signals = []
    for key, (times, values) in series_points(cited).items():
        change = series_change(cited, key, not_after=window.end, min_z=limits.metric_z,
                               min_relative=limits.metric_min_change)
        signal = _series_shift(key, times, values, window, cited.step_id, limits, change)
        if signal:
            signals.append(signal)
    return signals


def metric_name(key: str) -> str:
    """The metric name of a series key (`name{labels}`)."""
    return key.split("{", 1)[0]


def _series_shift(key: str, times: list[datetime], values: list[float], window: AnalysisWindow,
                  step_id: str, limits: Thresholds, change: ChangePoint | None) -> Signal | None:
    base = [v for t, v in zip(times, values, strict=True) if t < window.onset]
    during = [(t, v) for t, v in zip(times, values, strict=True) if t >= window.onset]
    if len(base) < MIN_POINTS or len(during) < MIN_POINTS:
        return None
    centre = median(base)
    scale = _robust_scale(base, centre)
    # A ramp's level is where it got to, not its middle: the last points, not the window median.
    tail = [v for _, v in during[-max(MIN_POINTS, len(during) // 3):]]
    level = median(tail)
    z = (level - centre) / scale
    relative = abs(level - centre) / max(abs(centre), 1e-9)
    if abs(z) < limits.metric_z or relative < limits.metric_min_change:
        return None
    onset = change.at if change is not None else next(
        (t for t, v in during if abs(v - centre) / scale >= limits.metric_z), during[0][0])
    shape = change.shape if change is not None else "step"
    direction = "rose" if level > centre else "fell"
    how = "ramped" if shape == "ramp" else direction
    return Signal(
        kind=SignalKind.METRIC_SHIFT,
        title=f"{key} {how} from {centre:.4g} to {level:.4g} ({_change(centre, level)})",
        strength=min(1.0, 0.4 + abs(z) / 40),
        onset=onset,
        evidence=[step_id],
        detail={"series": key, "metric": metric_name(key), "baseline_median": centre,
                "incident_median": level, "z": round(z, 2), "relative_change": round(relative, 3),
                "direction": direction, "shape": shape, "role": role_of(key),
                "outbound": is_outbound(key)},
    )


def _change(before: float, after: float) -> str:
    """'+150%, 2.5 times' / '-40%' / 'from zero': a percentage of nothing would read as 10^13 %."""
    if abs(before) < 1e-9:
        return "from zero"
    relative = (after - before) / abs(before)
    if after > before and before > 0:
        return f"{relative:+.0%}, {after / before:.1f}×"
    return f"{relative:+.0%}"
