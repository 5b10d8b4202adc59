"""A worker killed inside the fix stage is replaced: only that stage runs again, its steps are
rewritten (not duplicated), and it makes the very same commit on the very same branch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import make_settings, pd_headers, staged_demo
from triage import repository as repo
from triage.app import create_app
from triage.failpoints import EXIT_CODE
from triage.fix.records import PublishRecord
from triage.runtime import Runtime
from triage.store import investigations, stage_runs

pytestmark = pytest.mark.slow


def worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def state(runtime: Runtime, investigation_id: str) -> str:
    with runtime.store.read() as conn:
        return str(conn.execute(sa.select(investigations.c.state).where(
            investigations.c.id == investigation_id)).scalar_one())


def test_a_worker_killed_inside_the_fix_stage_is_resumed_to_the_same_commit(tmp_path: Path) -> None:
    workdir, config = staged_demo(tmp_path)
    settings = make_settings(tmp_path)
    runtime = Runtime.from_settings(settings, config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime)) as api:
        answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    investigation_id = answer["results"][0]["investigation_id"]
    env = {**os.environ, "TRIAGE_DATA_DIR": str(settings.data_dir),
           "TRIAGE_CONFIG": str(workdir / "triage.yaml"), "TRIAGE_FAILPOINTS": "inside:fix"}
    doomed = worker(env, workdir)
    assert doomed.wait(timeout=120) == EXIT_CODE, doomed.stdout.read() if doomed.stdout else ""
    with runtime.store.read() as conn:
        first = PublishRecord.model_validate(next(
            s for s in repo.list_steps(conn, investigation_id, "fix") if s.name == "publish").detail)
    assert first.status == "published", first.reason

    env.pop("TRIAGE_FAILPOINTS")
    survivor = worker(env, workdir)
    try:
        deadline = time.monotonic() + 120
        while state(runtime, investigation_id) != "completed" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    try:
        assert state(runtime, investigation_id) == "completed"
        with runtime.store.read() as conn:
            runs = [r.stage for r in conn.execute(sa.select(stage_runs.c.stage).where(
                stage_runs.c.investigation_id == investigation_id))]
            fix_steps = repo.list_steps(conn, investigation_id, "fix")
        assert runs.count("fix") == 2 and runs.count("reproduce") == 1
        assert [s.name for s in fix_steps] == ["bisect", "fix", "publish"]
        again = PublishRecord.model_validate(fix_steps[-1].detail)
        assert (again.status, again.commit, again.branch) == ("published", first.commit,
                                                              first.branch)
    finally:
        runtime.close()
