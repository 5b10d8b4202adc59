"""The Connector contract: a read-only query in, an `Evidence` record out.

Exceptions::

    ConnectorError                 a connector cannot be built or used as configured
    ├── ConnectorConfigError       its settings are invalid (raised at load time)
    └── QueryRefused               the query is not a read (raised by guards; see `refused`)

Errors a brain can act on (bad syntax, backend down, timeout) never raise: they come back as
`Evidence(status="error")` carrying the exact query and the backend's own message.
"""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_ROWS = 500
MAX_CELL_CHARS = 2_000


class ConnectorError(Exception):
    """A connector cannot be built or used as configured."""


class ConnectorConfigError(ConnectorError):
    """A connector's settings are invalid."""


class QueryRefused(ConnectorError):
    """A query was refused because it is not a plain read."""


class EvidenceKind(StrEnum):
    """What a connector looks at; playbooks address connectors by kind."""

    LOGS = "logs"
    METRICS = "metrics"
    DATABASE = "database"
    DEPLOYS = "deploys"
    INCIDENTS = "incidents"


class EvidenceStatus(StrEnum):
    """Outcome of one query."""

    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"


class QueryRequest(BaseModel):
    """One read-only query over a time range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    start: datetime
    end: datetime
    limit: int = Field(default=MAX_ROWS, ge=1, le=10_000)

    @model_validator(mode="after")
    def _check_range(self) -> QueryRequest:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()} is before start {self.start.isoformat()}")
        return self


class MinuteCount(BaseModel):
    """Exact matches in one minute of the window, by level (`?` for lines without one)."""

    model_config = ConfigDict(extra="forbid")

    minute: str = Field(description="ISO 8601 start of the minute, UTC")
    count: int
    by_level: dict[str, int] = Field(default_factory=dict)


class Sampling(BaseModel):
    """How the rows of a capped logs query were chosen, and exact counts of all that matched."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="human text, e.g. 'newest 2500 + per-minute stratified sample "
                                    "of 2500 from 50000 matched'")
    matched: int = Field(description="exact number of matching lines in the window")
    kept: int
    newest: int = Field(description="rows kept because they are the newest")
    sampled: int = Field(description="rows kept by the stratified sample of the older lines")
    per_minute: list[MinuteCount] = Field(default_factory=list,
                                          description="exact counts for every minute of the window")


class Evidence(BaseModel):
    """What one query returned, exactly as it was asked, bounded in size."""

    model_config = ConfigDict(extra="forbid")

    connector: str
    kind: EvidenceKind
    status: EvidenceStatus
    query: str
    start: datetime
    end: datetime
    row_count: int = 0
    truncated: bool = False
    link: str | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    summary: str = ""
    error: str | None = None
    duration_ms: float = 0.0
    sampling: Sampling | None = None  # logs connectors: how `rows` were chosen; exact counts


class ConnectorCheck(BaseModel):
    """What `triage connectors test` found: can we read, and could these credentials write?"""

    connector: str
    kind: EvidenceKind
    reachable: bool
    can_write: bool | None = Field(description="None when the backend cannot tell")
    details: list[str] = Field(default_factory=list)


@runtime_checkable
class Connector(Protocol):
    """A read-only eye on one backend. It has no method that writes."""

    name: str
    kind: EvidenceKind

    def query(self, request: QueryRequest) -> Evidence:
        """Run one read-only query and describe what came back."""
        ...

    def check(self) -> ConnectorCheck:
        """Connect, verify read access, and find out whether the credentials could write."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def clip_cell(value: Any) -> Any:
    """Bound one cell so a single huge value cannot blow up a report."""
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        half = MAX_CELL_CHARS // 2
        return f"{value[:half]}…[{len(value) - MAX_CELL_CHARS} chars cut]…{value[-half:]}"
    return value


def bounded_rows(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Keep at most `limit` rows with clipped cells; say whether anything was cut."""
    kept = [{key: clip_cell(val) for key, val in row.items()} for row in rows[:limit]]
    return kept, len(rows) > limit


class EvidenceBuilder:
    """Times one query and turns its outcome into `Evidence`; shared by every connector."""

    def __init__(self, connector: Connector, request: QueryRequest) -> None:
        from connectors.secrets import settings_secrets  # it imports this module

        self._connector = connector
        self._request = request
        self._started = time.perf_counter()
        # The connector's own credentials never reach evidence, even where a configured query
        # or a backend's error message quotes them.
        self._secrets = settings_secrets(getattr(connector, "settings", None))

    def _scrub(self, text: str) -> str:
        from connectors.secrets import scrub

        return scrub(text, *self._secrets) if self._secrets else text

    def _base(self) -> dict[str, Any]:
        return {
            "connector": self._connector.name,
            "kind": self._connector.kind,
            "query": self._scrub(self._request.query),
            "start": self._request.start,
            "end": self._request.end,
            "duration_ms": round((time.perf_counter() - self._started) * 1000, 3),
        }

    def ok(
        self,
        rows: list[dict[str, Any]],
        summary: str,
        *,
        total: int | None = None,
        link: str | None = None,
        sampling: Sampling | None = None,
    ) -> Evidence:
        """Evidence for a query that ran; `no_data` when nothing matched.

        With `sampling`, `rows` were already chosen by `connectors.sampling` and the count is
        `sampling.matched`; the method goes into the summary so the report says what was kept.
        """
        from connectors.secrets import scrub_value

        kept, cut = bounded_rows(rows, self._request.limit)
        kept = scrub_value(kept, self._secrets)
        count = sampling.matched if sampling else len(rows) if total is None else total
        status = EvidenceStatus.OK if count else EvidenceStatus.NO_DATA
        if sampling and sampling.kept < sampling.matched:
            summary = f"{summary} (sampled: {sampling.method})"
        return Evidence(
            **self._base(),
            status=status,
            row_count=count,
            truncated=cut or count > len(kept),
            link=self._scrub(link) if link else link,
            rows=kept,
            summary=self._scrub(summary) if count else "no rows matched",
            sampling=sampling,
        )

    def error(self, message: str) -> Evidence:
        """Evidence for a query the backend (or the guard) rejected."""
        message = self._scrub(message)
        return Evidence(**self._base(), status=EvidenceStatus.ERROR, error=message, summary=message)
