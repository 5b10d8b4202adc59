"""The signal record every analyzer produces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors import Evidence


class SignalKind(StrEnum):
    """What an analyzer noticed."""

    ERROR_SPIKE = "error_spike"
    NEW_ERRORS = "new_errors"
    METRIC_SHIFT = "metric_shift"
    RECENT_DEPLOY = "recent_deploy"
    DB_BLOCKING = "db_blocking"
    DB_IDLE_IN_TRANSACTION = "db_idle_in_transaction"
    DB_CONNECTIONS = "db_connections"
    DB_LONG_QUERIES = "db_long_queries"
    GAUGE_AT_LIMIT = "gauge_at_limit"
    DRILLDOWN = "drilldown"
    CONFIG_EVENT = "config_event"
    LOG_VOLUME = "log_volume"


class Signal(BaseModel):
    """One observation with its strength and the steps it cites."""

    kind: SignalKind
    title: str
    strength: float = Field(ge=0.0, le=1.0)
    onset: datetime | None = None
    evidence: list[str] = Field(default_factory=list, description="step ids")
    detail: dict[str, Any] = Field(default_factory=dict)


class Thresholds(BaseModel):
    """How big a change must be to count as a signal (a playbook's `signals:` section)."""

    model_config = ConfigDict(extra="forbid")

    error_spike_ratio: float = Field(default=3.0, gt=1.0, description="incident / baseline rate")
    error_spike_min_count: int = Field(default=5, ge=1)
    metric_z: float = Field(default=4.0, gt=0.0, description="robust z-score of the level shift")
    metric_min_change: float = Field(default=0.5, ge=0.0, description="relative change")
    deploy_lookback_minutes: float = Field(default=120.0, gt=0.0)
    deploy_half_life_minutes: float = Field(
        default=15.0, gt=0.0, description="a deploy this long before the onset weighs half")
    gauge_limit_share: float = Field(default=0.9, gt=0.0, le=1.0,
                                     description="a gauge this close to its limit is at it")


@dataclass(frozen=True)
class AnalysisWindow:
    """Baseline is [start, onset); the incident window is [onset, end)."""

    start: datetime
    onset: datetime
    end: datetime

    def minutes(self, incident: bool) -> float:
        """Length of the baseline or incident window in minutes (at least one)."""
        span = (self.end - self.onset) if incident else (self.onset - self.start)
        return max(span.total_seconds() / 60, 1.0)


@dataclass(frozen=True)
class CitedEvidence:
    """Evidence as recorded, with the id of the step that produced it. The parsed forms every
    analyzer reads (timestamps, error lines) are computed once and kept."""

    step_id: str
    evidence: Evidence

    @cached_property
    def stamped(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The rows that carry a readable timestamp, with it, in time order."""
        from triage.analysis.levels import stamp_of  # levels reads rows; signals is the base

        timed = [(stamp, row) for row in self.evidence.rows if (stamp := stamp_of(row))]
        timed.sort(key=lambda pair: pair[0])
        return timed

    @cached_property
    def errors(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The error-level rows among `stamped`."""
        from triage.analysis.levels import is_error

        return [(stamp, row) for stamp, row in self.stamped if is_error(row)]

    @cached_property
    def error_stamps(self) -> list[datetime]:
        """When each error-level line was written: exact per-minute counts from the backend when
        the rows were capped (a sample undercounts), else the rows' own timestamps."""
        from triage.analysis.levels import ERROR_LEVELS

        exact = self._exact_stamps(lambda level: level.lower() in ERROR_LEVELS)
        return exact if exact is not None else [stamp for stamp, _ in self.errors]

    @cached_property
    def ok_stamps(self) -> list[datetime]:
        """When each line that is not a failure was written (the traffic a service logs), exact
        per minute when the rows were capped."""
        from triage.analysis.levels import ERROR_LEVELS, is_error

        exact = self._exact_stamps(lambda level: level.lower() not in ERROR_LEVELS)
        return exact if exact is not None else [stamp for stamp, row in self.stamped
                                                if not is_error(row)]

    def _exact_stamps(self, counts: Callable[[str], bool]) -> list[datetime] | None:
        """Timestamps spread evenly over each minute from the exact per-minute counts of a
        capped read, or None when the rows are all there is."""
        sampling = self.evidence.sampling
        if sampling is None or not self.evidence.truncated or not sampling.per_minute:
            return None
        stamps: list[datetime] = []
        for minute in sampling.per_minute:
            start = datetime.fromisoformat(minute.minute.replace("Z", "+00:00"))
            n = sum(c for level, c in minute.by_level.items() if counts(level))
            if not minute.by_level and counts(""):
                n = minute.count
            stamps += [start + timedelta(seconds=60 * i / n) for i in range(n)]
        return sorted(stamps)

    @cached_property
    def memo(self) -> dict[Any, Any]:
        """Results analyzers share for this evidence (e.g. each series' change point)."""
        return {}
