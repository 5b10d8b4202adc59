"""PagerDuty (REST API v2, `pagerduty` library), read-only: an incident, its alerts, its timeline,
and the service's past incidents.

Query language (one verb and one PagerDuty ID per query)::

    incident: Q1ABCD2EFGH3IJ    the incident: status, urgency, priority, service, assignees (1 row)
    alerts: Q1ABCD2EFGH3IJ      its alerts, each alert's `body.details` custom fields as
                                `details.<field>` columns
    log: Q1ABCD2EFGH3IJ         its timeline (overview log entries) inside the time range
    history: PSERVICE1          incidents of that service created inside the time range, newest
                                first, grouped by title in the summary ("seen before?")

`incident` and `alerts` address one incident and ignore the time range; `log` and `history` are
limited to it. Read-only twice: the recommended key is a read-only REST key (PagerDuty answers 403
to anything but GET), and the client this connector builds refuses every method but GET.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import httpx2
import pagerduty
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.pagerduty.rows import (
    alert_row,
    alerts_summary,
    first_link,
    history_summary,
    incident_row,
    incident_summary,
    log_entry_row,
    log_summary,
)
from connectors.retry import call_with_retries, parse_retry_after
from connectors.secrets import SecretRef, scrub

_QUERY = re.compile(r"^\s*(?P<verb>[a-z_]+)\s*:\s*(?P<id>\S+)\s*$")
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")  # PagerDuty IDs; nothing that could change the URL path
_VERBS = {"incident": "incident", "alerts": "alerts", "log": "log", "log_entries": "log",
          "history": "history"}
USAGE = ("use one of `incident: ID`, `alerts: ID`, `log: ID` (incident ID) or "
         "`history: SERVICE_ID`")
# Roles whose user-level keys cannot change anything (PagerDuty's "stakeholder" roles).
READ_ONLY_ROLES = frozenset({"read_only_user", "read_only_limited_user"})


class PagerDutySettings(BaseModel):
    """`type: pagerduty` — a REST API key (read-only recommended) and where the API lives."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["pagerduty"] = "pagerduty"
    api_key: SecretRef
    auth_type: Literal["token", "bearer"] = Field(
        default="token", description="token: REST API key; bearer: OAuth access token")
    base_url: str = Field(default="https://api.pagerduty.com",
                          description="EU service region: https://api.eu.pagerduty.com")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    attempts: int = Field(default=4, ge=1, le=10, description="tries per call on transient errors")
    ca_bundle: Path | None = Field(default=None, description="PEM CA bundle (TLS-inspecting proxy)")

    @field_validator("base_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        """Refuse anything but https:// (and drop a trailing slash)."""
        # The library refuses anything else too; say so at load time, naming the setting.
        if not value.startswith("https://"):
            raise ValueError(f"base_url must be an https:// URL, not {value!r}")
        return value.rstrip("/")


class _GetOnlyClient(pagerduty.RestApiV2Client):
    """The library's REST client, allowed to send GET requests only."""

    @property
    def permitted_methods(self) -> tuple[str, ...]:
        """Only GET: a method that could write raises `pagerduty.Error` before anything is sent."""
        return ("GET",)


def parse_query(text: str) -> tuple[str, str]:
    """`verb: ID` to (verb, ID); raise `QueryRefused` naming what is wrong."""
    match = _QUERY.match(text)
    if not match or match["verb"] not in _VERBS:
        raise QueryRefused(f"refused: cannot read {text!r} as a PagerDuty query; {USAGE}")
    if not _ID.match(match["id"]):
        raise QueryRefused(f"refused: {match['id']!r} is not a PagerDuty ID (letters and digits only)")
    return _VERBS[match["verb"]], match["id"]


def _stamp(request: QueryRequest) -> dict[str, Any]:
    """The request's window as PagerDuty's `since` / `until` parameters."""
    return {"since": request.start.isoformat(), "until": request.end.isoformat(), "time_zone": "UTC"}


class PagerDutyConnector:
    """Reads incidents, alerts, timelines and incident history through the REST API v2."""

    kind = EvidenceKind.INCIDENTS
    settings_model = PagerDutySettings

    def __init__(self, name: str, settings: PagerDutySettings,
                 client: pagerduty.RestApiV2Client | None = None) -> None:
        self.name = name
        self.settings = settings
        self._secret = settings.api_key.resolve()
        self._client = client or self._build_client()

    def _build_client(self) -> pagerduty.RestApiV2Client:
        """The GET-only REST client with our timeout and the library's own retries turned off."""
        verify: ssl.SSLContext | bool = True
        if self.settings.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(self.settings.ca_bundle))
        client = _GetOnlyClient(self._secret.get_secret_value(), auth_type=self.settings.auth_type,
                                base_url=self.settings.base_url, verify=verify)
        client.timeout = self.settings.timeout_seconds  # type: ignore[assignment]  # typed int, used as httpx timeout
        # Retries are ours (bounded, honouring Retry-After): the library retries 429 forever with
        # its own back-off, so give 429 a per-status budget and a negative overall budget, which
        # makes it hand back the first 429; and hand back the first network error too.
        client.retry = {429: 1}
        client.max_http_attempts = -1
        client.max_network_attempts = 0
        return client

    # -- calls -------------------------------------------------------------------------------

    def _call(self, fetch: Callable[[], Any]) -> Any:
        """One call with bounded retries on transient errors only."""
        return call_with_retries(fetch, is_transient=is_transient, retry_after=retry_after_of,
                                 attempts=self.settings.attempts)

    def _list(self, path: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to `limit + 1` items of a paginated index (offset/limit/more) and the total, if told."""
        totals: list[Any] = []

        def fetch() -> list[dict[str, Any]]:
            totals.clear()
            pages: Iterator[dict[str, Any]] = self._client.iter_all(
                path, params=params, page_size=min(100, limit + 1), total=True,
                item_hook=lambda _item, _n, total: totals.append(total))
            return list(islice(pages, limit + 1))

        items: list[dict[str, Any]] = self._call(fetch)
        told = totals[-1] if totals and isinstance(totals[-1], int) else None
        return items, max(told or 0, len(items))

    # -- the Connector protocol ----------------------------------------------------------------

    def query(self, request: QueryRequest) -> Evidence:
        """Run one `verb: ID` query; refused or failed queries come back as error Evidence."""
        builder = EvidenceBuilder(self, request)
        try:
            verb, ident = parse_query(request.query)
        except QueryRefused as exc:
            return builder.error(str(exc))
        try:
            return self._run(builder, request, verb, ident)
        except pagerduty.Error as exc:  # not UrlError: a bad path is a programming error
            return builder.error(scrub(self._describe(exc, verb, ident), self._secret))

    def _run(self, builder: EvidenceBuilder, request: QueryRequest, verb: str, ident: str) -> Evidence:
        """Fetch what the verb names and shape it into Evidence."""
        if verb == "incident":
            incident = self._call(lambda: self._client.rget(f"/incidents/{ident}"))
            row = incident_row(incident)
            return builder.ok([row], incident_summary(row), link=row["html_url"])
        if verb == "alerts":
            items, total = self._list(f"/incidents/{ident}/alerts", {}, request.limit)
            rows = [alert_row(a) for a in items]
            summary = alerts_summary(rows, total) if rows else ""
            return builder.ok(rows, summary, total=total, link=first_link(items, "incident"))
        if verb == "log":
            overview = {**_stamp(request), "is_overview": "true"}
            items, total = self._list(f"/incidents/{ident}/log_entries", overview, request.limit)
            rows = [log_entry_row(e) for e in items]
            return builder.ok(rows, log_summary(rows, total) if rows else "", total=total,
                              link=first_link(items, "incident"))
        params = {**_stamp(request), "service_ids": [ident], "sort_by": "created_at:desc"}
        items, total = self._list("/incidents", params, request.limit)
        rows = [incident_row(i) for i in items]
        return builder.ok(rows, history_summary(rows, total) if rows else "", total=total,
                          link=first_link(items, "service"))

    def check(self) -> ConnectorCheck:
        """Read one incident; then ask who the key belongs to, to tell whether it could write."""
        details = [f"REST API at {self.settings.base_url}, {self.settings.auth_type} auth, "
                   f"key from {self.settings.api_key.describe()}"]
        try:
            self._call(lambda: self._client.jget("/incidents", params={"limit": 1}))
        except pagerduty.Error as exc:
            details.append(scrub(self._describe(exc, "check", "GET /incidents"), self._secret))
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                                  can_write=None, details=details)
        details.append("GET /incidents: read access works")
        try:
            can_write, why = self._write_access()
        except pagerduty.Error as exc:
            can_write, why = None, "could not ask whose key this is: " + scrub(
                self._describe(exc, "check", "GET /users/me"), self._secret)
        details.append(why)
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True,
                              can_write=can_write, details=details)

    def _write_access(self) -> tuple[bool | None, str]:
        """User-level keys name their user and role; general-access keys do not say."""
        try:
            user = self._call(lambda: self._client.rget("/users/me"))
        except pagerduty.HttpError as exc:
            if exc.response is not None and exc.response.status_code in (400, 403, 404):
                return None, ("this is a general-access (account) key or a scoped token: PagerDuty's "
                              "API does not reveal whether it is read-only. Create it with "
                              "'Read-only API Key' ticked; PagerDuty then answers 403 to any write")
            raise
        role = str(user.get("role", "?")) if isinstance(user, dict) else "?"
        who = user.get("summary") or user.get("name") if isinstance(user, dict) else None
        if role in READ_ONLY_ROLES:
            return False, f"user-level key of {who} with role {role}: cannot change anything"
        return True, (f"user-level key of {who} with role {role}: it can do whatever that user can "
                      "(acknowledge, resolve, reassign, add notes); use a read-only general-access key")

    def _describe(self, exc: pagerduty.Error, verb: str, ident: str) -> str:
        """The backend's own words for a failed call, with what was being asked."""
        what = f"{verb} {ident}"
        response = exc.response
        if response is None:
            cause = exc.__cause__
            if isinstance(cause, httpx2.TimeoutException):
                return (f"PagerDuty did not answer ({what}) within the {self.settings.timeout_seconds:g}s "
                        f"timeout, {self.settings.attempts} attempts")
            reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
            return f"cannot reach PagerDuty at {self.settings.base_url} ({what}): {reason}"
        status = response.status_code
        hint = {401: "the API key was rejected (invalid, revoked, or for another service region)",
                403: "the key may not read this (a restricted user or team, or a scoped token)",
                404: "no such object, or the key cannot see it",
                429: f"rate limited; gave up after {self.settings.attempts} attempts"}.get(status, "")
        request_line = f"{response.request.method} {response.request.url.path}"
        return (f"PagerDuty answered {status} to {request_line} ({what}): {pagerduty_error_text(response)}"
                + (f" — {hint}" if hint else ""))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def pagerduty_error_text(response: httpx2.Response) -> str:
    """PagerDuty's error object (`{"error": {"message", "code", "errors"}}`) as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:300]
    extra = "; ".join(str(e) for e in error.get("errors") or [])
    code = f" (code {error['code']})" if "code" in error else ""
    return f"{error.get('message', '')}{code}{': ' + extra if extra else ''}"


def is_transient(exc: BaseException) -> bool:
    """Rate limits, server errors and network errors are worth another try; nothing else is."""
    if not isinstance(exc, pagerduty.Error):
        return False
    if exc.response is None:
        return isinstance(exc.__cause__, httpx2.TransportError)
    return bool(exc.response.status_code == 429 or exc.response.status_code >= 500)


def retry_after_of(exc: BaseException) -> float | None:
    """`Retry-After`, else PagerDuty's `ratelimit-reset` (seconds until the window resets)."""
    response = exc.response if isinstance(exc, pagerduty.Error) else None
    if response is None:
        return None
    headers = response.headers
    return parse_retry_after(headers.get("retry-after") or headers.get("ratelimit-reset"))
