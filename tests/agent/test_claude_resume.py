"""A worker killed in the middle of a model conversation is replaced; the new worker replays the
finished turns from the store and the loopback Messages API never sees a turn asked twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from tests.agent.claude_fixtures import WINDOW, claude_demo, claude_settings, evidence_steps
from tests.conftest import DEMO, pd_headers
from tests.fakes.anthropic import API_KEY, FakeAnthropic, message, tool_use
from tests.waiting import wait_for
from tests.workers import state_of
from triage import repository as repo
from triage.app import create_app
from triage.failpoints import EXIT_CODE
from triage.runtime import Runtime
from triage.scenarios import load_scenario
from triage.store import stage_runs

pytestmark = pytest.mark.slow


def _mine(request: dict[str, Any]) -> dict[str, Any]:
    inv = evidence_steps(request)["logs"].split(":")[0]
    return message(tool_use("mine_log_templates", {"step_id": f"{inv}:brain:t000.00"}))


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    inv = evidence_steps(request)["logs"].split(":")[0]
    return message(tool_use("submit_findings", {
        "summary": "Deploy 9f8e7d6 broke checkout.",
        "hypotheses": [{"category": "bad-deploy", "title": "Deploy 9f8e7d6", "confidence": 0.9,
                        "evidence": [f"{inv}:brain:t000.00", f"{inv}:brain:t001.00"]}]}))


SCRIPT: list[Any] = [message(tool_use("query_logs", {"query": "service=checkout level=error",
                                                      **WINDOW})), _mine, _submit]






@pytest.mark.parametrize("failpoint", ["claude:turn:1", "claude:tools:0"])
def test_a_worker_killed_mid_conversation_resumes_without_asking_a_turn_twice(
        tmp_path: Path, failpoint: str) -> None:
    workdir, config = claude_demo(tmp_path, sandbox="none")
    (workdir / "triage.yaml").write_text(yaml.safe_dump(
        {**load_scenario(DEMO).config, "brain": "claude", "sandbox": "none"}))
    with FakeAnthropic(SCRIPT) as fake:
        settings = claude_settings(tmp_path, fake)
        runtime = Runtime.from_settings(settings, config)
        body = (workdir / "alert.json").read_bytes()
        with TestClient(create_app(runtime)) as api:  # API only: the investigation waits queued
            answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
        investigation_id = answer.json()["results"][0]["investigation_id"]
        env = {**os.environ, "TRIAGE_DATA_DIR": str(settings.data_dir),
               "TRIAGE_CONFIG": str(workdir / "triage.yaml"), "TRIAGE_ANTHROPIC_API_KEY": API_KEY,
               "TRIAGE_ANTHROPIC_BASE_URL": fake.url, "TRIAGE_FAILPOINTS": failpoint}
        doomed = subprocess.run([sys.executable, "-m", "triage.cli", "worker"], env=env,
                                cwd=workdir, capture_output=True, timeout=120, check=False)
        assert doomed.returncode == EXIT_CODE, doomed.stdout + doomed.stderr
        assert state_of(runtime, investigation_id) == "running"
        asked_before = list(fake.answered)

        env.pop("TRIAGE_FAILPOINTS")
        survivor = subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=env,
                                    cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: state_of(runtime, investigation_id) == "completed", timeout=90.0)
        finally:
            survivor.terminate()
            survivor.wait(timeout=30)
    assert asked_before == ([0, 1] if failpoint == "claude:turn:1" else [0])
    assert fake.answered == [0, 1, 2]  # no turn was paid for twice
    with runtime.store.read() as conn:
        runs = conn.execute(sa.select(stage_runs.c.stage).where(
            stage_runs.c.investigation_id == investigation_id)).scalars().all()
        steps = repo.list_steps(conn, investigation_id, "brain")
    runtime.close()
    assert runs.count("brain") == 2  # cut short once, then finished
    names = [s.name for s in steps]
    assert len(names) == len({s.id for s in steps})
    assert {"model turn 1", "model turn 2", "model turn 3", "query_logs (turn 1)",
            "mine_log_templates (turn 2)", "findings"} <= set(names)
    findings = next(s for s in steps if s.name == "findings").detail
    assert findings["brain"] == "claude" and not findings["incomplete"]
    assert findings["usage"]["turns"] == 3 and findings["usage"]["tool_calls"] == 2
