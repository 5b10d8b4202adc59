"""Metric level shifts and which metric moved first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors import Evidence, EvidenceKind, EvidenceStatus
from triage.analysis.runner import analyze
from triage.analysis.signals import AnalysisWindow, CitedEvidence, SignalKind

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
WINDOW = AnalysisWindow(T0, T0 + timedelta(minutes=45), T0 + timedelta(minutes=65))


def series(metric: str, base: float, after: float, moves_at_minute: int) -> list[dict[str, object]]:
    return [{"timestamp": (T0 + timedelta(minutes=m)).isoformat(), "metric": metric,
             "value": after if m >= moves_at_minute else base + (m % 3) * 0.01 * base,
             "service": "api"} for m in range(65)]


def metrics_evidence(rows: list[dict[str, object]]) -> CitedEvidence:
    evidence = Evidence(connector="m", kind=EvidenceKind.METRICS, status=EvidenceStatus.OK,
                        query="{service=\"api\"}", start=WINDOW.start, end=WINDOW.end,
                        row_count=len(rows), rows=rows)
    return CitedEvidence("step-m", evidence)


def test_shift_is_found_with_its_onset_and_size() -> None:
    signals = analyze([metrics_evidence(series("latency_ms", 100, 900, 50))], WINDOW)
    (shift,) = signals
    assert shift.kind == SignalKind.METRIC_SHIFT
    assert shift.onset == T0 + timedelta(minutes=50)
    assert shift.detail["direction"] == "rose"
    assert shift.evidence == ["step-m"]


def test_the_metric_that_moved_first_is_named() -> None:
    rows = series("db_lock_wait_seconds", 0.1, 5, 47) + series("latency_ms", 100, 900, 52)
    signals = analyze([metrics_evidence(rows)], WINDOW)
    first = next(s for s in signals if s.detail.get("moved_first"))
    assert first.detail["metric"] == "db_lock_wait_seconds"
    assert "moved first, 5 min before the next" in first.title


def test_steady_metrics_raise_nothing() -> None:
    assert analyze([metrics_evidence(series("latency_ms", 100, 102, 50))], WINDOW) == []


def test_a_playbook_can_raise_the_bar() -> None:
    from triage.analysis.signals import Thresholds

    evidence = [metrics_evidence(series("latency_ms", 100, 900, 50))]
    assert analyze(evidence, WINDOW, Thresholds(metric_min_change=10.0)) == []
    assert len(analyze(evidence, WINDOW, Thresholds(metric_min_change=1.0))) == 1
