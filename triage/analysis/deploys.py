"""Deploy correlation: which deploys landed shortly before the symptoms began.

A deploy's weight halves every `half_life` minutes before the onset: a code regression shows
within minutes of reaching traffic, so a deploy an hour earlier is a weak suspect. A deploy after
the onset cannot have caused it (a minute of slack covers the onset's per-minute resolution).
A deploy that changed configuration files only is not a suspect here: it is a configuration
change (`config_changes.config_only_deploys`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.timeparse import parse_timestamp
from triage.analysis.config_changes import is_config_only
from triage.analysis.signals import CitedEvidence, Signal, SignalKind

LOOKBACK = timedelta(hours=2)
HALF_LIFE = timedelta(minutes=15)
SLACK = timedelta(minutes=1)


def recent_deploys(cited: CitedEvidence, onset: datetime | None,
                   lookback: timedelta = LOOKBACK, half_life: timedelta = HALF_LIFE) -> list[Signal]:
    """Deploys before the onset (or any in the window when no onset is known), nearest first."""
    signals = []
    for row in cited.evidence.rows:
        # Deploy-kind evidence may also hold commits or files (GitHub): only deploys count here.
        if not row.get("deployed_at") or not row.get("commit"):
            continue
        if is_config_only(row):  # a configuration change: `config_changes` reports it
            continue
        try:
            deployed_at = parse_timestamp(row["deployed_at"])
        except (ValueError, TypeError, OverflowError):
            continue
        if onset is not None and not (onset - lookback <= deployed_at <= onset + SLACK):
            continue
        lead = max(onset - deployed_at, timedelta(0)) if onset else None
        minutes = lead.total_seconds() / 60 if lead is not None else None
        proximity = (0.5 ** (minutes / (half_life.total_seconds() / 60)) if minutes is not None
                     else 0.3)
        when = f"{minutes:.0f} min before the symptoms began" if minutes is not None else "in the window"
        what = f" ({row.get('author') or '?'}: {row['description']})" if row.get("description") else ""
        signals.append(Signal(
            kind=SignalKind.RECENT_DEPLOY,
            title=f"{row.get('service') or 'service'} deploy {str(row['commit'])[:12]}{what}, {when}",
            strength=round(max(0.05, proximity), 3),
            onset=deployed_at,
            evidence=[cited.step_id],
            detail={**row, "minutes_before_onset": minutes},
        ))
    return sorted(signals, key=lambda s: -s.strength)
