"""Where the anomaly is: drill-down over every log line read (all levels), as signals.

"currency=EUR: 100% of errors, 31% of traffic" (errors concentrated on one value) and
"query.utm_campaign=blackfriday: 0% -> 64% of requests" (the traffic itself changed) are what
tell a partial outage, a bad host or a campaign-driven surge apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage.analysis.drilldown import Contributor, drill_down
from triage.analysis.drilldown_attributes import attributes
from triage.analysis.levels import severity_of
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind

SHOWN = 3


def is_anomalous(row: Mapping[str, Any]) -> bool:
    """An error or warning line, or a request answered 5xx or 429."""
    if severity_of(dict(row)) >= 1:
        return True
    status = attributes(row).get("status", "")
    return status.isdigit() and (int(status) >= 500 or int(status) == 429)


def attribution_signals(cited: CitedEvidence, window: AnalysisWindow) -> list[Signal]:
    """The attribute values that best explain the anomaly in one logs evidence."""
    found = drill_down(cited.evidence.rows, window.onset, is_anomalous=is_anomalous,
                       end=window.end, top=SHOWN)
    return [_signal(c, cited.step_id) for c in found]


def _signal(found: Contributor, step_id: str) -> Signal:
    share = found.anomaly_share if found.mode == "concentration" else found.incident_share
    return Signal(
        kind=SignalKind.DRILLDOWN, title=found.describe(),
        strength=round(min(1.0, 0.3 + found.score), 3), evidence=[step_id],
        detail={"field": found.field, "value": found.value, "mode": found.mode, "share": share,
                "anomaly_share": found.anomaly_share, "traffic_share": found.traffic_share,
                "baseline_share": found.baseline_share, "incident_share": found.incident_share,
                "anomalous": found.anomalous, "total": found.total, "score": found.score})
