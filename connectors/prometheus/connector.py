"""Prometheus over its HTTP API: range and instant PromQL queries, series, labels, rules, alerts.

Read-only by construction: the connector only issues GET requests to the query and metadata
endpoints, and `check()` reads `/api/v1/status/flags` to report whether the server exposes
endpoints that could write (admin API, remote-write or OTLP receivers). The query syntax is in
`connectors.prometheus.syntax`; rows and links in `connectors.prometheus.rows`.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import (
    ConnectorCheck,
    ConnectorConfigError,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.files_metrics import series_key
from connectors.prometheus.http import APIResult, BearerAuth, PrometheusAPIError, PrometheusHTTP
from connectors.prometheus.rows import (
    Points,
    alert_rows,
    alerts_summary,
    graph_link,
    points_summary,
    result_points,
    rule_rows,
    rules_summary,
    series_rows,
)
from connectors.prometheus.syntax import PromQuery, choose_step, format_duration, parse_query
from connectors.secrets import SecretRef

NO_WRITE_DETAIL = ("the Prometheus HTTP API has no write endpoints triage uses; admin APIs "
                   "(--web.enable-admin-api) are detected")
# flag -> what it opens; any of these set means someone reaching this URL can change stored data
_WRITE_FLAGS = {
    "web.enable-admin-api": "the admin API (delete series, snapshots, clean tombstones)",
    "web.enable-remote-write-receiver": "the remote-write receiver (POST /api/v1/write)",
    "web.enable-otlp-receiver": "the OTLP receiver (POST /api/v1/otlp/v1/metrics)",
}
_WRITE_FEATURES = {
    "remote-write-receiver": "the remote-write receiver (POST /api/v1/write)",
    "otlp-write-receiver": "the OTLP receiver (POST /api/v1/otlp/v1/metrics)",
}


class BasicAuthSettings(BaseModel):
    """HTTP basic auth: a username and a password read from a secret."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: str
    password: SecretRef


class PrometheusSettings(BaseModel):
    """`type: prometheus` — the server's URL, optional auth, timeouts and point caps."""

    # a mistyped setting (a token pasted inline, a URL with user:password) must not be echoed
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["prometheus"] = "prometheus"
    url: AnyHttpUrl
    ui_url: AnyHttpUrl | None = None
    bearer_token: SecretRef | None = None
    basic_auth: BasicAuthSettings | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    default_step_seconds: float = Field(default=15.0, gt=0)
    max_points: int = Field(default=250, ge=2, le=11_000)
    max_attempts: int = Field(default=4, ge=1, le=10)
    max_response_bytes: int = Field(default=20_000_000, ge=10_000)
    verify_tls: bool = True
    ca_file: Path | None = None

    @field_validator("url", "ui_url")
    @classmethod
    def _no_userinfo(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.username or value.password):
            raise ValueError("credentials in the URL are not allowed: use basic_auth or bearer_token "
                             "with {env: ...} or {file: ...}")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("give bearer_token or basic_auth, not both")
        return self


