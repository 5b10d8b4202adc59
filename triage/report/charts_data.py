"""The report's charts, from what the investigation stored: the analysis window (plan step), the
signals and detected onset (analyze step), the gathered evidence (query steps) and the deploys.

Series are derived the way the analyzers saw them (`merged_logs`, `error_stamps`,
`series_points`), so a chart never disagrees with the signal it illustrates. Only what the
charts draw is kept, bounded (`charts_model`).

    charts = report_charts(steps, alert.started_at)   # [] before the analysis ran
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from connectors import Evidence, EvidenceKind, EvidenceStatus
from connectors.timeparse import parse_timestamp
from triage.analysis.levels import failure_text, severity_of
from triage.analysis.masking import Masker, is_masked
from triage.analysis.onset import error_stamps, series_points
from triage.analysis.runner import merged_logs
from triage.analysis.signals import CitedEvidence, Signal, SignalKind
from triage.analysis.templates import WILDCARD
from triage.models import StepKind, StepRecord
from triage.report.charts_model import (
    MAX_BARS,
    MAX_CHARTS,
    MAX_MARKERS,
    MAX_POINTS,
    Band,
    Bar,
    BarChart,
    Marker,
    SeriesChart,
)

log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
MAX_TEMPLATES = 2  # template charts: the most frequent new (or risen) messages
TITLE = 90


def report_charts(steps: list[StepRecord], alert_start: datetime) -> list[SeriesChart | BarChart]:
    """At most MAX_CHARTS charts, strongest symptom first; [] when there is nothing to draw (or
    drawing data could not be derived: logged, never a broken report)."""
    try:
        return _charts(steps, alert_start)
    except Exception:  # charts illustrate; a report without them is still the report
        log.exception("chart data of %s", steps[0].investigation_id if steps else "?")
        return []


def _charts(steps: list[StepRecord], alert_start: datetime) -> list[SeriesChart | BarChart]:
    analysis = next((s for s in steps if s.stage == "analyze" and s.name == "signals"), None)
    if analysis is None:
        return []
    signals = [Signal.model_validate(raw) for raw in analysis.detail.get("signals", [])]
    cited = _evidence(steps)
    onset = _onset(analysis.detail.get("onset"), signals)
    start, end = _window(steps, cited)
    if start is None or end is None:
        return []
    markers = _markers(cited.values(), alert_start, onset, start, end)
    charts: list[SeriesChart | BarChart] = []
    drill = [s for s in signals if s.kind == SignalKind.DRILLDOWN]
    room = MAX_CHARTS - (1 if drill else 0)
    for signal in signals:
        for chart in _series_of(signal, cited, start, end, onset):
            if len(charts) < room:
                charts.append(chart.model_copy(update={"markers": markers, "start": start,
                                                       "end": end}))
    if drill:
        charts.append(_drilldown(drill))
    return charts


def _evidence(steps: list[StepRecord]) -> dict[str, CitedEvidence]:
    """Every usable gathered evidence by step id, logs merged per connector as analysed."""
    cited = [CitedEvidence(s.id, Evidence.model_validate(s.detail)) for s in steps
             if s.stage == "gather" and s.kind == StepKind.QUERY and s.detail]
    usable = merged_logs([c for c in cited if c.evidence.status == EvidenceStatus.OK])
    return {c.step_id: c for c in usable}


def _onset(stored: object, signals: list[Signal]) -> datetime | None:
    """The detected onset, or (as the runner falls back) the earliest symptom's."""
    if isinstance(stored, dict) and stored.get("at"):
        return datetime.fromisoformat(str(stored["at"]))
    onsets = [s.onset for s in signals if s.onset and s.kind not in (
        SignalKind.CONFIG_EVENT, SignalKind.RECENT_DEPLOY)]
    return min(onsets) if onsets else None


def _window(steps: list[StepRecord],
            cited: dict[str, CitedEvidence]) -> tuple[datetime | None, datetime | None]:
    """The analysis window of the plan, else the span the evidence was read over."""
    plan = next((s for s in steps if s.stage == "gather" and s.name == "plan"), None)
    window = plan.detail.get("window") if plan else None
    if isinstance(window, dict) and window.get("start") and window.get("end"):
        return datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    spans = [(c.evidence.start, c.evidence.end) for c in cited.values()]
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (None, None)


def _markers(cited: Iterable[CitedEvidence], alert_start: datetime, onset: datetime | None,
             start: datetime, end: datetime) -> list[Marker]:
    """The alert, the onset, and every deploy in the window (nearest the onset first, bounded)."""
    found = [Marker(at=alert_start, kind="alert", label="alert")]
    if onset is not None:
        found.append(Marker(at=onset, kind="onset", label="onset"))
    deploys: list[Marker] = []
    for item in cited:
        if item.evidence.kind != EvidenceKind.DEPLOYS:
            continue
        for row in item.evidence.rows:
            if not row.get("deployed_at") or not row.get("commit"):
                continue
            try:
                at = parse_timestamp(row["deployed_at"])
            except (ValueError, TypeError, OverflowError):
                continue
            if start <= at <= end:
                deploys.append(Marker(at=at, kind="deploy", label=str(row["commit"])[:7]))
    anchor = onset or alert_start
    deploys.sort(key=lambda m: abs((m.at - anchor).total_seconds()))
    return found + deploys[: MAX_MARKERS - len(found)]


