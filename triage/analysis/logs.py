"""Log analyzers: error spikes, and error templates new (or risen) in the incident window, with
the shape of the failures they describe and a real (redacted) line for each."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from triage.analysis.levels import REQUEST_LINE, failure_text, severity_of
from triage.analysis.shapes import shape_of, shape_shares
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds
from triage.analysis.templates import TemplateChange, TemplateWindows, no_redaction

__all__ = ["error_spike", "new_error_templates"]

SHOWN_TEMPLATES = 5
ONSET_SHARE = 0.1
ERROR_SEVERITY = 2  # a template weighs in the onset only with this share of the new error lines


def error_spike(cited: CitedEvidence, window: AnalysisWindow,
                thresholds: Thresholds | None = None) -> Signal | None:
    """A rise in the rate of error-level lines from the baseline to the incident window."""
    stamps = cited.error_stamps
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
    """Error templates seen in the incident window but never in the baseline; risen ones too.
    Each carries a real (redacted) line, and the signal says which failure shapes the new and
    risen lines describe, by their share of those lines. New and risen *warnings* weigh in the
    shapes at half (a kubelet's `OOMKilled` or `NodeNotReady` event is often a warning, and it is
    what explains the errors), but only errors make the signal."""
    windows = TemplateWindows(window, samples=1, redact=redact)
    for stamp, row in cited.stamped:
        severity = severity_of(row)
        if severity:
            windows.add(stamp, failure_text(row), severity)
    diff = windows.diff()
    new = [c for c in diff.new if c.severity >= ERROR_SEVERITY]
    risen = [c for c in diff.risen if c.severity >= ERROR_SEVERITY]
    if not new and not risen:
        return None
    changed = [*new, *risen]
    warned = [c for c in [*diff.new, *diff.risen] if c.severity < ERROR_SEVERITY]
    # Access lines (requests answered 5xx, or 4xx logged as errors) say that something failed,
    # never what: they stay out of the shares, which would otherwise shrink as the symptom grows.
    shapes = shape_shares([(_text(c), c.incident_count * 2) for c in changed if not _served(c)]
                          + [(_text(c), c.incident_count) for c in warned if not _served(c)])
    lead = max(new or risen, key=lambda c: c.incident_count)
    what = (f"{len(new)} new error message(s)" if new else f"{len(risen)} error message(s) risen")
    total = sum(c.incident_count for c in changed)
    return Signal(
        kind=SignalKind.NEW_ERRORS,
        title=f"{what}; most frequent ×{lead.incident_count}: {_shown(lead)}",
        strength=min(1.0, (0.5 if new else 0.35) + 0.1 * total ** 0.5),
        onset=_template_onset(new, total),
        evidence=[cited.step_id],
        detail={"templates": [_detail(c) for c in new[:SHOWN_TEMPLATES]],
                "risen": [_detail(c) for c in risen[:SHOWN_TEMPLATES]],
                "warnings": [_detail(c) for c in warned[:SHOWN_TEMPLATES]],
                "shapes": shapes, "lines": total},
    )


def _served(change: TemplateChange) -> bool:
    """Whether the template is an access line (a request served, whatever its status)."""
    return REQUEST_LINE.search(_text(change)[:300]) is not None


def _text(change: TemplateChange) -> str:
    """What a template's shape is judged on: its real line (the template where none was kept)."""
    return change.samples[0] if change.samples else change.template


def _shown(change: TemplateChange) -> str:
    """The real line when there is one (the status code and the host are the point), else the
    template."""
    return f"\"{change.samples[0] if change.samples else change.template}\""


def _detail(change: TemplateChange) -> dict[str, object]:
    shape = shape_of(_text(change))
    return {**change.as_detail(), "shape": shape.value if shape else None}


def _template_onset(new: list[TemplateChange], total: int) -> datetime | None:
    """When the new errors began: the first line of a new template that carries a real share of
    them; one stray line of a rare message is never the onset (risen templates were already
    there, so their first line says nothing about when the incident began)."""
    weighty = [c for c in new if c.incident_count >= max(3, ONSET_SHARE * total)]
    return min(c.first_seen for c in weighty) if weighty else None
