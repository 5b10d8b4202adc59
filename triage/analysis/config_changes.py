"""Configuration changes that announce themselves outside the logs: a deploy that changed only
configuration files (Helm values, a properties file), and a configured limit (a pool's maximum,
a memory limit) that was lowered just before the symptoms began.

Both are `config_event` signals, like a reload a service logs (`log_events.config_events`): a
lowered `hikaricp_connections_max` makes "the pool is exhausted" a configuration change, not
traffic outgrowing the service.
"""

from __future__ import annotations

import re
from datetime import datetime
from statistics import median
from typing import Any

from connectors import EvidenceKind
from connectors.timeparse import parse_timestamp
from triage.analysis.log_events import CONFIG_LAG, CONFIG_LEAD
from triage.analysis.metrics import metric_name
from triage.analysis.onset import series_points
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind
from triage.fix.diffs import CONFIG_FILE, TEST_FILE

# A value someone configures (not a capacity the platform reports: a node lost is not a config
# change): the maximum of a pool, a container's limit, a quota.
CONFIGURED_LIMIT = re.compile(r"(?i)(?:^|_)(max|maximum|limits?|quota|allowed)(?:_|$)")
LOWERED = 0.75  # the limit's new level is at most this share of its old one
EDGE_POINTS = 3


def config_signals(cited: list[CitedEvidence], window: AnalysisWindow,
                   onset: datetime | None) -> list[Signal]:
    """Config-only deploys and lowered limits near the onset, from every evidence given."""
    found: list[Signal] = []
    for item in cited:
        if item.evidence.kind == EvidenceKind.DEPLOYS and onset is not None:
            found += config_only_deploys(item, onset)
        elif item.evidence.kind == EvidenceKind.METRICS:
            found += limits_lowered(item, window)
    return found


def _proximity(lead_minutes: float) -> float:
    """1 at the onset, falling to 0.2 an hour before (as an announced change weighs)."""
    return round(max(0.2, 1 - max(lead_minutes, 0) / 60), 3)


def changed_files(row: dict[str, Any]) -> list[str]:
    """The files a deploy row changed, tests aside."""
    return [str(f) for f in row.get("files") or [] if not TEST_FILE.search(str(f))]


def is_config_only(row: dict[str, Any]) -> bool:
    """Whether a deploy changed configuration files only (Helm values, a properties file): a
    configuration change, judged as one (`config_event`), not as a code deploy."""
    files = changed_files(row)
    return bool(files) and all(CONFIG_FILE.search(f) for f in files)


def config_only_deploys(cited: CitedEvidence, onset: datetime) -> list[Signal]:
    """Deploys shortly before the onset whose changed files (tests aside) are all configuration."""
    signals = []
    for row in cited.evidence.rows:
        files = changed_files(row)
        if not row.get("commit") or not is_config_only(row):
            continue
        try:
            deployed_at = parse_timestamp(row.get("deployed_at"))
        except (ValueError, TypeError, OverflowError):
            continue
        if not onset - CONFIG_LEAD <= deployed_at <= onset + CONFIG_LAG:
            continue
        lead = (onset - deployed_at).total_seconds() / 60
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        signals.append(Signal(
            kind=SignalKind.CONFIG_EVENT,
            title=(f"Configuration-only deploy {str(row['commit'])[:12]} ({shown}) "
                   f"{max(lead, 0):.0f} min before the onset"
                   + (f": \"{row['description']}\"" if row.get("description") else "")),
            strength=_proximity(lead), onset=deployed_at, evidence=[cited.step_id],
            detail={"commit": row["commit"], "files": files, "minutes_before_onset": round(lead, 1),
                    "source": "deploy"}))
    return signals


def limits_lowered(cited: CitedEvidence, window: AnalysisWindow) -> list[Signal]:
    """One signal per configured-limit metric whose series stepped down near the onset."""
    by_metric: dict[str, list[tuple[datetime, float, float, str]]] = {}
    for key, (times, values) in series_points(cited).items():
        name = metric_name(key)
        if not CONFIGURED_LIMIT.search(name) or len(values) < 2 * EDGE_POINTS:
            continue
        before, after = median(values[:EDGE_POINTS]), median(values[-EDGE_POINTS:])
        if before <= 0 or after > LOWERED * before:
            continue
        # When it fell: the first point below the midpoint after which it never came back up.
        middle = (before + after) / 2
        at = next((times[i] for i in range(len(values))
                   if all(v < middle for v in values[i:])), None)
        if at is not None and window.onset - CONFIG_LEAD <= at <= window.onset + CONFIG_LAG:
            by_metric.setdefault(name, []).append((at, before, after, key))
    signals = []
    for name, drops in by_metric.items():
        at = min(drop[0] for drop in drops)
        before, after = median(d[1] for d in drops), median(d[2] for d in drops)
        lead = (window.onset - at).total_seconds() / 60
        series = f" ({len(drops)} series)" if len(drops) > 1 else ""
        signals.append(Signal(
            kind=SignalKind.CONFIG_EVENT,
            title=(f"Configured limit {name} lowered from {before:g} to {after:g}{series} "
                   f"{max(lead, 0):.0f} min before the onset"),
            strength=_proximity(lead), onset=at, evidence=[cited.step_id],
            detail={"metric": name, "series": drops[0][3], "before": before, "after": after,
                    "minutes_before_onset": round(lead, 1), "source": "limit"}))
    return signals
