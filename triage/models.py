"""The domain records every part shares: alerts, investigation states, recorded steps."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Source(StrEnum):
    """Where an alert came from."""

    PAGERDUTY = "pagerduty"
    ALERTMANAGER = "alertmanager"
    DATADOG = "datadog"
    SLACK = "slack"  # `/triage investigate <service> <what>`: no webhook behind it


class Severity(StrEnum):
    """Normalised severity; each source's own levels map onto these."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class AlertStatus(StrEnum):
    """Whether the alert is still firing."""

    FIRING = "firing"
    RESOLVED = "resolved"


class InvestigationState(StrEnum):
    """Lifecycle of one investigation."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Link(BaseModel):
    """A titled link back to the source system."""

    model_config = ConfigDict(frozen=True)

    title: str
    url: str


class Alert(BaseModel):
    """One alert occurrence, normalised from any source."""

    model_config = ConfigDict(extra="forbid")

    source: Source
    dedup_key: str = Field(min_length=1, description="source-scoped identity of this occurrence")
    title: str
    severity: Severity = Severity.ERROR
    status: AlertStatus = AlertStatus.FIRING
    started_at: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    external_id: str | None = Field(default=None, description="incident id / fingerprint / id")
    service: str | None = Field(default=None, description="service name as configured")

    @field_validator("started_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StepKind(StrEnum):
    """What a recorded step did."""

    QUERY = "query"
    ANALYSIS = "analysis"
    STAGE = "stage"
    TOOL = "tool"


class StepRecord(BaseModel):
    """One recorded action of an investigation: exactly what ran and what came back."""

    id: str
    investigation_id: str
    stage: str
    seq: int
    kind: StepKind
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str
    started_at: datetime
    duration_ms: float
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
