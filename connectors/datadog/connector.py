"""The Datadog connector: `logs:`, `metrics:`, `monitor:` and `events:` queries, read-only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from connectors.base import (
    ConnectorCheck,
    ConnectorConfigError,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRequest,
)
from connectors.datadog import links, logs, reads, scopes
from connectors.datadog.client import DatadogClient
from connectors.datadog.errors import DatadogError
from connectors.datadog.settings import DatadogSettings
from connectors.secrets import scrub

_PREFIX = re.compile(r"^\s*(logs|metrics|monitor|events)\s*:(.*)$", re.S | re.I)
_DEFAULT_READ = {"logs": "logs", "metrics": "metrics", "deploys": "events"}
# Evidence kind per read, so analyzers see rows of the shape they expect; a monitor's state rows
# are timestamped state records, closest to logs (there is no alerts kind).
_EVIDENCE_KIND = {"logs": EvidenceKind.LOGS, "metrics": EvidenceKind.METRICS,
                  "events": EvidenceKind.DEPLOYS, "monitor": EvidenceKind.LOGS}
_MONITOR_ID = re.compile(r"^#?([0-9]{1,19})$")
_PROBE_QUERY = "avg:datadog.estimated_usage.hosts{*}"
USAGE = ("Datadog queries: `logs: <log search>`, `metrics: <metric query>`, `monitor: <id>`, "
         "`events: <event search>`")


def split_query(text: str, default: str) -> tuple[str, str]:
    """`"metrics: sum:x{*}"` → `("metrics", "sum:x{*}")`; unprefixed text goes to `default`."""
    match = _PREFIX.match(text)
    if match:
        return match.group(1).lower(), match.group(2).strip()
    return default, text.strip()


class DatadogConnector:
    """Reads logs, metrics, monitors and events through `datadog-api-client`; never writes."""

    settings_model = DatadogSettings

    def __init__(self, name: str, settings: DatadogSettings) -> None:
        self.name = name
        self.settings = settings
        self.kind = EvidenceKind(settings.kind)
        self._client: DatadogClient | None = None
        self._secrets: tuple[SecretStr, ...] = ()

    def _connect(self) -> DatadogClient:
        """The client, built on first use so a missing secret becomes error Evidence, not a crash."""
        if self._client is None:
            self._secrets = (self.settings.api_key.resolve(), self.settings.app_key.resolve())
            self._client = DatadogClient(self.settings, *self._secrets)
        return self._client

    def query(self, request: QueryRequest) -> Evidence:
        """Run one read (see `USAGE`) over the request's time range."""
        builder = EvidenceBuilder(self, request)
        read, text = split_query(request.query, _DEFAULT_READ[self.settings.kind])
        try:
            result, link = self._read(read, text, request)
        except (DatadogError, ConnectorConfigError) as exc:
            return self._as(builder.error(str(exc)), read)
        evidence = builder.ok(result.rows, "; ".join([result.summary, *result.notes]), link=link,
                              sampling=result.sampling)
        if result.more:
            evidence = evidence.model_copy(update={"truncated": True})
        return self._as(evidence, read)

    def _read(self, read: str, text: str, request: QueryRequest) -> tuple[reads.ReadResult, str]:
        """Dispatch to one read; the result and its deep link."""
        ui, start, end = self.settings.ui_base(), request.start, request.end
        if read == "monitor":
            numeric = _MONITOR_ID.match(text)
            if not numeric:
                raise DatadogError(f"refused: `monitor:` takes a numeric monitor id, not {text!r}; "
                                   + USAGE)
            monitor_id = int(numeric.group(1))
            return (reads.read_monitor(self._connect(), monitor_id),
                    links.monitor_link(ui, monitor_id, start, end))
        if read == "metrics":
            if not text:
                raise DatadogError("refused: empty metrics query; " + USAGE)
            return (reads.read_metrics(self._connect(), text, start, end),
                    links.metrics_link(ui, text, start, end))
        text = text or "*"
        if read == "events":
            return (reads.read_events(self._connect(), self.settings, text, start, end, request.limit),
                    links.events_link(ui, text, start, end))
        return (logs.read_logs(self._connect(), self.settings, text, start, end, request.limit),
                links.logs_link(ui, text, start, end))

    def _as(self, evidence: Evidence, read: str) -> Evidence:
        """Set the read's evidence kind; scrub the keys from data too, in case a log line echoes one."""
        rows = [{key: scrub(value, *self._secrets) if isinstance(value, str) else value
                 for key, value in row.items()} for row in evidence.rows]
        return evidence.model_copy(update={
            "kind": _EVIDENCE_KIND[read], "rows": rows,
            "summary": scrub(evidence.summary, *self._secrets),
            "error": scrub(evidence.error, *self._secrets) if evidence.error else None})

    def check(self) -> ConnectorCheck:
        """Validate the API key, probe each read API, and read the application key's scopes."""
        site = f"{self.settings.resolved_site()} via {self.settings.api_base()}"
        try:
            client = self._connect()
            valid = client.validate().get("valid") is True
        except (DatadogError, ConnectorConfigError) as exc:
            return self._check(False, None, [f"{site}: {exc}"])
        if not valid:
            return self._check(False, None, [f"{site}: Datadog says the API key is not valid"])
        details = [f"{site}: API key valid"]
        readable = {read: self._probe(client, read, details) for read in ("logs", "metrics", "monitor",
                                                                           "events")}
        can_write, scope_details = scopes.assess(client, self._secrets[1])
        details += scope_details
        details.append("any Datadog API key can also submit data (metrics, logs, events); this "
                       "connector calls no submit or write endpoint")
        return self._check(readable[_DEFAULT_READ[self.settings.kind]], can_write, details)

    def _probe(self, client: DatadogClient, read: str, details: list[str]) -> bool:
        """One cheap read over the last five minutes; say whether it worked."""
        end = datetime.now(UTC)
        start = end - timedelta(minutes=5)
        try:
            if read == "logs":
                client.search_logs("*", start.isoformat(), end.isoformat(), 1, None)
            elif read == "metrics":
                client.query_metrics(_PROBE_QUERY, int(start.timestamp()), int(end.timestamp()))
            elif read == "monitor":
                client.list_monitors(1)
            else:
                client.search_events("*", links.epoch_ms(start), links.epoch_ms(end), 1, None)
        except DatadogError as exc:
            details.append(f"{read}: NOT readable: {exc}")
            return False
        details.append(f"{read}: readable")
        return True

    def _check(self, reachable: bool, can_write: bool | None, details: list[str]) -> ConnectorCheck:
        """A `ConnectorCheck` for this connector."""
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=reachable,
                              can_write=can_write, details=details)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
