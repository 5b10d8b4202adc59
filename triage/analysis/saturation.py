"""Saturation: a gauge that climbed to its limit (a pool in use at its maximum, memory at its
limit, a disk full, file handles at the cap, CPU throttled): the shape of resource exhaustion.

Limits come from the series themselves: a companion series with the same prefix whose name says
it is the limit (`db_pool_in_use` / `db_pool_max`, `memory_used_bytes` / `memory_limit_bytes`),
a utilisation ratio or percentage at its top, or a free-space gauge fallen to almost nothing.
"""

from __future__ import annotations

import re
from statistics import median

from triage.analysis.metrics import metric_name
from triage.analysis.onset import series_change, series_points
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal, SignalKind, Thresholds

LIMIT_WORDS = re.compile(r"(?i)(?:^|_)(max|maximum|limits?|capacity|size|quota|allowed)(?:_|$)")
# `pending` and `waiting` are queues, not a share of a limit: comparing them with a pool's
# maximum says nothing.
USAGE_WORDS = re.compile(r"(?i)(?:^|_)(in_?use|used|usage|active|busy|open|current|"
                         r"working_set|rss|allocated|inflight|acquired)(?:_|$)")
RATIO_WORDS = re.compile(r"(?i)(utili[sz]ation|usage_ratio|_ratio$|percent|_pct$|saturation)")
RESOURCE_WORDS = ("memory", "cpu", "disk", "filesystem", "fds", "file", "conn", "pool", "thread",
                  "heap", "slots", "sessions", "workers")
MAX_FILL = 1.5  # a gauge far over its "limit" was paired with a series of other units
FREE_WORDS = re.compile(r"(?i)(?:^|_)(free|available|avail|remaining)(?:_|$)")
UNIT = re.compile(r"(?i)_(bytes|seconds|total|count|ratio|percent)$")
TAIL_POINTS = 3


def _stem(name: str, words: re.Pattern[str]) -> str:
    """The metric name without its unit suffix and its usage/limit word: the pairing key."""
    return words.sub("_", UNIT.sub("", name)).strip("_").replace("__", "_")


def gauges_at_limit(cited: CitedEvidence, window: AnalysisWindow,
                    thresholds: Thresholds | None = None) -> list[Signal]:
    """One signal per gauge that reached its limit in the incident window."""
    limits = thresholds or Thresholds()
    series = series_points(cited)
    by_stem: dict[str, list[str]] = {}
    limit_keys = [key for key in series if LIMIT_WORDS.search(metric_name(key))]
    for key in limit_keys:
        by_stem.setdefault(_stem(metric_name(key), LIMIT_WORDS), []).append(key)
    signals: list[Signal] = []
    for key, (_times, values) in series.items():
        name = metric_name(key)
        if LIMIT_WORDS.search(name) or len(values) < 2 * TAIL_POINTS:
            continue
        level = median(values[-TAIL_POINTS:])
        start_level = median(values[:TAIL_POINTS])
        limit, how = None, ""
        companions = (by_stem.get(_stem(name, USAGE_WORDS)) or _same_resource(key, limit_keys)
                      if USAGE_WORDS.search(name) else None)
        if companions:
            limit_values = series[companions[0]][1]
            limit = median(limit_values[-TAIL_POINTS:]) if limit_values else None
            how = f"of its limit {metric_name(companions[0])} = {limit:g}" if limit else ""
        elif RATIO_WORDS.search(name):
            limit = 100.0 if max(values) > 1.5 else 1.0
            how = "of capacity"
        at_limit = limit is not None and limit > 0 and (
            MAX_FILL * limit >= level >= limits.gauge_limit_share * limit > start_level)
        if limit is not None and at_limit:
            signals.append(_signal(cited, key, window, limits,
                                   f"{key} reached {level:g} ({level / limit:.0%} {how})",
                                   level / limit))
        elif FREE_WORDS.search(name) and start_level > 0 and level <= 0.05 * start_level:
            signals.append(_signal(cited, key, window, limits,
                                   f"{key} fell to {level:g} from {start_level:g} (nearly none left)",
                                   1.0 - level / start_level))
    return signals


def _same_resource(key: str, limit_keys: list[str]) -> list[str]:
    """Limit series about the same resource (`container_memory_working_set_bytes` and
    `kube_pod_container_resource_limits{resource="memory"}`), when the names do not pair."""
    words = {w for w in RESOURCE_WORDS if w in key.lower()}
    return [k for k in limit_keys if words & {w for w in RESOURCE_WORDS if w in k.lower()}]


def _signal(cited: CitedEvidence, key: str, window: AnalysisWindow, limits: Thresholds,
            title: str, fill: float) -> Signal:
    change = series_change(cited, key, not_after=window.end, min_z=limits.metric_z,
                           min_relative=0.1)
    return Signal(kind=SignalKind.GAUGE_AT_LIMIT, title=title,
                  strength=round(min(1.0, 0.5 + 0.5 * min(fill, 1.0)), 3),
                  onset=change.at if change is not None else None, evidence=[cited.step_id],
                  detail={"series": key, "metric": metric_name(key), "fill": round(fill, 3),
                          "shape": change.shape if change is not None else None,
                          "direction": "rose"})
