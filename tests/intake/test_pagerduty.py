"""PagerDuty Webhooks V3 intake: signatures, dedupe, normalisation, refusals that lose nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import PD_SECRET, compact, pd_headers, sample
from tests.intake.conftest import promoted
from triage.intake.pagerduty import sign
from triage.runtime import Runtime
from triage.store import alerts, deliveries, investigations

TRIGGERED = sample("pagerduty/incident_triggered.json")


def count(runtime: Runtime, table: sa.Table) -> int:
    with runtime.store.transaction() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def workflows(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.store.transaction() as conn:
        rows = conn.execute(sa.text(
            "SELECT workflow_uuid, status, queue_partition_key FROM workflow_status"))
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_signed_trigger_is_persisted_and_enqueued(client: TestClient, runtime: Runtime) -> None:
    body = compact(TRIGGERED)
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 202
    result = response.json()["results"][0]
    assert result["status"] == "accepted"
    assert result["report_url"] == f"http://triage.test/reports/{result['investigation_id']}"
    promoted(runtime)
    with runtime.store.transaction() as conn:
        alert = conn.execute(sa.select(alerts)).one()
        investigation = conn.execute(sa.select(investigations)).one()
    assert alert.title == "A little bump in the road"
    assert alert.service == "checkout"
    assert alert.external_id == "PGR0VU2"
    assert alert.labels["pagerduty_service_id"] == "PF9KMXH"
    # stored redacted: the sample's conference bridge number is personal data
    assert "1234123412" not in str(alert.payload)
    assert alert.payload == runtime.redactor.redact_value(TRIGGERED)
    assert investigation.state == "queued"
    assert investigation.id == alert.investigation_id == result["investigation_id"]
    assert workflows(runtime) == [(result["investigation_id"], "ENQUEUED", "checkout")]


def test_rotated_secret_and_multiple_signatures_pass(runtime: Runtime) -> None:
    from pydantic import SecretStr

    from triage.app import create_app

    runtime.settings = runtime.settings.model_copy(
        update={"pagerduty_webhook_secrets": [SecretStr("old"), SecretStr(PD_SECRET)]})
    body = compact(TRIGGERED)
    header = f"{sign(body, 'unrelated')},{sign(body, 'old')}"
    with TestClient(create_app(runtime)) as client:
        response = client.post("/webhooks/pagerduty", content=body,
                               headers={"x-pagerduty-signature": header})
    assert response.status_code == 202, response.text


def test_tampered_body_is_401_and_nothing_is_stored(client: TestClient, runtime: Runtime) -> None:
    body = compact(TRIGGERED)
    headers = pd_headers(body)
    tampered = body.replace(b"A little bump", b"A large bump")
    response = client.post("/webhooks/pagerduty", content=tampered, headers=headers)
    assert response.status_code == 401
    assert "does not match" in response.json()["error"]
    assert count(runtime, alerts) == count(runtime, deliveries) == 0


def test_wrong_secret_is_401(client: TestClient) -> None:
    body = compact(TRIGGERED)
    response = client.post("/webhooks/pagerduty", content=body,
                           headers=pd_headers(body, secret="guess"))
    assert response.status_code == 401


def test_missing_signature_is_400(client: TestClient) -> None:
    response = client.post("/webhooks/pagerduty", content=compact(TRIGGERED))
    assert response.status_code == 400
    assert response.json()["error"] == "missing X-PagerDuty-Signature header"


def test_malformed_signature_is_400(client: TestClient) -> None:
    for header in ("sha256=abc", "v1=nothex", "v1=" + "a" * 63, "v1=,"):
        response = client.post("/webhooks/pagerduty", content=compact(TRIGGERED),
                               headers={"x-pagerduty-signature": header})
        assert response.status_code == 400, header
        assert "malformed X-PagerDuty-Signature" in response.json()["error"]


def test_same_delivery_five_times_makes_one_investigation(client: TestClient,
                                                          runtime: Runtime) -> None:
    body = compact(TRIGGERED)
    answers = [client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
               for _ in range(5)]
    assert [a["results"][0]["status"] for a in answers] == ["accepted"] + ["duplicate"] * 4
    # every reply names the one investigation, with its report link
    first = answers[0]["results"][0]
    assert {(a["results"][0]["investigation_id"], a["results"][0]["report_url"])
            for a in answers} == {(first["investigation_id"], first["report_url"])}
    promoted(runtime)
    assert count(runtime, investigations) == 1
    assert len(workflows(runtime)) == 1


def test_redelivery_under_a_new_webhook_id_is_deduped_by_event_id(client: TestClient,
                                                                  runtime: Runtime) -> None:
    body = compact(TRIGGERED)
    client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body, webhook_id="a"))
    again = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body, webhook_id="b"))
    assert again.json()["results"][0]["status"] == "duplicate"
    promoted(runtime)
    assert count(runtime, investigations) == 1


def test_new_event_for_the_same_incident_does_not_start_a_second_triage(
        client: TestClient, runtime: Runtime) -> None:
    first = compact(TRIGGERED)
    client.post("/webhooks/pagerduty", content=first, headers=pd_headers(first))
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["id"] = "another-event-id"
    second = compact(payload)
    answer = client.post("/webhooks/pagerduty", content=second,
                         headers=pd_headers(second, webhook_id="wh-2")).json()["results"][0]
    assert answer["status"] == "duplicate"
    assert "already being triaged" in answer["reason"]
    assert answer["report_url"] == f"http://triage.test/reports/{answer['investigation_id']}"
    promoted(runtime)
    assert count(runtime, investigations) == 1


def test_other_event_types_are_ignored_with_the_reason(client: TestClient,
                                                       runtime: Runtime) -> None:
    body = compact(sample("pagerduty/incident_acknowledged.json"))
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 202
    result = response.json()["results"][0]
    assert result["status"] == "ignored"
    assert "incident.acknowledged does not start triage" in result["reason"]
    assert count(runtime, alerts) == 0


def test_resolved_marks_the_alert_resolved(client: TestClient, runtime: Runtime) -> None:
    body = compact(TRIGGERED)
    client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    resolved = compact(sample("pagerduty/incident_resolved.json"))
    answer = client.post("/webhooks/pagerduty", content=resolved,
                         headers=pd_headers(resolved, webhook_id="wh-r")).json()["results"][0]
    assert answer["status"] == "resolved"
    with runtime.store.transaction() as conn:
        row = conn.execute(sa.select(alerts.c.status, alerts.c.resolved_at)).one()
    assert row.status == "resolved" and row.resolved_at is not None


def test_oversized_body_is_413(client: TestClient, runtime: Runtime) -> None:
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["data"]["title"] = "x" * 300_000
    body = compact(payload)
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 413
    assert "262144-byte limit" in response.json()["error"]
    assert count(runtime, alerts) == 0


def test_malformed_json_is_400_with_position(client: TestClient) -> None:
    body = b'{"event": {"id": '
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON: Expecting value at line 1")


def test_json_that_is_not_an_object_is_400(client: TestClient) -> None:
    body = b"[1, 2]"
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 400
    assert response.json()["error"] == "expected a JSON object, got list"


def test_wrongly_typed_field_is_400_naming_the_field(client: TestClient, runtime: Runtime) -> None:
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["data"]["created_at"] = "yesterday-ish"
    body = compact(payload)
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 400
    assert response.json()["field"] == "event.data.created_at"
    assert count(runtime, alerts) == count(runtime, deliveries) == 0


def test_missing_field_is_400_naming_the_field(client: TestClient) -> None:
    payload = sample("pagerduty/incident_triggered.json")
    del payload["event"]["data"]["service"]
    body = compact(payload)
    response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid payload: event.data.service: Field required"


def test_unconfigured_intake_is_503(tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from triage.app import create_app
    from triage.config import TriageConfig

    runtime = Runtime.from_settings(make_settings(tmp_path, pagerduty_webhook_secrets=[]),
                                    TriageConfig())
    with TestClient(create_app(runtime)) as client:
        response = client.post("/webhooks/pagerduty", content=b"{}")
    runtime.close()
    assert response.status_code == 503
    assert "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS" in response.json()["error"]