class PrometheusConnector:
    """Runs one PromQL query (or metadata / rules / alerts read) per request."""

    kind = EvidenceKind.METRICS
    settings_model = PrometheusSettings

    def __init__(self, name: str, settings: PrometheusSettings,
                 client: httpx.Client | None = None) -> None:
        self.name = name
        self.settings = settings
        self.base_url = str(settings.url).rstrip("/")
        self.ui_url = str(settings.ui_url or settings.url).rstrip("/")
        auth, secrets, hint = _auth(settings)
        verify = _tls(settings)
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        http_client = client or httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout,
                                             verify=verify, headers={"Accept": "application/json"})
        self.http = PrometheusHTTP(http_client, secrets=secrets, max_attempts=settings.max_attempts,
                                   max_response_bytes=settings.max_response_bytes, auth_hint=hint)

    def query(self, request: QueryRequest) -> Evidence:
        """Parse the query, call the matching endpoint and describe what came back."""
        builder = EvidenceBuilder(self, request)
        try:
            parsed = parse_query(request.query)
            return self._run(builder, parsed, request)
        except QueryRefused as exc:
            return builder.error(f"refused: {exc}")
        except PrometheusAPIError as exc:
            return builder.error(str(exc))

    def _run(self, builder: EvidenceBuilder, parsed: PromQuery, request: QueryRequest) -> Evidence:
        if parsed.command == "range":
            return self._range(builder, parsed, request)
        if parsed.command == "instant":
            return self._instant(builder, parsed, request)
        window = self._window(request)
        if parsed.command == "series":
            params = {"match[]": parsed.expr, **window, "limit": str(request.limit + 1)}
            found = series_rows(self.http.get("/api/v1/series", params).data or [])
            summary = f"series {parsed.expr}: {len(found)} in the window"
            return builder.ok(found, _listing(summary, [series_key(row) for row in found]),
                              link=graph_link(self.ui_url, parsed.expr, end=request.end))
        if parsed.command in ("labels", "label_values"):
            return self._labels(builder, parsed, window, request.limit)
        if parsed.command == "rules":
            groups = (self.http.get("/api/v1/rules").data or {}).get("groups", [])
            rules = rule_rows(groups, parsed.filters)
            return builder.ok(rules, rules_summary(rules), link=f"{self.ui_url}/rules")
        answer = self.http.get("/api/v1/alerts").data or {}
        alerts = alert_rows(answer.get("alerts", []), parsed.filters)
        return builder.ok(alerts, alerts_summary(alerts), link=f"{self.ui_url}/alerts")

    def _range(self, builder: EvidenceBuilder, parsed: PromQuery, request: QueryRequest) -> Evidence:
        span = (request.end - request.start).total_seconds()
        cap = min(self.settings.max_points, request.limit)
        step = choose_step(span, cap, self.settings.default_step_seconds, parsed.step)
        params = {"query": parsed.expr, **self._window(request), "step": f"{step:g}",
                  "timeout": self._server_timeout()}
        answer = self.http.get("/api/v1/query_range", params)
        points = _points(answer)
        notes = _notes(answer.warnings, points.skipped)
        if parsed.step is not None and step > parsed.step:
            notes.append(f"step raised from {parsed.step:g}s to keep at most {cap} points per series")
        shown = format_duration(step) if step.is_integer() else f"{step:g}s"
        head = f"range query {parsed.expr}, step {shown}"
        link = graph_link(self.ui_url, parsed.expr, end=request.end, window=span, step=step)
        return builder.ok(points.rows, points_summary(head, points, notes), link=link)

    def _instant(self, builder: EvidenceBuilder, parsed: PromQuery, request: QueryRequest) -> Evidence:
        params = {"query": parsed.expr, "time": _stamp(request.end), "timeout": self._server_timeout()}
        answer = self.http.get("/api/v1/query", params)
        points = _points(answer)
        head = f"instant query {parsed.expr} at {request.end.isoformat()}"
        link = graph_link(self.ui_url, parsed.expr, end=request.end)
        summary = points_summary(head, points, _notes(answer.warnings, points.skipped))
        return builder.ok(points.rows, summary, link=link)

    def _labels(self, builder: EvidenceBuilder, parsed: PromQuery, window: dict[str, str],
                limit: int) -> Evidence:
        params: dict[str, str] = {**window, "limit": str(limit + 1)}
        if parsed.expr:
            params["match[]"] = parsed.expr
        if parsed.command == "labels":
            names = self.http.get("/api/v1/labels", params).data or []
            rows = [{"label": name} for name in names]
            head = f"label names{' of ' + parsed.expr if parsed.expr else ''}: {len(rows)}"
            return builder.ok(rows, _listing(head, names))
        values = self.http.get(f"/api/v1/label/{parsed.label}/values", params).data or []
        rows = [{"label": parsed.label, "label_value": value} for value in values]
        head = f"values of {parsed.label}{' in ' + parsed.expr if parsed.expr else ''}: {len(rows)}"
        return builder.ok(rows, _listing(head, values))

    def check(self) -> ConnectorCheck:
        """Reach the server, run one read, and find out from its flags whether it accepts writes."""
        try:
            build = self.http.get("/api/v1/status/buildinfo").data or {}
            self.http.get("/api/v1/query", {"query": "vector(1)"})
        except PrometheusAPIError as exc:
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                                  can_write=None, details=[str(exc)])
        details = [f"{self.base_url}: Prometheus {build.get('version', '?')} answered; "
                   "instant queries are readable"]
        for path in ("/api/v1/rules", "/api/v1/alerts"):
            try:
                self.http.get(path)
            except PrometheusAPIError as exc:
                details.append(f"{path} is not readable: {exc}")
        can_write = self._can_write(details)
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True,
                              can_write=can_write, details=details)

    def _can_write(self, details: list[str]) -> bool | None:
        try:
            flags: dict[str, Any] = self.http.get("/api/v1/status/flags").data or {}
        except PrometheusAPIError as exc:
            details.append(f"cannot read /api/v1/status/flags, so cannot tell whether the admin API "
                           f"or a write receiver is enabled: {exc}")
            return None
        features = {f.strip() for f in str(flags.get("enable-feature", "")).split(",")}
        opened = {what for flag, what in _WRITE_FLAGS.items() if str(flags.get(flag)) == "true"}
        opened |= {what for feature, what in _WRITE_FEATURES.items() if feature in features}
        if str(flags.get("web.enable-lifecycle")) == "true":
            details.append("note: --web.enable-lifecycle is on: POST /-/reload and /-/quit are open "
                           "to anyone reaching this URL (they change no data)")
        if not opened:
            details.append(NO_WRITE_DETAIL)
            details.append("admin API, remote-write and OTLP receivers are disabled (from "
                           "/api/v1/status/flags)")
            return False
        details += [f"this server exposes {what}: requests through these credentials could change "
                    "stored data; put a proxy that only allows GET /api/v1/query* , /series, "
                    "/labels, /label/*, /rules, /alerts in front" for what in sorted(opened)]
        return True

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def _window(self, request: QueryRequest) -> dict[str, str]:
        return {"start": _stamp(request.start), "end": _stamp(request.end)}

    def _server_timeout(self) -> str:
        # a little under the HTTP timeout, so Prometheus cancels the evaluation and says so
        # before the client gives up with a bare read timeout
        return f"{self.settings.timeout_seconds * 0.9:g}s"


