"""Signals from every log line, not only errors: a configuration change announced at info level
before the symptoms, and the volume of lines (a traffic proxy where no request metric exists)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from triage.analysis.changepoints import event_onset
from triage.analysis.levels import is_error
from triage.analysis.shapes import Shape, shape_of
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds
from triage.analysis.templates import no_redaction

CONFIG_LEAD = timedelta(minutes=60)  # a change this long before the onset may still be the cause
CONFIG_LAG = timedelta(minutes=2)  # detection granularity: a change just after the onset counts
MAX_CONFIG_EVENTS = 3
CONFIG_HINT = re.compile(r"(?i)config|flag|setting|env")


def config_events(cited: CitedEvidence, window: AnalysisWindow,
                  redact: Callable[[str], str] = no_redaction) -> list[Signal]:
    """Lines announcing a configuration change (reload, flag flipped) shortly before the onset;
    the nearest first, each with its real line."""
    found: list[tuple[datetime, str]] = []
    for stamp, row in cited.stamped:
        if not window.onset - CONFIG_LEAD <= stamp <= window.onset + CONFIG_LAG:
            continue
        message = str(row.get("message", ""))
        # the cheap test first: most lines say nothing about configuration; a change is
        # announced, not failed (an error line about configuration is a symptom)
        if (CONFIG_HINT.search(message) and shape_of(message) == Shape.CONFIG
                and not is_error(row)):
            found.append((stamp, message))
    found.sort(key=lambda pair: -pair[0].timestamp())
    signals = []
    for stamp, message in found[:MAX_CONFIG_EVENTS]:
        lead = (window.onset - stamp).total_seconds() / 60
        signals.append(Signal(
            kind=SignalKind.CONFIG_EVENT,
            title=(f"Configuration change {max(lead, 0):.0f} min before the onset: "
                   f"\"{redact(message)[:200]}\""),
            strength=round(max(0.2, 1 - max(lead, 0) / 60), 3), onset=stamp,
            evidence=[cited.step_id], detail={"minutes_before_onset": round(lead, 1)}))
    return signals


def log_volume(cited: CitedEvidence, window: AnalysisWindow,
               thresholds: Thresholds | None = None) -> Signal | None:
    """The rate of lines that are not failures rose (access logs count requests; error lines
    would make every outage look like a surge)."""
    stamps = cited.ok_stamps
    before = sum(1 for s in stamps if s < window.onset)
    during = len(stamps) - before
    base_rate = before / window.minutes(incident=False)
    rate = during / window.minutes(incident=True)
    if base_rate <= 0 or rate < 2 * base_rate or during < 50:
        return None
    limits = thresholds or Thresholds()
    change = event_onset(stamps, window.start, window.end, min_events=50, min_z=limits.metric_z)
    ratio = rate / base_rate
    return Signal(
        kind=SignalKind.LOG_VOLUME,
        title=(f"Log volume rose {ratio:.1f}× ({base_rate:.0f}/min to {rate:.0f}/min, lines that "
               "are not errors)"),
        strength=round(min(1.0, 0.3 + ratio / 10), 3),
        onset=change.at if change is not None else None, evidence=[cited.step_id],
        detail={"baseline_per_min": round(base_rate, 2), "incident_per_min": round(rate, 2),
                "ratio": round(ratio, 2), "direction": "rose",
                "exact": cited.evidence.sampling is not None or not cited.evidence.truncated})
