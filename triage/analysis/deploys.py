"""Deploy correlation: which deploys landed shortly before the symptoms began."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.timeparse import parse_timestamp
from triage.analysis.signals import CitedEvidence, Signal, SignalKind

LOOKBACK = timedelta(hours=2)


def recent_deploys(cited: CitedEvidence, onset: datetime | None,
                   lookback: timedelta = LOOKBACK) -> list[Signal]:
    """Deploys before the onset (or any in the window when no onset is known), nearest first."""
    signals = []
    for row in cited.evidence.rows:
        # Deploy-kind evidence may also hold commits or files (GitHub): only deploys count here.
        if not row.get("deployed_at") or not row.get("commit"):
            continue
        try:
            deployed_at = parse_timestamp(row["deployed_at"])
        except ValueError:
            continue
        if onset is not None and not (onset - lookback <= deployed_at <= onset):
            continue
        lead = (onset - deployed_at) if onset else None
        minutes = lead.total_seconds() / 60 if lead is not None else None
        proximity = 1 - minutes / (lookback.total_seconds() / 60) if minutes is not None else 0.3
        when = f"{minutes:.0f} min before the symptoms began" if minutes is not None else "in the window"
        what = f" ({row.get('author') or '?'}: {row['description']})" if row.get("description") else ""
        signals.append(Signal(
            kind=SignalKind.RECENT_DEPLOY,
            title=f"{row.get('service') or 'service'} deploy {str(row['commit'])[:12]}{what}, {when}",
            strength=round(max(0.1, proximity), 3),
            onset=deployed_at,
            evidence=[cited.step_id],
            detail={**row, "minutes_before_onset": minutes},
        ))
    return sorted(signals, key=lambda s: -s.strength)
