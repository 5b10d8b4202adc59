"""Secrets in an alert are neither echoed in the 202 nor kept in the store (issue 11), while
dedupe and resolution still match (an id the redactor would change is kept as a hash)."""

from __future__ import annotations

import copy
import json

import sqlalchemy as sa

from tests.conftest import sample
from tests.intake.conftest import Intake, unique
from triage.store import alerts, deliveries

GITHUB_TOKEN = "ghp_" + "a1B2c3D4" * 4 + "e5F6"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def test_the_reply_and_the_stored_alert_hold_no_secret(intake: Intake) -> None:
    payload = sample("alertmanager/firing.json")
    first = payload["alerts"][0]
    first["fingerprint"] = unique("fp")
    first["annotations"]["summary"] = f"deploy failed with token {GITHUB_TOKEN}"
    first["labels"]["credentials"] = f"key={AWS_KEY}"
    first["generatorURL"] = f"http://prom.example/graph?token={GITHUB_TOKEN}"
    payload["alerts"] = [first]
    response = intake.alertmanager(payload)
    assert response.status_code == 202, response.text
    assert GITHUB_TOKEN not in response.text
    assert "[redacted:github-token]" in response.json()["results"][0]["reason"]
    with intake.runtime.store.read() as conn:
        row = conn.execute(sa.select(alerts).where(
            alerts.c.external_id == first["fingerprint"])).one()
    at_rest = json.dumps([row.title, row.labels, row.links, row.payload])
    assert GITHUB_TOKEN not in at_rest and AWS_KEY not in at_rest
    assert row.title.endswith("deploy failed with token [redacted:github-token]")
    assert row.service == "checkout"  # mapped on the raw labels, before redaction


def test_a_secret_shaped_id_is_stored_hashed_and_still_dedupes_and_resolves(
        intake: Intake) -> None:
    firing = sample("alertmanager/firing.json")
    firing["alerts"] = [firing["alerts"][0] | {"fingerprint": f"{GITHUB_TOKEN}{unique('')}"}]
    assert intake.alertmanager(firing).json()["results"][0]["status"] == "accepted"
    again = intake.alertmanager(firing).json()["results"][0]
    assert again["status"] == "duplicate"
    assert GITHUB_TOKEN not in json.dumps(again)
    resolved = copy.deepcopy(firing)
    resolved["alerts"][0]["status"] = "resolved"
    assert intake.alertmanager(resolved).json()["results"][0]["status"] == "resolved"
    with intake.runtime.store.read() as conn:
        keys = [*conn.execute(sa.select(alerts.c.dedup_key, alerts.c.external_id)).all(),
                *conn.execute(sa.select(deliveries.c.delivery_key)).all()]
    assert not any(GITHUB_TOKEN in (value or "") for row in keys for value in row)
    assert any(row[0].startswith("sha256:") for row in keys)


def test_text_and_payload_are_stored_exactly_whatever_their_characters(intake: Intake) -> None:
    # PostgreSQL takes a batch as one JSON document (json_populate_recordset): escapes, quotes,
    # non-ASCII and astral characters must come back as they were sent, on both stores.
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["id"] = unique("chars-")
    data = payload["event"]["data"]
    data["id"] = unique("PCHARS")
    data["title"] = "Café ☕ 😀 back\\slash \"quoted\" 'single' \t tab, ünïcödé"
    data["extra"] = {"nested": ["é", 1.5, None, True, {"k": "😀", "": []}]}
    response = intake.pagerduty(json.dumps(payload, ensure_ascii=False).encode())
    assert response.status_code == 202, response.text
    with intake.runtime.store.read() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.external_id == data["id"])).one()
    assert row.title == data["title"]
    stored = row.payload["event"]["data"]  # (the sample's phone number is redacted)
    assert (stored["title"], stored["extra"]) == (data["title"], data["extra"])
    assert row.received_at.tzinfo is not None and row.started_at.isoformat().startswith(
        "2020-04-09T15:16:27")
