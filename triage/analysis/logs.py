"""Log analyzers: error spikes and error messages that are new in the incident window."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime
from typing import Any

from connectors.timeparse import parse_timestamp
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind

ERROR_LEVELS = frozenset({"error", "err", "critical", "crit", "fatal", "alert", "emergency", "panic"})
# Order matters: the longer, more specific shapes are masked before bare numbers.
_MASKS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\"[^\"]*\"|'[^']*'"), "<str>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|us|ns|b|kb|mb|gb)?\b", re.I), "<num>"),
]


def template_of(message: str) -> str:
    """The message with its variable parts masked, so occurrences group together."""
    for pattern, mask in _MASKS:
        message = pattern.sub(mask, message)
    return " ".join(message.split())[:300]


def _is_error(row: dict[str, Any]) -> bool:
    return str(row.get("level", row.get("severity", ""))).lower() in ERROR_LEVELS


def _stamp(row: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(row.get("timestamp"))
    except ValueError:
        return None


def error_spike(cited: CitedEvidence, window: AnalysisWindow) -> Signal | None:
    """A rise in the rate of error-level lines from the baseline to the incident window."""
    stamps = [s for row in cited.evidence.rows if _is_error(row) and (s := _stamp(row))]
    before = sum(1 for s in stamps if s < window.onset)
    during = sorted(s for s in stamps if s >= window.onset)
    base_rate = before / window.minutes(incident=False)
    rate = len(during) / window.minutes(incident=True)
    if len(during) < 5 or rate < 3 * max(base_rate, 0.1):
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


def new_error_templates(cited: CitedEvidence, window: AnalysisWindow) -> Signal | None:
    """Error message templates seen in the incident window but never in the baseline."""
    baseline: set[str] = set()
    incident: Counter[str] = Counter()
    first_seen: dict[str, datetime] = {}
    samples: dict[str, str] = {}
    for row in cited.evidence.rows:
        stamp = _stamp(row)
        if stamp is None or not _is_error(row):
            continue
        template = template_of(str(row.get("message", "")))
        if stamp < window.onset:
            baseline.add(template)
            continue
        incident[template] += 1
        first_seen.setdefault(template, stamp)
        samples.setdefault(template, str(row.get("message", ""))[:300])
    new = [(t, n) for t, n in incident.most_common() if t not in baseline]
    if not new:
        return None
    top = new[:5]
    return Signal(
        kind=SignalKind.NEW_ERRORS,
        title=f"{len(new)} new error message(s); most frequent: \"{top[0][0]}\" ×{top[0][1]}",
        strength=min(1.0, 0.5 + 0.1 * sum(n for _, n in new) ** 0.5),
        onset=min(first_seen[t] for t, _ in new),
        evidence=[cited.step_id],
        detail={"templates": [
            {"template": t, "count": n, "first_seen": first_seen[t].isoformat(),
             "sample": samples[t]} for t, n in top
        ]},
    )
