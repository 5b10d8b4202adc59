"""The note stages inside the durable workflow: a first note right after analysis, a final note at
the end, each on the incident exactly once, even when a worker dies between posting and recording."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import compact, make_settings, pd_headers, sample, staged_demo
from tests.fakes.pagerduty import FakePagerDuty
from tests.notify.fixtures import (
    DEMO_INCIDENT,
    READ_KEY,
    SAMPLE_INCIDENT,
    notes_env,
    notes_settings,
    posts,
    stage_steps,
)
from tests.waiting import wait_for
from tests.workers import start_worker, state_of
from triage.app import create_app
from triage.config import Settings, TriageConfig
from triage.failpoints import EXIT_CODE
from triage.models import Source
from triage.replay import replay
from triage.runtime import Runtime
from triage.store import incident_notes, investigations, stage_runs

SIGNING_KEY = "k" * 48


def _recorded(runtime: Runtime, investigation_id: str) -> dict[str, tuple[str, bool]]:
    with runtime.store.read() as conn:
        rows = conn.execute(sa.select(incident_notes).where(
            incident_notes.c.investigation_id == investigation_id)).all()
    return {row.kind: (row.note_id, row.recovered) for row in rows}


def test_an_incident_gets_a_first_and_a_final_note_with_signed_links(
        tmp_path: Path, pd: FakePagerDuty, pd_ca: Path) -> None:
    workdir, config = staged_demo(tmp_path)
    settings = notes_settings(tmp_path, pd, pd_ca, report_signing_keys=[SecretStr(SIGNING_KEY)])
    outcome = replay(settings, config, Source.PAGERDUTY, (workdir / "alert.json").read_bytes())
    inv = outcome.investigation_id
    first, final = (n["content"] for n in pd.notes[DEMO_INCIDENT])
    assert first.endswith(f"\n[triage:{inv}:first]")
    assert "Strongest signals so far:\n- " in first
    assert final.endswith(f"\n[triage:{inv}:final]")
    assert "Hypotheses:\n1. [bad-deploy] " in final
    assert len(posts(pd)) == 2

    runtime = Runtime.from_settings(settings, config)
    with runtime.store.read() as conn:
        runs = conn.execute(sa.select(stage_runs.c.stage).where(
            stage_runs.c.investigation_id == inv).order_by(stage_runs.c.id)).scalars().all()
    assert runs.index("first_note") < runs.index("brain")  # first response before reasoning
    assert runs[-1] == "final_note"
    assert stage_steps(runtime, inv, "pagerduty_note").keys() == {"first_note", "final_note"}
    assert all(status == "ok" for status, _ in stage_steps(runtime, inv, "pagerduty_note").values())
    assert {kind: recovered for kind, (_, recovered) in _recorded(runtime, inv).items()} == {
        "first": False, "final": False}

    links = [re.search(r"(?:Live report|Report): (\S+)", text)[1]  # type: ignore[index]
             for text in (first, final)]
    assert all(link.startswith(f"http://triage.test/reports/{inv}?t=") for link in links)
    with TestClient(create_app(runtime)) as client:
        for link in links:
            assert client.get(link.removeprefix("http://triage.test")).status_code == 200
        assert client.get(f"/reports/{inv}").status_code == 403
    runtime.close()


@pytest.mark.parametrize(("change", "skipped_because"), [
    (lambda s: s.model_copy(update={"pagerduty_api_key": None}),
     "no first note: TRIAGE_PAGERDUTY_API_KEY is not set"),
    (lambda s: s.model_copy(update={"pagerduty_from": None}),
     "no first note: TRIAGE_PAGERDUTY_FROM is not set"),
])
def test_without_a_write_key_or_sender_the_stages_say_why_they_skipped(
        tmp_path: Path, pd: FakePagerDuty, pd_ca: Path,
        change: Callable[[Settings], Settings], skipped_because: str) -> None:
    settings = change(notes_settings(tmp_path, pd, pd_ca))
    body = compact(sample("pagerduty/incident_triggered.json"))
    outcome = replay(settings, TriageConfig(), Source.PAGERDUTY, body)
    runtime = Runtime.from_settings(settings, TriageConfig())
    found = stage_steps(runtime, outcome.investigation_id, "pagerduty_note")
    runtime.close()
    assert found["first_note"][0] == "skipped"
    assert found["first_note"][1].startswith(skipped_because)
    assert found["final_note"][0] == "skipped"
    assert outcome.report.state == "completed"
    assert pd.server.seen == []


def test_alerts_from_other_sources_get_no_notes(tmp_path: Path, pd: FakePagerDuty,
                                                pd_ca: Path) -> None:
    body = json.dumps(sample("alertmanager/firing.json")).encode()
    settings = notes_settings(tmp_path, pd, pd_ca)
    outcome = replay(settings, TriageConfig(), Source.ALERTMANAGER, body)
    runtime = Runtime.from_settings(settings, TriageConfig())
    found = stage_steps(runtime, outcome.investigation_id, "pagerduty_note")
    runtime.close()
    assert found["first_note"] == (
        "skipped", "no first note: the alert came from alertmanager, not a PagerDuty incident")
    assert pd.server.seen == []


def test_a_refused_note_is_an_error_step_not_a_failed_investigation(
        tmp_path: Path, pd: FakePagerDuty, pd_ca: Path) -> None:
    settings = notes_settings(tmp_path, pd, pd_ca, pagerduty_api_key=SecretStr(READ_KEY))
    body = compact(sample("pagerduty/incident_triggered.json"))
    outcome = replay(settings, TriageConfig(), Source.PAGERDUTY, body)
    assert outcome.report.state == "completed"
    runtime = Runtime.from_settings(settings, TriageConfig())
    status, summary = stage_steps(runtime, outcome.investigation_id, "pagerduty_note")["final_note"]
    with runtime.store.read() as conn:
        state = conn.execute(sa.select(investigations.c.state)).scalar_one()
    runtime.close()
    assert state == "completed"
    assert status == "error"
    assert summary.startswith("the final note was not posted: PagerDuty answered 403 to POST "
                              f"/incidents/{SAMPLE_INCIDENT}/notes")
    assert READ_KEY not in summary
    assert SAMPLE_INCIDENT not in pd.notes or pd.notes[SAMPLE_INCIDENT] == []


# -- killed between posting and recording ------------------------------------------------------







@pytest.mark.slow
@pytest.mark.parametrize("killed_in", ["first", "final"])
def test_each_note_appears_once_when_the_worker_dies_between_posting_and_recording(
        tmp_path: Path, pd: FakePagerDuty, pd_ca: Path, killed_in: str) -> None:
    workdir, config = staged_demo(tmp_path)
    settings = make_settings(tmp_path)
    runtime = Runtime.from_settings(settings, config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime)) as api:  # API only: the investigation waits in the queue
        answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    inv = answer["results"][0]["investigation_id"]

    env = {**os.environ, **notes_env(pd, pd_ca), "TRIAGE_DATA_DIR": str(settings.data_dir),
           "TRIAGE_CONFIG": str(workdir / "triage.yaml"),
           "TRIAGE_FAILPOINTS": f"posted:{killed_in}_note"}
    doomed = start_worker(env, workdir)
    assert doomed.wait(timeout=60) == EXIT_CODE, doomed.stdout.read() if doomed.stdout else ""
    assert [n["content"].rsplit("\n", 1)[-1] for n in pd.notes[DEMO_INCIDENT]][-1] == (
        f"[triage:{inv}:{killed_in}]")  # posted ...
    assert killed_in not in _recorded(runtime, inv)  # ... but not recorded
    assert state_of(runtime, inv) == "running"

    env.pop("TRIAGE_FAILPOINTS")
    survivor = start_worker(env, workdir)
    try:
        wait_for(lambda: state_of(runtime, inv) == "completed")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    tags = [n["content"].rsplit("\n", 1)[-1] for n in pd.notes[DEMO_INCIDENT]]
    assert tags == [f"[triage:{inv}:first]", f"[triage:{inv}:final]"]  # each exactly once
    assert len(posts(pd)) == 2
    recorded = _recorded(runtime, inv)
    assert recorded[killed_in][1] is True  # found on the incident, not posted again
    assert [n["id"] for n in pd.notes[DEMO_INCIDENT]] == [recorded["first"][0],
                                                          recorded["final"][0]]
    status, summary = stage_steps(runtime, inv, "pagerduty_note")[f"{killed_in}_note"]
    runtime.close()
    assert status == "ok" and "posted by an earlier attempt; not posted again" in summary
