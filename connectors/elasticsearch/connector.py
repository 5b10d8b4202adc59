"""Logs in Elasticsearch (8, 9) or OpenSearch, through the official client, search-only.

Read-only twice: the connector calls only `_search`, `_count` and `_field_caps` (plus `GET /` and
`_has_privileges` in `check()`), over an index allowlist, and refuses scripts; the backend should
add an API key or role limited to `read` and `view_index_metadata` on those indices (see README).
The query language is described in `es_dsl`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import (
    ConnectorCheck,
    ConnectorConfigError,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.elasticsearch.client import (
    Compatibility,
    build_client,
    describe_error,
    is_transient,
    retry_after,
)
from connectors.elasticsearch.dsl import FieldNames, check_indices, parse_query
from connectors.elasticsearch.links import UiKind, discover_link
from connectors.elasticsearch.requests import Limits, ReadRequest, build_request
from connectors.elasticsearch.results import render
from connectors.elasticsearch.rights import probe_privileges
from connectors.elasticsearch.sampled import samplable, search_capped
from connectors.retry import call_with_retries
from connectors.secrets import SecretRef

T = TypeVar("T")


class ElasticsearchSettings(BaseModel):
    """`type: elasticsearch` — a cluster, credentials by reference, and the indices it may read."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["elasticsearch"] = "elasticsearch"
    hosts: list[str] = Field(min_length=1)
    indices: list[str] = Field(min_length=1, description="allowlist of index names / patterns")
    api_key: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_certs: Path | None = None  # PEM bundle; relative to triage.yaml's directory
    verify_certs: bool = True
    compatibility: Compatibility = "elasticsearch9"
    timestamp_field: str = "@timestamp"
    message_field: str = "message"
    message_keyword_field: str | None = None  # for `top:`; default: `<message_field>.keyword`
    level_field: str = "log.level"
    service_field: str = "service.name"
    max_hits: int = Field(default=500, ge=1, le=10_000)
    max_buckets: int = Field(default=500, ge=1, le=10_000)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10)  # per call, for transient errors only
    ui_url: str | None = None
    ui_kind: UiKind = "kibana"
    ui_data_view: str | None = None

    @field_validator("hosts")
    @classmethod
    def _no_inline_credentials(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "@" in host.split("//", 1)[-1].split("/", 1)[0]:
                raise ValueError("put credentials in api_key or username/password, not in the host URL")
        return hosts

    @field_validator("indices")
    @classmethod
    def _plain_patterns(cls, indices: list[str]) -> list[str]:
        for pattern in indices:
            try:
                check_indices([pattern], ["*"])
            except QueryRefused as exc:
                raise ValueError(f"bad index pattern {pattern!r}: give plain names or patterns, one per "
                                 "entry, without exclusions, remote clusters or date math") from exc
        return indices

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticsearchSettings:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("give either api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class ElasticsearchConnector:
    """Searches, counts and aggregates logs over the request's time range."""

    kind = EvidenceKind.LOGS
    settings_model = ElasticsearchSettings

    def __init__(
        self, name: str, settings: ElasticsearchSettings, client: Elasticsearch | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self._client = client
        self._names = FieldNames(
            timestamp=settings.timestamp_field,
            message=settings.message_field,
            message_keyword=settings.message_keyword_field or f"{settings.message_field}.keyword",
            level=settings.level_field,
            service=settings.service_field,
        )
        self._limits = Limits(settings.max_hits, settings.max_buckets, settings.request_timeout_seconds)

    def _secrets(self) -> list[SecretStr | str | None]:
        """Every credential value (and the Basic token built from it), for scrubbing messages."""
        found: list[SecretStr | str | None] = []
        for ref in (self.settings.api_key, self.settings.password):
            if ref is None:
                continue
            try:
                value = ref.resolve()
            except ConnectorConfigError:
                continue  # unresolvable: it was never sent, so it cannot be echoed
            found.append(value)
            if ref is self.settings.password and self.settings.username:
                pair = f"{self.settings.username}:{value.get_secret_value()}"
                found.append(base64.b64encode(pair.encode()).decode())
        return found

    def client(self) -> Elasticsearch:
        """The client, built on first use (so a missing secret is reported, not raised at load)."""
        if self._client is None:
            settings = self.settings
            self._client = build_client(
                settings.hosts,
                compatibility=settings.compatibility,
                timeout=settings.request_timeout_seconds,
                api_key=settings.api_key.resolve() if settings.api_key else None,
                basic_auth=((settings.username, settings.password.resolve())
                            if settings.username and settings.password else None),
                ca_certs=str(settings.ca_certs) if settings.ca_certs else None,
                verify_certs=settings.verify_certs,
            )
        return self._client

    def query(self, request: QueryRequest) -> Evidence:
        """Run one read; refusals and backend errors come back as error Evidence."""
        builder = EvidenceBuilder(self, request)
        try:
            plan = parse_query(request.query, self._names, self.settings.indices)
            sent = build_request(plan, self._names, self._limits, request.start, request.end,
                                 request.limit)
        except QueryRefused as exc:
            return builder.error(f"refused: {exc}")
        link = None
        if self.settings.ui_url and plan.verb != "fields":
            link = discover_link(self.settings.ui_url, self.settings.ui_kind, request.start, request.end,
                                 plan.kql, self.settings.ui_data_view)
        tried = [sent]
        try:
            client = self.client()
            if samplable(plan, request.start, request.end):
                def send(read: ReadRequest) -> dict[str, Any]:
                    tried.append(read)
                    return self._retrying(lambda: self._send(client, read))

                cap = min(request.limit, self.settings.max_hits)
                rows, summary, sampling = search_capped(send, plan, self._names, self._limits, request, cap)
                return builder.ok(rows, summary, link=link, sampling=sampling)
            response = self._retrying(lambda: self._send(client, sent))
        except ConnectorConfigError as exc:
            return builder.error(str(exc))
        except (ApiError, TransportError) as exc:
            return builder.error(describe_error(exc, tried[-1].describe(), *self._secrets()))
        rendered = render(plan, sent, response, self._names)
        return builder.ok(rendered.rows, rendered.summary, total=rendered.total, link=link)

    def _retrying(self, call: Callable[[], T]) -> T:
        """Run one API call, retrying transient failures (honouring Retry-After)."""
        return call_with_retries(call, is_transient=is_transient, retry_after=retry_after,
                                 attempts=self.settings.max_attempts)

    def _send(self, client: Elasticsearch, sent: ReadRequest) -> dict[str, Any]:
        """The one API call, exactly as `sent.describe()` says; only read endpoints exist here.

        The body goes out verbatim (no client-side rewriting of keys), and field_caps takes
        `fields` as a URL parameter, which Elasticsearch 8 / 9 and OpenSearch all accept.
        """
        headers = {"accept": "application/json"}
        if sent.body:
            headers["content-type"] = "application/json"
        answer = client.perform_request(sent.method, sent.path, params=sent.params or None,
                                        body=sent.body or None, headers=headers)
        return dict(answer.body)

    def check(self) -> ConnectorCheck:
        """Reach the cluster, read the allowed indices, and ask whether these credentials could write."""
        secrets = self._secrets()
        try:
            client = self.client()
            info = self._retrying(lambda: dict(client.info().body))
        except ConnectorConfigError as exc:
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False, can_write=None,
                                  details=[str(exc)])
        except (ApiError, TransportError) as exc:
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False, can_write=None,
                                  details=[describe_error(exc, "GET /", *secrets)])
        version = info.get("version") or {}
        details = [f"{info.get('cluster_name', '?')}: {version.get('distribution', 'elasticsearch')} "
                   f"{version.get('number', '?')} at {', '.join(self.settings.hosts)}"]
        indices = list(self.settings.indices)
        readable = True
        try:
            counted = self._retrying(lambda: dict(client.count(index=indices).body))
            details.append(f"read access: {counted.get('count', 0)} documents in {', '.join(indices)}")
        except (ApiError, TransportError) as exc:
            readable = False
            details.append("CANNOT READ the allowed indices: "
                           + describe_error(exc, f"POST /{','.join(indices)}/_count", *secrets))
        can_write, verdict = probe_privileges(client, indices, secrets, self.settings.max_attempts)
        details.append(verdict)
        details.append("the connector itself only calls _search, _count and _field_caps")
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=readable,
                              can_write=can_write, details=details)

    def close(self) -> None:
        """Close the client's connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
