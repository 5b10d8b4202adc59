"""infra/modal_app.py: imports offline, declares its functions, and their bodies work — the API
function's FastAPI app accepts an alert and the worker function, as slot 0, investigates it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import modal
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from infra import modal_app
from tests.conftest import SAMPLES
from tests.infra.processes import ROOT
from triage.config import Settings
from triage.store import Store, stage_runs

IMPORT_CHECK = """
import infra.modal_app as m
names = ("api", "worker", "keep_workers", "restart_workers")
assert all(getattr(m, n).app is m.app for n in names), names
print(m.app.name, m.build_image(m.ROOT / "infra" / "triage.compose.yaml"))
"""


def test_imports_without_network_or_modal_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env |= {"HOME": str(tmp_path), "TRIAGE_MODAL_CONFIG": str(ROOT / "infra/triage.compose.yaml")}
    # A fresh network namespace has no interface but a down loopback: any connection attempt fails.
    isolate = ["unshare", "--net"]
    if shutil.which("unshare") is None or subprocess.run([*isolate, "true"], check=False,
                                                         capture_output=True).returncode != 0:
        isolate = []  # no namespaces here (not root): still no credentials, and nothing mocked
    done = subprocess.run([*isolate, sys.executable, "-W", "error::DeprecationWarning", "-c",
                           IMPORT_CHECK], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sre-triage ")


def test_declares_the_api_the_workers_and_their_keeper_in_one_app() -> None:
    assert modal_app.app.name == modal_app.APP_NAME == "sre-triage"
    functions: list[object] = [modal_app.api, modal_app.worker, modal_app.keep_workers,
                               modal_app.restart_workers]
    for function in functions:
        assert isinstance(function, modal.Function)
        assert function.app is modal_app.app
    assert [type(s) for s in modal_app.secrets] == [modal.Secret]
    # Sandboxes are created in this same app, not in a separate one.
    assert modal_app.sandbox_backend(Path("cache")).app_name == modal_app.APP_NAME
    # The image installs the same packages as the Dockerfile and pyproject.
    assert set(modal_app.PACKAGES) == {"triage", "connectors", "sandbox", "playbooks"}


@pytest.mark.parametrize(("calls", "running", "expected"), [
    ({}, set(), [0, 1, 2]),                                         # first tick: start every slot
    ({0: "fc-a", 1: "fc-b", 2: "fc-c"}, {"fc-a", "fc-b", "fc-c"}, []),  # all alive: nothing
    ({0: "fc-a", 1: "fc-b", 2: "fc-c"}, {"fc-a", "fc-c"}, [1]),       # slot 1 died: replace it only
    ({0: None, 1: "fc-b"}, {"fc-b"}, [0, 2]),                          # unknown or empty slots
])
def test_keep_workers_restarts_exactly_the_slots_without_a_running_call(
        calls: dict[int, str | None], running: set[str], expected: list[int]) -> None:
    asked: list[str] = []

    def is_running(call_id: str) -> bool:
        asked.append(call_id)
        return call_id in running

    assert modal_app.slots_to_start(3, calls, is_running) == expected
    assert set(asked) == {c for c in calls.values() if c}


def test_the_api_function_accepts_an_alert_and_the_worker_function_investigates_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text("services:\n  - name: checkout\n")
    for name, value in {"TRIAGE_DATA_DIR": str(tmp_path / "data"), "TRIAGE_CONFIG": str(config),
                        "TRIAGE_ALERTMANAGER_BEARER_TOKEN": "modal-token"}.items():
        monkeypatch.setenv(name, value)
    body = (SAMPLES / "alertmanager" / "firing.json").read_bytes()

    with TestClient(modal_app.api.local()) as client:  # what Modal serves at the web endpoint
        answer = client.post("/webhooks/alertmanager", content=body, headers={
            "authorization": "Bearer modal-token", "content-type": "application/json"})
    assert answer.status_code == 202, answer.text
    investigation_id = answer.json()["results"][0]["investigation_id"]

    stop, result = threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(
        modal_app.run_worker(0, 120, stop=stop, settings=Settings())))
    thread.start()
    store = Store(Settings().resolved_database_url())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(store, investigation_id) != "completed":
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(60)
    try:
        assert _state(store, investigation_id) == "completed"
        with store.read() as conn:
            workers = set(conn.execute(sa.select(stage_runs.c.worker_id)).scalars())
    finally:
        store.dispose()
    assert result == ["modal-0"]
    assert workers == {"modal-0"}  # the stable id of slot 0


def _state(store: Store, investigation_id: str) -> str | None:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT state FROM investigations WHERE id = :i"),
                            {"i": investigation_id}).scalar_one_or_none()
