"""`triage serve --processes N`: N API processes on one port, each delivery stored and turned
into one investigation whichever process took it; a killed process is replaced; SIGTERM stops
them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import CHECKOUT_CONFIG, PD_SECRET, compact, make_settings, pd_headers, sample
from tests.intake.conftest import promoted, unique
from tests.waiting import wait_for
from triage.config import parse_config
from triage.runtime import Runtime
from triage.store import alerts, investigations

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    """The API and worker processes `pid` started (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if parent == pid and b"resource_tracker" not in command:
            found.add(int(entry.name))
    return found


def _delivery() -> bytes:
    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["id"] = unique("multi-event-")
    payload["event"]["data"]["id"] = unique("PMULTI")
    return compact(payload)


def _post(base: str, body: bytes) -> httpx.Response:
    # A connection per request, so that the kernel spreads them over the processes.
    return httpx.post(f"{base}/webhooks/pagerduty", content=body, timeout=60.0,
                      headers=pd_headers(body, webhook_id=unique("wh-")) | {"Connection": "close"})


@pytest.fixture
def served(tmp_path: Path):
    settings = make_settings(tmp_path)
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(CHECKOUT_CONFIG))
    runtime = Runtime.from_settings(settings, parse_config(CHECKOUT_CONFIG, tmp_path, "test"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")},
           "TRIAGE_DATA_DIR": str(settings.data_dir), "TRIAGE_CONFIG": str(tmp_path / "triage.yaml"),
           "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET, "TRIAGE_PUBLIC_URL": "http://triage.test"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    parent = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--no-worker", "--processes", "2"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert parent.poll() is None, f"triage serve exited with {parent.returncode}"
        try:
            up = httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False
        return up and len(_children(parent.pid)) == 2
    wait_for(ready, what="two API processes to answer")
    yield parent, base, runtime
    if parent.poll() is None:
        parent.kill()
        parent.wait()
    for child in _children(parent.pid):
        os.kill(child, signal.SIGKILL)
    runtime.close()


def _stored(runtime: Runtime) -> tuple[int, int]:
    with runtime.store.read() as conn:
        return (int(conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar() or 0),
                int(conn.execute(sa.select(sa.func.count()).select_from(investigations)).scalar()
                    or 0))


def test_every_delivery_becomes_one_investigation_across_processes(served) -> None:
    _, base, runtime = served
    bodies = [_delivery() for _ in range(40)]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda body: _post(base, body), bodies))
    assert [r.status_code for r in replies] == [202] * 40
    named = {r.json()["results"][0]["investigation_id"] for r in replies}
    assert len(named) == 40
    promoted(runtime)
    assert _stored(runtime) == (40, 40)
    # The same deliveries again, to either process: recognised, nothing new stored.
    with ThreadPoolExecutor(8) as pool:
        again = list(pool.map(lambda body: _post(base, body), bodies))
    assert {r.json()["results"][0]["status"] for r in again} == {"duplicate"}
    assert _stored(runtime) == (40, 40)


def test_a_killed_api_process_is_replaced_and_sigterm_stops_all(served) -> None:
    parent, base, runtime = served
    first = _children(parent.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(_children(parent.pid) - {victim}) == 2,
             what="the supervisor to start a replacement")
    assert _post(base, _delivery()).status_code == 202  # whichever process answers
    replies = [_post(base, _delivery()) for _ in range(6)]
    assert [r.status_code for r in replies] == [202] * 6
    promoted(runtime)
    assert _stored(runtime) == (7, 7)
    children = _children(parent.pid)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=120) == 0
    assert not any(Path(f"/proc/{pid}").exists() and _is_running(pid) for pid in children)


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
