"""Runs every analyzer over an investigation's recorded evidence."""

from __future__ import annotations

from datetime import timedelta

from connectors import EvidenceKind, EvidenceStatus
from triage.analysis.database import database_signals
from triage.analysis.deploys import recent_deploys
from triage.analysis.logs import error_spike, new_error_templates
from triage.analysis.metrics import metric_shifts
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds


def analyze(cited: list[CitedEvidence], window: AnalysisWindow,
            thresholds: Thresholds | None = None) -> list[Signal]:
    """Symptoms first (logs, metrics, database), then deploys correlated with the earliest one."""
    limits = thresholds or Thresholds()
    usable = [c for c in cited if c.evidence.status == EvidenceStatus.OK]
    symptoms: list[Signal] = []
    for item in usable:
        if item.evidence.kind == EvidenceKind.LOGS:
            symptoms += [s for s in (error_spike(item, window, limits),
                                     new_error_templates(item, window)) if s]
        elif item.evidence.kind == EvidenceKind.METRICS:
            symptoms += metric_shifts(item, window, limits)
        elif item.evidence.kind == EvidenceKind.DATABASE:
            symptoms += database_signals(item)
    _mark_first_mover([s for s in symptoms if s.kind == SignalKind.METRIC_SHIFT])
    onsets = [s.onset for s in symptoms if s.onset]
    onset = min(onsets) if onsets else None
    deploys = [
        signal
        for item in usable if item.evidence.kind == EvidenceKind.DEPLOYS
        for signal in recent_deploys(item, onset,
                                     timedelta(minutes=limits.deploy_lookback_minutes))
    ]
    return sorted(symptoms, key=lambda s: -s.strength) + deploys


def _mark_first_mover(shifts: list[Signal]) -> None:
    """When several metrics moved, say which moved first: it is closest to the cause."""
    timed = sorted(((s.onset, s) for s in shifts if s.onset is not None), key=lambda pair: pair[0])
    if len(timed) < 2 or timed[0][0] == timed[1][0]:
        return
    (first_at, first), (next_at, _) = timed[0], timed[1]
    first.title += f"; moved first, {(next_at - first_at).total_seconds() / 60:.0f} min before the next"
    first.detail["moved_first"] = True
