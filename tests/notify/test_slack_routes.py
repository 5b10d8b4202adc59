"""Slack's requests to `/slack/interactions` and `/slack/commands`: verified with the signing
secret (signed, tampered, stale, unsigned), then the buttons, the modal and `/triage`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.fakes.slack import FakeSlack
from tests.notify.slack_fixtures import SIGNING_SECRET, slack_settings
from triage import repository as repo
from triage.app import create_app
from triage.config import parse_config
from triage.runtime import Runtime
from triage.store import alerts, feedback, investigations

CONFIG = {"services": [{"name": "checkout", "match": {"labels": {"app": "checkout"}}}]}


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    """Slack's headers for `body`: v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")."""
    stamp = str(int(time.time()) if at is None else at)
    mac = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": f"v0={mac}",
            "content-type": "application/x-www-form-urlencoded"}


def command(text: str, trigger: str = "13345224609.738474920.8088930838d88f008e0") -> bytes:
    return urlencode({"command": "/triage", "text": text, "user_id": "U2147483697",
                      "user_name": "ada", "trigger_id": trigger,
                      "response_url": "https://hooks.slack.com/commands/1234/5678"}).encode()


def interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(action_id: str, investigation_id: str, action_ts: str = "1548426417.840180") -> bytes:
    return interaction({
        "type": "block_actions", "user": {"id": "U2147483697", "username": "ada"},
        "trigger_id": "12466734323.1395872398", "container": {"type": "message"},
        "actions": [{"action_id": action_id, "block_id": "b1", "value": investigation_id,
                     "type": "button", "action_ts": action_ts}]})


@pytest.fixture
def api(tmp_path: Path, slack: FakeSlack) -> Iterator[TestClient]:
    runtime = Runtime.from_settings(slack_settings(tmp_path, slack),
                                    parse_config(CONFIG, tmp_path, "test"))
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def _runtime(api: TestClient) -> Runtime:
    runtime: Runtime = api.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _start(api: TestClient, what: str = "checkout returns 502s", trigger: str = "1.1") -> str:
    body = command(f"investigate checkout {what}", trigger)
    answer = api.post("/slack/commands", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    text = answer.json()["text"]
    assert text.startswith("Investigation inv_"), text
    return str(text.split()[1])


def _feedback(api: TestClient) -> list[dict[str, Any]]:
    with _runtime(api).store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(feedback).order_by(feedback.c.id))]


@pytest.mark.parametrize(("headers", "error"), [
    (lambda b: signed(b, secret="not-the-secret"), "the Slack signature does not match"),
    # signed for another body: what a body changed in transit looks like
    (lambda b: signed(b.replace(b"checkout", b"payments")), "the Slack signature does not match"),
    (lambda b: signed(b, at=int(time.time()) - 6 * 60),
     "the request timestamp is more than 5 minutes off: replayed or stale"),
    (lambda b: signed(b, at=int(time.time()) + 6 * 60),
     "the request timestamp is more than 5 minutes off: replayed or stale"),
    (lambda b: {}, "missing X-Slack-Signature or X-Slack-Request-Timestamp"),
    (lambda b: signed(b) | {"x-slack-request-timestamp": "12a"},
     "missing X-Slack-Signature or X-Slack-Request-Timestamp"),
], ids=["wrong-secret", "tampered-body", "stale", "future", "unsigned", "bad-timestamp"])
def test_requests_that_do_not_verify_are_refused_with_401(api: TestClient, headers: Any,
                                                          error: str) -> None:
    body = command("investigate checkout checkout returns 502s")
    for path in ("/slack/commands", "/slack/interactions"):
        answer = api.post(path, content=body, headers=headers(body))
        assert (answer.status_code, answer.json()) == (401, {"error": error})
    with _runtime(api).store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(investigations)).scalar() == 0


def test_without_a_signing_secret_every_request_is_refused(tmp_path: Path, slack: FakeSlack) -> None:
    runtime = Runtime.from_settings(slack_settings(tmp_path, slack, slack_signing_secret=None))
    body = command("status checkout")
    with TestClient(create_app(runtime)) as client:
        answer = client.post("/slack/commands", content=body, headers=signed(body))
    runtime.close()
    assert answer.status_code == 401
    assert answer.json()["error"].endswith("TRIAGE_SLACK_SIGNING_SECRET is not set")


def test_triage_investigate_starts_an_investigation_mapped_to_the_service(api: TestClient) -> None:
    inv = _start(api)
    with _runtime(api).store.read() as conn:
        alert = repo.alert_of_investigation(conn, inv)
    assert (alert.source.value, alert.service, alert.title) == (
        "slack", "checkout", "checkout returns 502s")
    assert alert.labels["app"] == "checkout" and alert.labels["requested_by"] == "ada"
    for text, expected in [("investigate nowhere it broke",
                            "no service 'nowhere' in triage.yaml (configured: checkout)"),
                           ("investigate checkout", "Usage: `/triage status <service>`"),
                           ("frobnicate", "Usage: `/triage status <service>`")]:
        answer = api.post("/slack/commands", content=(body := command(text)), headers=signed(body))
        assert answer.json()["response_type"] == "ephemeral"
        assert answer.json()["text"].startswith(expected)


