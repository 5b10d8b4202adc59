"""The API killed between making a delivery durable and creating its investigation: the delivery
becomes exactly one investigation, by a restarted API or by a worker's sweep."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from tests.conftest import CHECKOUT_CONFIG, PD_SECRET, compact, make_settings, pd_headers, sample
from tests.intake.conftest import promoted, unique
from tests.waiting import wait_for
from tests.workers import start_worker
from triage.config import parse_config
from triage.failpoints import EXIT_CODE
from triage.runtime import Runtime
from triage.store import alerts, intake_pending, investigations


def _serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--host", "127.0.0.1",
                            "--port", str(port), "--no-worker"], env=env, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return api.poll() is not None  # died: let the caller see its exit code
    wait_for(ready, what="triage serve to answer")
    return api, base


def _post(base: str, body: bytes) -> httpx.Response | None:
    try:
        return httpx.post(f"{base}/webhooks/pagerduty", content=body,
                          headers=pd_headers(body, webhook_id=unique("wh-")), timeout=30.0)
    except httpx.HTTPError:
        return None  # the server died before answering


def _setup(tmp_path: Path) -> tuple[Runtime, dict[str, str], bytes]:
    settings = make_settings(tmp_path)
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(CHECKOUT_CONFIG))
    runtime = Runtime.from_settings(settings, parse_config(CHECKOUT_CONFIG, tmp_path, "test"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")},
           "TRIAGE_DATA_DIR": str(settings.data_dir), "TRIAGE_CONFIG": str(tmp_path / "triage.yaml"),
           "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET, "TRIAGE_PUBLIC_URL": "http://triage.test"}
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["id"] = unique("crash-event-")
    payload["event"]["data"]["id"] = unique("PCRASH")
    return runtime, env, compact(payload)


def _rows(runtime: Runtime) -> tuple[list[str | None], int, int, int]:
    with runtime.store.read() as conn:
        named = list(conn.execute(sa.select(alerts.c.investigation_id)).scalars())
        waiting = conn.execute(sa.select(sa.func.count()).select_from(intake_pending)).scalar()
        made = conn.execute(sa.select(sa.func.count()).select_from(investigations)).scalar()
        flows = conn.execute(sa.text("SELECT COUNT(*) FROM workflow_status")).scalar()
    return named, int(waiting or 0), int(made or 0), int(flows or 0)


def test_killed_after_the_commit_before_the_202_a_retry_names_it_and_it_runs_once(
        tmp_path: Path) -> None:
    runtime, env, body = _setup(tmp_path)
    api, base = _serve(env | {"TRIAGE_FAILPOINTS": "intake:committed"}, tmp_path)
    assert _post(base, body) is None
    assert api.wait(timeout=60) == EXIT_CODE
    named, waiting, made, flows = _rows(runtime)
    assert len(named) == 1 and named[0] is not None
    assert (waiting, made, flows) == (1, 0, 0)  # durable, not yet an investigation

    api, base = _serve(env, tmp_path)  # PagerDuty retries the delivery it got no 202 for
    try:
        again = _post(base, body)
        assert again is not None and again.status_code == 202, again
        result = again.json()["results"][0]
        assert result["status"] == "duplicate"
        assert result["investigation_id"] == named[0]
        assert result["report_url"] == f"http://triage.test/reports/{named[0]}"
        promoted(runtime)  # by the restarted API's background step
    finally:
        api.terminate()
        api.wait(timeout=30)
    assert _rows(runtime) == ([named[0]], 0, 1, 1)
    runtime.close()


def test_killed_while_promoting_nothing_half_made_and_a_worker_sweeps_it_once(
        tmp_path: Path) -> None:
    runtime, env, body = _setup(tmp_path)
    api, base = _serve(env | {"TRIAGE_FAILPOINTS": "intake:promoting"}, tmp_path)
    answer = _post(base, body)  # the 202 races the crash in the background step
    assert api.wait(timeout=60) == EXIT_CODE
    named, waiting, made, flows = _rows(runtime)
    assert (waiting, made, flows) == (1, 0, 0)  # the enqueue rolled back with the rest
    if answer is not None:
        assert answer.json()["results"][0]["investigation_id"] == named[0]

    worker = start_worker(env, tmp_path)
    try:
        promoted(runtime)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    named_after, waiting, made, flows = _rows(runtime)
    assert (named_after, waiting, made, flows) == (named, 0, 1, 1)
    runtime.close()
