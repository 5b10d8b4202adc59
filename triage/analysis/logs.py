"""Log analyzers: error spikes, and error templates new (or risen) in the incident window."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.timeparse import parse_timestamp
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds
from triage.analysis.templates import TemplateWindows, no_redaction

ERROR_LEVELS = frozenset({"error", "err", "critical", "crit", "fatal", "alert", "emergency", "panic"})
SHOWN_TEMPLATES = 5


def _is_error(row: dict[str, Any]) -> bool:
    return str(row.get("level", row.get("severity", ""))).lower() in ERROR_LEVELS


def _stamp(row: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(row.get("timestamp"))
    except ValueError:
        return None


def error_spike(cited: CitedEvidence, window: AnalysisWindow,
                thresholds: Thresholds | None = None) -> Signal | None:
    """A rise in the rate of error-level lines from the baseline to the incident window."""
    stamps = [s for row in cited.evidence.rows if _is_error(row) and (s := _stamp(row))]
    before = sum(1 for s in stamps if s < window.onset)
    during = sorted(s for s in stamps if s >= window.onset)
    base_rate = before / window.minutes(incident=False)
    rate = len(during) / window.minutes(incident=True)
    limits = thresholds or Thresholds()
    if len(during) < limits.error_spike_min_count or rate < limits.error_spike_ratio * max(base_rate, 0.1):
        return None
    ratio = rate / max(base_rate, 0.1)
    return Signal(
        kind=SignalKind.ERROR_SPIKE,
        title=(f"Error lines rose to {rate:.1f}/min from {base_rate:.2f}/min "
               f"({len(during)} in the incident window vs {before} in the baseline)"),
        strength=min(1.0, math.log10(ratio) / 2),
        onset=_rate_onset(during, base_rate),
        evidence=[cited.step_id],
        detail={"baseline_per_min": round(base_rate, 3), "incident_per_min": round(rate, 3),
                "baseline_count": before, "incident_count": len(during),
                "truncated": cited.evidence.truncated},
    )


def _rate_onset(stamps: list[datetime], base_rate: float) -> datetime:
    """The first error of the first minute whose count clearly exceeds the baseline rate:
    the usual trickle of errors inside the incident window must not pull the onset earlier."""
    threshold = max(3 * base_rate, base_rate + 2)
    per_minute: Counter[datetime] = Counter(s.replace(second=0, microsecond=0) for s in stamps)
    for minute in sorted(per_minute):
        if per_minute[minute] >= threshold:
            return next(s for s in stamps if s >= minute)
    return stamps[0]


def new_error_templates(cited: CitedEvidence, window: AnalysisWindow,
                        redact: Callable[[str], str] = no_redaction) -> Signal | None:
    """Error templates seen in the incident window but never in the baseline; risen ones too."""
    windows = TemplateWindows(window, samples=1, redact=redact)
    for row in cited.evidence.rows:
        stamp = _stamp(row)
        if stamp is not None and _is_error(row):
            windows.add(stamp, str(row.get("message", "")))
    diff = windows.diff()
    if not diff.new:
        return None
    top = diff.new[0]
    return Signal(
        kind=SignalKind.NEW_ERRORS,
        title=(f"{len(diff.new)} new error message(s); most frequent: \"{top.template}\" "
               f"×{top.incident_count}"),
        strength=min(1.0, 0.5 + 0.1 * sum(c.incident_count for c in diff.new) ** 0.5),
        onset=min(c.first_seen for c in diff.new),
        evidence=[cited.step_id],
        detail={"templates": [c.as_detail() for c in diff.new[:SHOWN_TEMPLATES]],
                "risen": [c.as_detail() for c in diff.risen[:SHOWN_TEMPLATES]]},
    )