def test_triage_status_says_the_latest_investigation_and_its_link(api: TestClient) -> None:
    body = command("status checkout")
    assert api.post("/slack/commands", content=body, headers=signed(body)).json()["text"] == (
        "No investigation of checkout yet.")
    _start(api, "first", trigger="1.1")
    inv = _start(api, "second", trigger="1.2")
    text = api.post("/slack/commands", content=body, headers=signed(body)).json()["text"]
    assert text.startswith(f"checkout: {inv} (queued, started ")
    assert text.endswith(f"Report: http://triage.test/reports/{inv}")


def test_right_cause_records_who_said_so(api: TestClient) -> None:
    inv = _start(api)
    body = click("triage_right", inv)
    assert api.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    [row] = _feedback(api)
    assert (row["investigation_id"], row["verdict"], row["author"], row["source"]) == (
        inv, "right", "ada", "slack")
    body = click("triage_right", "inv_nope")
    answer = api.post("/slack/interactions", content=body, headers=signed(body))
    assert (answer.status_code, answer.json()) == (400, {"error": "no investigation inv_nope in this store"})


def test_wrong_cause_opens_the_modal_and_its_submission_is_stored(
        api: TestClient, slack: FakeSlack) -> None:
    inv = _start(api)
    body = click("triage_wrong", inv)
    assert api.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    [view] = slack.views
    assert (view["trigger_id"], view["callback_id"], view["private_metadata"]) == (
        "12466734323.1395872398", "triage_wrong_cause", inv)
    assert [block["block_id"] for block in view["blocks"]] == ["category", "culprit", "note"]

    def submit(culprit: str, category: str | None = "dependency-failure") -> Any:
        chosen = {"selected_option": {"text": {"type": "plain_text", "text": category},
                                      "value": category}} if category else {"selected_option": None}
        values = {"category": {"value": {"type": "static_select", **chosen}},
                  "culprit": {"value": {"type": "plain_text_input", "value": culprit}},
                  "note": {"value": {"type": "plain_text_input", "value": "the ledger DB failed"}}}
        body = interaction({"type": "view_submission", "user": {"id": "U1", "username": "grace"},
                            "view": {"id": "V1", "callback_id": "triage_wrong_cause",
                                     "private_metadata": inv, "state": {"values": values}}})
        return api.post("/slack/interactions", content=body, headers=signed(body))

    refused = submit("not-a-sha")
    assert refused.json() == {"response_action": "errors",
                              "errors": {"culprit": "culprit 'not-a-sha' is not a commit: 7 to 40 hex "
                                                    "digits"}}
    # Categories are the ones `triage stats` counts: a category is required for "wrong".
    assert submit("9f3a1c2", category=None).json() == {"response_action": "errors", "errors": {
        "category": "say the verdict was right, or give the true cause's category"}}
    assert _feedback(api) == []
    assert submit("9F3A1C2").status_code == 200
    [row] = _feedback(api)
    assert (row["verdict"], row["category"], row["culprit"], row["note"], row["author"]) == (
        "wrong", "dependency-failure", "9f3a1c2", "the ledger DB failed", "grace")


def test_investigate_again_enqueues_a_new_investigation_of_the_same_alert(api: TestClient) -> None:
    inv = _start(api)
    for _ in range(2):  # the same click delivered twice starts one investigation
        body = click("triage_again", inv, action_ts="1700000000.000100")
        assert api.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    with _runtime(api).store.read() as conn:
        rows = conn.execute(sa.select(investigations.c.id, alerts.c.title, alerts.c.service,
                                      alerts.c.dedup_key)
                            .join(alerts, alerts.c.id == investigations.c.alert_id)
                            .order_by(investigations.c.created_at)).all()
    assert len(rows) == 2 and rows[0].id == inv
    assert {(r.title, r.service) for r in rows} == {("checkout returns 502s", "checkout")}
    assert rows[1].dedup_key == f"{rows[0].dedup_key}#again:1700000000.000100"


def test_an_expired_trigger_is_said_not_hidden(api: TestClient, slack: FakeSlack) -> None:
    inv = _start(api)
    slack.expired_triggers.add("12466734323.1395872398")  # Slack answered after 3 seconds
    body = click("triage_wrong", inv)
    answer = api.post("/slack/interactions", content=body, headers=signed(body))
    assert (answer.status_code, answer.json()) == (
        502, {"error": "Slack answered 200 expired_trigger_id to views.open"})
    assert slack.views == [] and _feedback(api) == []
