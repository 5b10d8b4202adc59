"""Datadog monitor webhook with the README's payload template."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import DD_TOKEN, compact, sample
from triage.intake.datadog import parse_tags
from triage.runtime import Runtime
from triage.store import alerts

TRIGGERED = sample("datadog/triggered.json")
RECOVERED = sample("datadog/recovered.json")
AUTH = {"authorization": f"Bearer {DD_TOKEN}"}


def test_triggered_monitor_is_normalised(client: TestClient, runtime: Runtime) -> None:
    response = client.post("/webhooks/datadog", content=compact(TRIGGERED), headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["results"][0]["status"] == "accepted"
    with runtime.store.transaction() as conn:
        row = conn.execute(sa.select(alerts)).one()
    assert row.service == "checkout"
    assert row.severity == "critical"
    assert row.labels["env"] == "prod"
    assert row.labels["monitor_id"] == TRIGGERED["alert_id"]
    assert row.dedup_key == f"{TRIGGERED['alert_id']}:{TRIGGERED['alert_cycle_key']}"
    assert row.started_at == datetime.fromtimestamp(int(TRIGGERED["date"]) / 1000, tz=UTC)


def test_recovery_resolves_the_same_cycle(client: TestClient, runtime: Runtime) -> None:
    client.post("/webhooks/datadog", content=compact(TRIGGERED), headers=AUTH)
    answer = client.post("/webhooks/datadog", content=compact(RECOVERED), headers=AUTH).json()
    assert answer["results"][0]["status"] == "resolved"
    with runtime.store.transaction() as conn:
        assert conn.execute(sa.select(alerts.c.status)).scalar_one() == "resolved"


def test_token_is_required(client: TestClient) -> None:
    body = compact(TRIGGERED)
    missing = client.post("/webhooks/datadog", content=body)
    assert missing.status_code == 401
    assert missing.json()["error"] == "missing Authorization header"
    wrong = client.post("/webhooks/datadog", content=body, headers={"authorization": "Bearer x"})
    assert wrong.status_code == 401


def test_untriggering_transition_is_ignored(client: TestClient) -> None:
    payload = {**TRIGGERED, "alert_transition": "Muted"}
    answer = client.post("/webhooks/datadog", content=compact(payload), headers=AUTH).json()
    assert answer["results"][0]["status"] == "ignored"


def test_non_numeric_date_is_400(client: TestClient) -> None:
    payload = {**TRIGGERED, "date": "$DATE"}
    response = client.post("/webhooks/datadog", content=compact(payload), headers=AUTH)
    assert response.status_code == 400
    assert response.json()["field"] == "date"


def test_tags_parse() -> None:
    assert parse_tags("monitor, service:checkout, env:prod") == {
        "monitor": "", "service": "checkout", "env": "prod"}
