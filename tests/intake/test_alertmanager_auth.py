"""Alertmanager intake is closed until it has credentials or is explicitly opened."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import compact, sample
from triage.app import create_app
from triage.intake.alertmanager import auth_status
from triage.runtime import Runtime
from triage.store import alerts

FIRING = compact(sample("alertmanager/firing.json"))


def _stored(runtime: Runtime) -> int:
    with runtime.store.read() as conn:
        return len(conn.execute(sa.select(alerts)).all())


def test_without_credentials_or_an_explicit_opening_every_delivery_is_refused(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"alertmanager_open": False})
    with TestClient(create_app(runtime)) as client:
        response = client.post("/webhooks/alertmanager", content=FIRING)
        with_some_token = client.post("/webhooks/alertmanager", content=FIRING,
                                      headers={"authorization": "Bearer anything"})
    assert response.status_code == with_some_token.status_code == 401
    assert "TRIAGE_ALERTMANAGER_BEARER_TOKEN" in response.json()["error"]
    assert _stored(runtime) == 0
    assert auth_status(runtime.settings).startswith("Alertmanager intake: disabled")


def test_opened_explicitly_it_accepts_and_says_it_is_open(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"alertmanager_open": True})
    with TestClient(create_app(runtime)) as client:
        assert client.post("/webhooks/alertmanager", content=FIRING).status_code == 202
    assert _stored(runtime) == 2
    assert "OPEN" in auth_status(runtime.settings)


def test_a_token_wins_over_the_opening(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"alertmanager_open": True, "alertmanager_bearer_token": SecretStr("am-token")})
    with TestClient(create_app(runtime)) as client:
        assert client.post("/webhooks/alertmanager", content=FIRING).status_code == 401
    assert auth_status(runtime.settings) == "Alertmanager intake: enabled (bearer token)"
