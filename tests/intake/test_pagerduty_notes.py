"""`incident.annotated`: a responder's note naming the cause becomes feedback on the incident's
investigation, once per delivery; conversation, triage's own notes and unknown incidents do not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings, pd_headers, sample, staged_demo
from triage import repository as repo
from triage.app import create_app
from triage.config import TriageConfig
from triage.models import Source
from triage.replay import replay
from triage.runtime import Runtime
from triage.stats import compute

DEMO_INCIDENT = "Q1CHK0UT42"  # the demo alert's PagerDuty incident


@pytest.fixture(scope="module")
def investigated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, TriageConfig]:
    """The demo incident investigated to its report (a bad deploy), in a store of its own."""
    tmp_path = tmp_path_factory.mktemp("notes")
    workdir, config = staged_demo(tmp_path)
    outcome = replay(make_settings(tmp_path), config, Source.PAGERDUTY,
                     (workdir / "alert.json").read_bytes())
    assert outcome.report.state == "completed"
    return tmp_path, outcome.investigation_id, config


@pytest.fixture
def api(investigated: tuple[Path, str, TriageConfig]) -> Iterator[TestClient]:
    tmp_path, _, config = investigated
    runtime = Runtime.from_settings(make_settings(tmp_path), config)
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def note(content: str, *, incident: str = DEMO_INCIDENT, event_id: str = "01NOTE") -> bytes:
    body: dict[str, Any] = sample("pagerduty/incident_annotated.json")
    body["event"]["id"] = event_id
    body["event"]["data"]["incident"]["id"] = incident
    body["event"]["data"]["content"] = content
    return json.dumps(body).encode()


def post(api: TestClient, body: bytes, webhook_id: str) -> dict[str, Any]:
    answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body, webhook_id=webhook_id))
    assert answer.status_code == 202, answer.text
    [result] = answer.json()["results"]
    return dict(result)


def feedback_of(api: TestClient, investigation_id: str) -> list[dict[str, Any]]:
    runtime: Runtime = api.app.state.runtime  # type: ignore[attr-defined]
    with runtime.store.read() as conn:
        return repo.list_feedback(conn, investigation_id)


def test_a_note_naming_another_cause_is_wrong_feedback_once(
        api: TestClient, investigated: tuple[Path, str, TriageConfig]) -> None:
    _, inv, _ = investigated
    before = len(feedback_of(api, inv))
    body = note("Rolled back, but that was not it.\nRoot cause: db-contention\nCulprit: 9F3A1C2",
                event_id="01WRONG")
    result = post(api, body, "wh-wrong")
    assert result == {"status": "feedback", "investigation_id": inv, "report_url": None,
                      "reason": f"feedback on {inv}: wrong; the cause was db-contention"}
    # PagerDuty delivers at least once: the same delivery again records nothing more.
    assert post(api, body, "wh-wrong")["status"] == "duplicate"
    rows = feedback_of(api, inv)[before:]
    assert [(r["verdict"], r["category"], r["culprit"], r["source"], r["author"]) for r in rows] == [
        ("wrong", "db-contention", "9f3a1c2", "pagerduty", "Tenex Engineer")]
    runtime: Runtime = api.app.state.runtime  # type: ignore[attr-defined]
    with runtime.store.read() as conn:
        assert compute(conn).by_category["bad-deploy"].wrong >= 1


def test_a_note_naming_the_verdicts_cause_is_right_feedback(
        api: TestClient, investigated: tuple[Path, str, TriageConfig]) -> None:
    _, inv, _ = investigated
    result = post(api, note("Resolved after the rollback. Root cause: bad deploy", event_id="01RIGHT"),
                  "wh-right")
    assert (result["status"], result["reason"]) == ("feedback", f"feedback on {inv}: right")
    assert feedback_of(api, inv)[-1]["verdict"] == "right"


@pytest.mark.parametrize(("content", "incident", "reason"), [
    ("Paging the database team.", DEMO_INCIDENT, "the note names no cause"),
    ("Root cause: bad-deploy\ntriage:inv_0123abcd:final", DEMO_INCIDENT, "the note names no cause"),
    ("Root cause: db-contention", "PNOSUCH1", "no investigation of PagerDuty incident PNOSUCH1"),
    ("Triage: wrong", DEMO_INCIDENT, "not recorded: say the verdict was right, or give the true "
                                     "cause's category"),
])
def test_notes_that_are_not_feedback_are_ignored_saying_why(
        api: TestClient, investigated: tuple[Path, str, TriageConfig], content: str, incident: str,
        reason: str) -> None:
    _, inv, _ = investigated
    before = len(feedback_of(api, inv))
    result = post(api, note(content, incident=incident, event_id=f"01IGN-{abs(hash(content))}"),
                  f"wh-{abs(hash(content))}")
    assert result["status"] == "ignored" and result["reason"].startswith(reason), result
    assert len(feedback_of(api, inv)) == before


def test_a_malformed_note_event_is_a_400_naming_the_field(api: TestClient) -> None:
    body: dict[str, Any] = sample("pagerduty/incident_annotated.json")
    del body["event"]["data"]["incident"]
    raw = json.dumps(body).encode()
    answer = api.post("/webhooks/pagerduty", content=raw, headers=pd_headers(raw, webhook_id="m"))
    assert answer.status_code == 400
    assert "event.data.incident" in answer.text
