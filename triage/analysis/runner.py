"""Runs every analyzer over an investigation's recorded evidence.

First *when*: the onset is the earliest robust change among the symptom series (change points
over the whole window; the playbook's fixed `onset` only when nothing changed). Then *what* (new
and risen error templates with their shapes, metric shifts, gauges at their limit, configuration
changes announced in the logs), *where* (drill-down over every line read), and finally which
deploys precede the onset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connectors import EvidenceKind, EvidenceStatus
from triage.analysis.attribution import attribution_signals
from triage.analysis.config_changes import config_signals
from triage.analysis.database import database_signals
from triage.analysis.deploys import recent_deploys
from triage.analysis.log_events import config_events, log_volume
from triage.analysis.logs import error_spike, new_error_templates
from triage.analysis.metrics import metric_shifts
from triage.analysis.onset import Onset, detect_onset
from triage.analysis.saturation import gauges_at_limit
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds
from triage.analysis.templates import no_redaction


def analyze(cited: list[CitedEvidence], window: AnalysisWindow,
            thresholds: Thresholds | None = None) -> list[Signal]:
    """Symptoms first (logs, metrics, database), then deploys correlated with the onset."""
    return analyze_window(cited, window, thresholds)[1]


def analyze_window(cited: list[CitedEvidence], window: AnalysisWindow,
                   thresholds: Thresholds | None = None,
                   redact: Callable[[str], str] = no_redaction) -> tuple[Onset | None, list[Signal]]:
    """The detected onset (None: the playbook's fixed one was used) and every signal; `redact`
    runs on every log line before it is templated or quoted (stored evidence is redacted
    already: this keeps the order right for evidence from anywhere else)."""
    limits = thresholds or Thresholds()
    usable = merged_logs([c for c in cited if c.evidence.status == EvidenceStatus.OK])
    found = detect_onset(usable, window, limits)
    split = AnalysisWindow(window.start, found.at, window.end) if found else window
    symptoms: list[Signal] = []
    for item in usable:
        if item.evidence.kind == EvidenceKind.LOGS:
            symptoms += [s for s in (error_spike(item, split, limits),
                                     new_error_templates(item, split, redact),
                                     log_volume(item, split, limits)) if s]
            symptoms += attribution_signals(item, split)
            symptoms += config_events(item, split, redact)
        elif item.evidence.kind == EvidenceKind.METRICS:
            symptoms += metric_shifts(item, split, limits)
            symptoms += gauges_at_limit(item, split, limits)
        elif item.evidence.kind == EvidenceKind.DATABASE:
            symptoms += database_signals(item)
    _mark_first_mover([s for s in symptoms if s.kind == SignalKind.METRIC_SHIFT])
    onset: datetime | None
    if found is not None:
        onset = found.at
    else:
        onsets = [s.onset for s in symptoms if s.onset and s.kind != SignalKind.CONFIG_EVENT]
        onset = min(onsets) if onsets else None
    deploys = [
        signal
        for item in usable if item.evidence.kind == EvidenceKind.DEPLOYS
        for signal in recent_deploys(item, onset, timedelta(minutes=limits.deploy_lookback_minutes),
                                     timedelta(minutes=limits.deploy_half_life_minutes))
    ]
    symptoms += config_signals(usable, split, onset)
    return found, sorted(symptoms, key=lambda s: -s.strength) + deploys


def merged_logs(cited: list[CitedEvidence]) -> list[CitedEvidence]:
    """One logs evidence per connector: playbooks read errors (all of them) and every level
    (sampled when capped) from the same backend; analysed apart, an error line would count twice
    and a sampled all-levels read would lose errors. The union, without repeats, in time order,
    cites the broadest read."""
    by_connector: dict[str, list[CitedEvidence]] = {}
    others: list[CitedEvidence] = []
    for item in cited:
        if item.evidence.kind == EvidenceKind.LOGS:
            by_connector.setdefault(item.evidence.connector, []).append(item)
        else:
            others.append(item)
    merged: list[CitedEvidence] = []
    for items in by_connector.values():
        if len(items) == 1:
            merged.append(items[0])
            continue
        broadest = max(items, key=lambda c: c.evidence.row_count)
        seen: set[tuple[str, str, str]] = set()
        rows = []
        for item in items:
            for row in item.evidence.rows:
                key = (str(row.get("timestamp")), str(row.get("message")), str(row.get("level")))
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
        rows.sort(key=lambda row: str(row.get("timestamp")))
        evidence = broadest.evidence.model_copy(update={
            "rows": rows, "truncated": any(c.evidence.truncated for c in items)})
        merged.append(CitedEvidence(broadest.step_id, evidence))
    return merged + others


def _mark_first_mover(shifts: list[Signal]) -> None:
    """When several metrics moved, say which moved first: it is closest to the cause."""
    timed = sorted(((s.onset, s) for s in shifts if s.onset is not None), key=lambda pair: pair[0])
    if len(timed) < 2 or timed[0][0] == timed[1][0]:
        return
    (first_at, first), (next_at, _) = timed[0], timed[1]
    first.title += f"; moved first, {(next_at - first_at).total_seconds() / 60:.0f} min before the next"
    first.detail["moved_first"] = True