def _series_of(signal: Signal, cited: dict[str, CitedEvidence], start: datetime, end: datetime,
               onset: datetime | None) -> list[SeriesChart]:
    """The series a symptom signal is about ([] for the kinds that are not series)."""
    item = next((cited[e] for e in signal.evidence if e in cited), None)
    if item is None:
        return []
    if signal.kind == SignalKind.ERROR_SPIKE:
        times, counts = per_minute(error_stamps(item), start, end)
        return [_series(f"Error lines ({item.evidence.connector})", "lines/min", times, counts,
                        onset)]
    if signal.kind == SignalKind.METRIC_SHIFT:
        key = str(signal.detail.get("series", ""))
        points = series_points(item).get(key)
        if not points or not points[0]:
            return []
        return [_series(key, "value", *points, onset)]  # the title names the metric
    if signal.kind == SignalKind.NEW_ERRORS:
        changed = [*signal.detail.get("templates", []), *signal.detail.get("risen", [])]
        wanted = [str(t["template"]) for t in changed[:MAX_TEMPLATES] if t.get("template")]
        stamps = template_stamps(item, wanted)
        return [_series(f"New error: {template}", "lines/min",
                        *per_minute(stamps[template], start, end), onset)
                for template in wanted]
    return []


def _series(title: str, unit: str, times: list[datetime], values: list[float],
            onset: datetime | None) -> SeriesChart:
    times, values = downsample(times, values)
    before = [v for t, v in zip(times, values, strict=True) if onset is None or t < onset]
    band = None
    if onset is not None and len(before) >= 3:
        low, median, high = np.percentile(np.array(before), [5, 50, 95])
        band = Band(low=float(low), high=float(high), median=float(median))
    short = title if len(title) <= TITLE else title[: TITLE - 1] + "…"
    return SeriesChart(title=short, unit=unit, times=times,
                       values=[float(f"{v:.4g}") for v in values], band=band)


def per_minute(stamps: list[datetime], start: datetime,
               end: datetime) -> tuple[list[datetime], list[float]]:
    """How many of `stamps` fall in each minute of [start, end), every minute present."""
    first = start.replace(second=0, microsecond=0)
    counts = Counter(s.replace(second=0, microsecond=0) for s in stamps if start <= s < end)
    minutes = max(1, int((end - first) / MINUTE))
    times = [first + i * MINUTE for i in range(minutes)]
    return times, [float(counts.get(t, 0)) for t in times]


def downsample(times: list[datetime],
               values: list[float]) -> tuple[list[datetime], list[float]]:
    """At most MAX_POINTS points: consecutive points averaged in equal buckets (each dated by its
    first), so a spike's level survives as a bucket's mean rather than vanishing between picks."""
    if len(times) <= MAX_POINTS:
        return list(times), list(values)
    size = -(-len(times) // MAX_POINTS)
    return ([times[i] for i in range(0, len(times), size)],
            [float(np.mean(values[i:i + size])) for i in range(0, len(values), size)])


def template_stamps(item: CitedEvidence, templates: list[str]) -> dict[str, list[datetime]]:
    """When each line of each template was written: the warning-or-worse lines whose masked
    words match the template's, token for token (values and wildcards match any value)."""
    wanted = {template: template.split() for template in templates}
    found: dict[str, list[datetime]] = {template: [] for template in templates}
    masker = Masker()
    for stamp, row in item.stamped:
        if not severity_of(row):
            continue
        tokens = masker.mask(failure_text(row)).split()
        for template, words in wanted.items():
            if len(words) == len(tokens) and all(
                    w in (t, WILDCARD) or (is_masked(w) and is_masked(t))
                    for w, t in zip(words, tokens, strict=True)):
                found[template].append(stamp)
                break
    return found


def _drilldown(signals: list[Signal]) -> BarChart:
    """The drill-down signals of the strongest one's mode as paired bars."""
    mode = signals[0].detail.get("mode", "concentration")
    same = [s for s in signals if s.detail.get("mode", "concentration") == mode][:MAX_BARS]
    if mode == "shift":
        first, second, keys = "of baseline", "of incident", ("baseline_share", "incident_share")
        title = "What the traffic shifted to"
    else:
        first, second, keys = "of errors", "of traffic", ("anomaly_share", "traffic_share")
        title = "What the failing traffic shares"
    bars = [Bar(label=f"{s.detail.get('field')}={s.detail.get('value')}"[:80],
                first=_share(s.detail.get(keys[0])), second=_share(s.detail.get(keys[1])))
            for s in same]
    return BarChart(title=title, first_label=first, second_label=second, bars=bars)


def _share(value: object) -> float:
    return min(1.0, max(0.0, float(value))) if isinstance(value, int | float) else 0.0