def _auth(settings: PrometheusSettings) -> tuple[httpx.Auth | None, tuple[SecretStr, ...], str]:
    if settings.bearer_token is not None:
        token = settings.bearer_token.resolve()
        return BearerAuth(token), (token,), f"bearer token from {settings.bearer_token.describe()}"
    if settings.basic_auth is not None:
        password = settings.basic_auth.password.resolve()
        hint = (f"basic auth as {settings.basic_auth.username!r}, password from "
                f"{settings.basic_auth.password.describe()}")
        return (httpx.BasicAuth(settings.basic_auth.username, password.get_secret_value()),
                (password,), hint)
    return None, (), "no credentials configured"


def _tls(settings: PrometheusSettings) -> ssl.SSLContext | bool:
    if settings.ca_file is None:
        return settings.verify_tls
    try:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConnectorConfigError(f"cannot load ca_file {settings.ca_file}: {exc}") from exc


def _stamp(when: datetime) -> str:
    return f"{when.timestamp():.3f}"


def _points(answer: APIResult) -> Points:
    data = answer.data
    try:
        return result_points(data["resultType"], data["result"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # a proxy or an incompatible server answered "success" with another shape
        raise PrometheusAPIError(f"prometheus answered a query result this connector cannot read "
                                 f"({type(exc).__name__}: {exc}): {str(data)[:200]}") from None


def _notes(warnings: list[str], skipped: int) -> list[str]:
    notes = list(warnings)
    if skipped:
        notes.append(f"{skipped} native-histogram samples not shown (use histogram_count(), "
                     "histogram_sum() or histogram_quantile())")
    return notes


def _listing(head: str, items: list[str]) -> str:
    shown = ", ".join(str(item) for item in items[:20])
    return f"{head}; {shown}{' …' if len(items) > 20 else ''}" if items else head
