"""The durable investigation: end to end, and resumed exactly once after a worker is killed."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import make_settings, pd_headers, staged_demo
from tests.waiting import wait_for
from tests.workers import start_worker, state_of
from triage.app import create_app
from triage.failpoints import EXIT_CODE
from triage.runtime import Runtime
from triage.store import reports, stage_runs, steps
from triage.workflow import STAGES


def _kill_and_resume(tmp_path: Path, failpoint: str) -> tuple[Runtime, str]:
    """Queue the demo alert, run a worker that dies at `failpoint`, then one that finishes."""
    workdir, config = staged_demo(tmp_path)
    settings = make_settings(tmp_path)
    runtime = Runtime.from_settings(settings, config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime)) as api:  # API only: the investigation waits in the queue
        answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    investigation_id = answer["results"][0]["investigation_id"]

    env = {**os.environ, "TRIAGE_DATA_DIR": str(settings.data_dir),
           "TRIAGE_CONFIG": str(workdir / "triage.yaml"), "TRIAGE_FAILPOINTS": failpoint}
    doomed = start_worker(env, workdir)
    assert doomed.wait(timeout=60) == EXIT_CODE, doomed.stdout.read() if doomed.stdout else ""
    assert state_of(runtime, investigation_id) == "running"

    env.pop("TRIAGE_FAILPOINTS")
    survivor = start_worker(env, workdir)
    try:
        wait_for(lambda: state_of(runtime, investigation_id) == "completed")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    return runtime, investigation_id


def _outcome(runtime: Runtime, investigation_id: str) -> tuple[list[str], int, list[str], str]:
    with runtime.store.transaction() as conn:
        runs = conn.execute(sa.select(stage_runs.c.stage, stage_runs.c.finished_at)
                            .where(stage_runs.c.investigation_id == investigation_id)).all()
        report_count = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar()
        step_ids = conn.execute(sa.select(steps.c.id)).scalars().all()
        status = conn.execute(sa.text("SELECT status FROM workflow_status WHERE workflow_uuid = :i"),
                              {"i": investigation_id}).scalar_one()
    runtime.close()
    return [stage for stage, _ in runs], int(report_count or 0), list(step_ids), str(status)


def test_worker_killed_between_stages_resumes_without_rerunning_finished_ones(
        tmp_path: Path) -> None:
    runtime, investigation_id = _kill_and_resume(tmp_path, "after:analyze")
    stages, report_count, step_ids, status = _outcome(runtime, investigation_id)
    assert sorted(stages) == sorted(STAGES)  # each stage executed exactly once
    assert report_count == 1
    assert len(step_ids) == len(set(step_ids))
    assert status == "SUCCESS"


def test_worker_killed_inside_a_stage_reruns_only_that_stage_without_duplicates(
        tmp_path: Path) -> None:
    runtime, investigation_id = _kill_and_resume(tmp_path, "inside:analyze")
    stages, report_count, step_ids, status = _outcome(runtime, investigation_id)
    assert sorted(stages) == sorted([*STAGES, "analyze"])  # the cut-short stage ran twice
    assert report_count == 1
    assert len([s for s in step_ids if ":analyze:" in s]) == 1  # rewritten, not duplicated
    assert status == "SUCCESS"


def test_worker_killed_inside_follow_rewrites_its_steps_once(tmp_path: Path) -> None:
    runtime, investigation_id = _kill_and_resume(tmp_path, "inside:follow")
    stages, report_count, step_ids, status = _outcome(runtime, investigation_id)
    assert sorted(stages) == sorted([*STAGES, "follow"])  # the cut-short stage ran twice
    assert report_count == 1
    assert [s for s in step_ids if ":follow:" in s] == [f"{investigation_id}:follow:0"]  # the path
    assert status == "SUCCESS"


def test_demo_replay_end_to_end(tmp_path: Path) -> None:
    from tests.conftest import DEMO
    from triage.scenarios import check, run_scenario

    scenario, outcome = run_scenario(DEMO, make_settings(tmp_path), keep_dir=tmp_path / "demo")
    report = outcome.report
    assert report.state == "completed"
    assert report.findings is not None
    top = report.findings.hypotheses[0]
    assert top.category == "bad-deploy"
    # The verdict: the bisected culprit leads, inside the deploy that shipped it.
    assert top.suspect_commit == "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"
    assert report.summary.startswith(top.title)
    assert "8d41ce5b1eb8" in report.summary and "6457c33dee76" in report.summary
    assert any("Decimal" in why for why in top.rationale if why.startswith("changed:"))
    assert report.fix is not None and report.fix.culprit is not None
    assert report.fix.culprit.sha == "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"  # bisect
    assert {q.name for q in report.queries} == {
        "error_logs on logs", "all_logs on logs", "service_metrics on metrics", "recent_deploys on deploys",
        "orders_by_status on orders_db"}
    assert all(check_.met for check_ in check(scenario, outcome))
    assert outcome.html_path.read_text().startswith("<!doctype html>")
    assert "TypeError" in outcome.markdown_path.read_text()


def test_unmapped_alert_completes_and_says_why_nothing_was_gathered(tmp_path: Path) -> None:
    from tests.conftest import compact, sample
    from triage.config import TriageConfig
    from triage.models import Source
    from triage.replay import replay

    body = compact(sample("pagerduty/incident_triggered.json"))
    outcome = replay(make_settings(tmp_path), TriageConfig(), Source.PAGERDUTY, body)
    report = outcome.report
    assert report.state == "completed"
    assert report.service is None
    assert any("no service in triage.yaml matches" in note for note in report.notes)
    assert report.findings is not None and report.findings.abstained


def test_serve_with_in_process_worker_acks_then_publishes_the_report(tmp_path: Path) -> None:
    workdir, config = staged_demo(tmp_path)
    runtime = Runtime.from_settings(make_settings(tmp_path), config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime, run_worker=True)) as client:
        response = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
        assert response.status_code == 202
        investigation_id = response.json()["results"][0]["investigation_id"]
        wait_for(lambda: state_of(runtime, investigation_id) == "completed")
        page = client.get(f"/reports/{investigation_id}")
    runtime.close()
    assert page.status_code == 200
    assert "[bad-deploy]" in page.text


def test_a_recurrence_links_the_earlier_investigation_as_seen_before(tmp_path: Path) -> None:
    import json

    from triage.models import Source
    from triage.replay import replay

    workdir, config = staged_demo(tmp_path)
    settings = make_settings(tmp_path)
    body = json.loads((workdir / "alert.json").read_text())
    first = replay(settings, config, Source.PAGERDUTY, json.dumps(body).encode())
    body["event"]["id"] = "recurrence-event"
    body["event"]["data"]["id"] = "QRECURS"
    second = replay(settings, config, Source.PAGERDUTY, json.dumps(body).encode())
    assert first.report.findings is not None and first.report.findings.related == []
    assert second.report.findings is not None
    related = second.report.findings.related
    assert [r["investigation_id"] for r in related] == [first.investigation_id]
    assert related[0]["overlap"] == 1.0
    assert "## Seen before" in second.markdown_path.read_text()
    assert 'id="seen-before"' in second.html_path.read_text()
