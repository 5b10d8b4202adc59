"""Alertmanager webhook v4: one triage per firing alert, repeats deduped, optional auth."""

from __future__ import annotations

import base64

import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import compact, sample
from tests.intake.conftest import promoted
from triage.app import create_app
from triage.runtime import Runtime
from triage.store import alerts, investigations

FIRING = sample("alertmanager/firing.json")
RESOLVED = sample("alertmanager/resolved.json")


def test_each_firing_alert_starts_its_own_triage(client: TestClient, runtime: Runtime) -> None:
    response = client.post("/webhooks/alertmanager", content=compact(FIRING))
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    with runtime.store.transaction() as conn:
        rows = conn.execute(sa.select(alerts).order_by(alerts.c.title)).all()
    first = FIRING["alerts"][0]
    stored = next(r for r in rows if r.external_id == first["fingerprint"])
    assert stored.service == "checkout"  # via the `service` label
    assert stored.labels == first["labels"]
    assert stored.title.startswith(first["labels"]["alertname"])
    assert stored.dedup_key.startswith(first["fingerprint"] + "@")
    assert {link["title"] for link in stored.links} >= {"Prometheus expression", "Alertmanager"}


def test_repeat_notification_is_a_duplicate(client: TestClient, runtime: Runtime) -> None:
    first = client.post("/webhooks/alertmanager", content=compact(FIRING)).json()["results"]
    again = client.post("/webhooks/alertmanager", content=compact(FIRING)).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert ([(r["investigation_id"], r["report_url"]) for r in again]
            == [(r["investigation_id"], r["report_url"]) for r in first])
    promoted(runtime)
    with runtime.store.transaction() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(investigations)).scalar() == 2


def test_resolved_alert_updates_status(client: TestClient, runtime: Runtime) -> None:
    client.post("/webhooks/alertmanager", content=compact(FIRING))
    results = client.post("/webhooks/alertmanager", content=compact(RESOLVED)).json()["results"]
    assert [r["status"] for r in results] == ["resolved"]
    fingerprint = RESOLVED["alerts"][0]["fingerprint"]
    with runtime.store.transaction() as conn:
        statuses = dict(conn.execute(sa.select(alerts.c.external_id, alerts.c.status)).all())
    assert statuses[fingerprint] == "resolved"
    assert list(statuses.values()).count("firing") == 1


def test_wrong_version_is_400(client: TestClient) -> None:
    payload = {**FIRING, "version": "3"}
    response = client.post("/webhooks/alertmanager", content=compact(payload))
    assert response.status_code == 400
    assert response.json()["field"] == "version"


def test_alert_without_fingerprint_is_400_naming_it(client: TestClient) -> None:
    payload = sample("alertmanager/firing.json")
    del payload["alerts"][1]["fingerprint"]
    response = client.post("/webhooks/alertmanager", content=compact(payload))
    assert response.status_code == 400
    assert response.json()["field"] == "alerts.1.fingerprint"


def test_bearer_auth_when_configured(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"alertmanager_bearer_token": SecretStr("am-token")})
    with TestClient(create_app(runtime)) as client:
        body = compact(FIRING)
        assert client.post("/webhooks/alertmanager", content=body).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert client.post("/webhooks/alertmanager", content=body, headers=wrong).status_code == 401
        right = {"authorization": "Bearer am-token"}
        assert client.post("/webhooks/alertmanager", content=body, headers=right).status_code == 202


def test_basic_auth_when_configured(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"alertmanager_basic_auth": SecretStr("am:pw")})
    encoded = base64.b64encode(b"am:pw").decode()
    with TestClient(create_app(runtime)) as client:
        body = compact(FIRING)
        bad = {"authorization": "Basic " + base64.b64encode(b"am:no").decode()}
        assert client.post("/webhooks/alertmanager", content=body, headers=bad).status_code == 401
        garbage = {"authorization": "Basic !!!"}
        response = client.post("/webhooks/alertmanager", content=body, headers=garbage)
        assert response.status_code == 401
        assert "not base64" in response.json()["error"]
        good = {"authorization": f"Basic {encoded}"}
        assert client.post("/webhooks/alertmanager", content=body, headers=good).status_code == 202
