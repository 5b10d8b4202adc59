"""Intake tests that must hold on both stores: one app per store and module, signed senders."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response  # what Starlette's TestClient answers with
from pydantic import SecretStr

from tests.conftest import CHECKOUT_CONFIG, DD_TOKEN, make_settings, pd_headers
from tests.waiting import wait_for
from triage.app import create_app
from triage.config import parse_config
from triage.intake import records
from triage.runtime import Runtime

STORES = [pytest.param("sqlite", id="sqlite"),
          pytest.param("postgresql", id="postgresql", marks=pytest.mark.slow)]
AM_TOKEN = "am-token"
_unique = itertools.count(1)


def promoted(runtime: Runtime) -> None:
    """Wait until every accepted alert has its investigation (created after the 202 by the
    background step)."""

    def settled() -> bool:
        with runtime.store.read() as conn:
            return records.oldest_pending(conn) is None

    wait_for(settled, what="accepted alerts to get their investigations")


def unique(prefix: str) -> str:
    """An id no other delivery of this test session uses (dedupe must not hide a code path)."""
    return f"{prefix}{next(_unique)}"


@dataclass
class Intake:
    """The real app over one store, with helpers that send each source's deliveries."""

    store: str
    runtime: Runtime
    client: TestClient

    def pagerduty(self, body: bytes | dict[str, Any],
                  headers: dict[str, str] | None = None) -> Response:
        """A delivery signed with the configured secret."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = pd_headers(raw, webhook_id=unique("wh-")) | (headers or {})
        return self.client.post("/webhooks/pagerduty", content=raw, headers=sent)

    def alertmanager(self, body: bytes | dict[str, Any]) -> Response:
        """A delivery with the configured bearer token."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post("/webhooks/alertmanager", content=raw,
                                headers={"authorization": f"Bearer {AM_TOKEN}",
                                         "content-type": "application/json"})

    def datadog(self, body: bytes | dict[str, Any]) -> Response:
        """A delivery with the configured bearer token."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post("/webhooks/datadog", content=raw,
                                headers={"authorization": f"Bearer {DD_TOKEN}",
                                         "content-type": "application/json"})

    def answers(self) -> bool:
        """The server still answers: liveness and a store read."""
        return (self.client.get("/healthz").status_code == 200
                and self.client.get("/api/investigations?limit=1").status_code == 200)


@pytest.fixture(scope="module", params=STORES)
def intake(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """The app over a fresh SQLite file or a fresh PostgreSQL database (API only, no worker)."""
    tmp = tmp_path_factory.mktemp(request.param)
    overrides: dict[str, Any] = {"alertmanager_bearer_token": SecretStr(AM_TOKEN)}
    if request.param == "postgresql":
        from tests.postgres import fresh_database

        dsn = request.getfixturevalue("postgres_dsn")
        overrides["database_url"] = fresh_database(dsn, f"intake_{uuid.uuid4().hex[:8]}")
    runtime = Runtime.from_settings(make_settings(tmp, **overrides),
                                    parse_config(CHECKOUT_CONFIG, tmp, "test"))
    with TestClient(create_app(runtime)) as client:
        yield Intake(request.param, runtime, client)
    runtime.close()
