"""Where the anomaly is: drill-down over every log line read (all levels), as signals.

"currency=EUR: 100% of errors, 31% of traffic" (errors concentrated on one value) and
"query.utm_campaign=blackfriday: 0% -> 64% of requests" (the traffic itself changed) are what
tell a partial outage, a bad host or a campaign-driven surge apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage.analysis.drilldown import Contributor, count_windows, rank
from triage.analysis.drilldown_attributes import attributes
from triage.analysis.levels import answered_5xx, is_error_level, level_of, severity_of
from triage.analysis.locality import placement_signals
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind

SHOWN = 3
ERRORS, LOGGED = "errors", "logged errors"  # the two readings of the anomaly, as titles say them


def is_anomalous(row: Mapping[str, Any]) -> bool:
    """An error or warning line, or a request answered 5xx or 429."""
    if severity_of(dict(row)) >= 1:
        return True
    status = attributes(row).get("status", "")
    return status.isdigit() and (int(status) >= 500 or int(status) == 429)


def is_logged_failure(row: Mapping[str, Any]) -> bool:
    """A line the process logged at error level: what our own replicas saw fail, as opposed to
    the requests they answered 5xx (which any replica answers when a shared cause fails)."""
    line = dict(row)
    return is_error_level(level_of(line)) and not answered_5xx(line)


def attribution_signals(cited: CitedEvidence, window: AnalysisWindow) -> list[Signal]:
    """The attribute values that best explain the anomaly in one logs evidence.

    Two readings: every anomalous line (errors, warnings, answered 5xx/429), and only the lines
    the service logged as errors. The second tells "one zone's replicas time out on Redis"
    (infrastructure: the others reach it fine) from "Redis is down" (every replica fails),
    where the 5xx answered to clients are spread over all replicas by the load balancer.
    """
    counts = count_windows(cited.evidence.rows, window.onset, window.end,
                           {ERRORS: is_anomalous, LOGGED: is_logged_failure})
    found = [(c, ERRORS) for c in rank(counts, ERRORS, top=SHOWN)]
    logged = [(c, LOGGED) for c in rank(counts, LOGGED, top=SHOWN) if c.mode == "concentration"]
    best: dict[tuple[str, str, str], tuple[Contributor, str]] = {}
    for contributor, anomaly in found + logged:
        key = (contributor.field, contributor.value, contributor.mode)
        if key not in best or contributor.anomaly_share > best[key][0].anomaly_share:
            best[key] = (contributor, anomaly)
    ranked = sorted(best.values(), key=lambda pair: -pair[0].score)[:SHOWN]
    # The same counts say whether the logged errors sit on a few of the service's machines.
    return ([_signal(c, anomaly, cited.step_id) for c, anomaly in ranked]
            + placement_signals(counts, LOGGED, cited.step_id))


def _signal(found: Contributor, anomaly: str, step_id: str) -> Signal:
    share = found.anomaly_share if found.mode == "concentration" else found.incident_share
    return Signal(
        kind=SignalKind.DRILLDOWN, title=found.describe(anomaly),
        strength=round(min(1.0, 0.3 + found.score), 3), evidence=[step_id],
        detail={"field": found.field, "value": found.value, "mode": found.mode, "share": share,
                "anomaly_share": found.anomaly_share, "traffic_share": found.traffic_share,
                "baseline_share": found.baseline_share, "incident_share": found.incident_share,
                "anomalous": found.anomalous, "total": found.total, "score": found.score})
