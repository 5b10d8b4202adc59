"""`triage eval --backends real`: every shipped bundle loaded into real PostgreSQL, Prometheus,
osmem-server and the loopback GitHub API gets the verdict it gets from its files; the bundles
whose evidence is live database state are named only there; servers and sessions are cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from tests.conftest import make_settings
from tests.waiting import wait_for
from triage.backends import BackendError
from triage.backends.db_activity import load_activity
from triage.backends.elastic import LogsServer
from triage.backends.prometheus import csv_to_openmetrics
from triage.backends.servers import Servers
from triage.cli import app
from triage.scenarios import ScenarioResult, evaluate, find_bundles

BUNDLES = find_bundles([Path(__file__).parent / "bundles"])
REAL_ONLY = {"orders-pool-leak", "orders-batch-lock-contention"}


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """One set of servers for the module, as one eval run shares them."""
    with Servers() as running:
        yield running


@pytest.fixture(scope="module")
def results(servers: Servers, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[ScenarioResult, ScenarioResult]]:
    """Each bundle through files, then through the real backends."""
    settings = make_settings(tmp_path_factory.mktemp("real"))
    return {bundle.name: (evaluate(bundle, settings),
                          evaluate(bundle, settings, backends="real", servers=servers))
            for bundle in BUNDLES}


def test_the_real_only_bundles_are_shipped() -> None:
    assert {b.name for b in BUNDLES} >= REAL_ONLY


@pytest.mark.parametrize("bundle", [b.name for b in BUNDLES])
def test_same_verdict_through_files_and_real_backends(
        bundle: str, results: dict[str, tuple[ScenarioResult, ScenarioResult]]) -> None:
    files, real = results[bundle]
    assert real.error is None and real.backend == "real"
    assert [c for c in real.checks if not c.met] == []
    if bundle in REAL_ONLY:
        assert files.skipped is not None and "db_activity.yaml" in files.skipped
        assert files.checks == [] and files.passed  # skipped, not failed
        return
    assert files.skipped is None and files.passed
    assert (real.predicted, real.blamed_commit) == (files.predicted, files.blamed_commit)


def test_each_connector_is_read_through_its_production_type(
        results: dict[str, tuple[ScenarioResult, ScenarioResult]]) -> None:
    backends = {u.name: u for u in results["orders-batch-lock-contention"][1].connectors}
    assert backends["logs"].backend.startswith("elasticsearch http://127.0.0.1:")
    assert backends["metrics"].backend.startswith("prometheus http://127.0.0.1:")
    assert backends["orders_db"].backend.startswith("postgres 127.0.0.1:")
    assert backends["deploys"].backend == "files_deploys deploys.json"  # no repository
    assert all(u.queries > 0 and u.total_ms > 0 for u in backends.values())
    assert backends["orders_db"].queries == 4  # the database playbook's four diagnostics
    github = {u.name: u for u in results["profile-deploy-coincidence"][1].connectors}["deploys"]
    assert github.backend.startswith("github http://127.0.0.1:") and github.queries == 1
    files = {u.name: u for u in results["catalog-traffic-surge"][0].connectors}
    assert files["logs"].backend == "files_logs logs.jsonl" and files["logs"].queries == 2


def test_staged_sessions_and_the_bundle_database_are_gone_afterwards(
        results: dict[str, tuple[ScenarioResult, ScenarioResult]], servers: Servers) -> None:
    assert results["orders-pool-leak"][1].passed
    with psycopg.connect(servers.postgres.admin_dsn, autocommit=True) as conn:
        apps = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name IN "
                            "('orders-refund-worker', 'nightly-reconcile')").fetchone()
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'eval_%'"
                                 ).fetchone()
    assert apps == (0,) and databases == (0,)


def test_servers_are_stopped_when_the_run_ends(tmp_path: Path) -> None:
    with Servers() as running:
        url = running.logs.url
        assert httpx.get(url, timeout=5).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=5)


def test_eval_prints_the_backend_and_per_connector_queries() -> None:
    bundle = str(Path(__file__).parent / "bundles" / "orders-batch-lock-contention")
    real = CliRunner().invoke(app, ["eval", "--backends", "real", bundle])
    assert real.exit_code == 0, real.output
    assert "PASS  orders-batch-lock-contention (db-contention" in real.output
    assert "[real]" in real.output and "orders_db: postgres 127.0.0.1:" in real.output
    assert "— 4 queries" in real.output
    files = CliRunner().invoke(app, ["eval", bundle])
    assert "SKIP  orders-batch-lock-contention: needs --backends real" in files.output
    assert "0 passed, 0 failed, 1 skipped" in files.output
    assert files.exit_code == 1  # nothing was checked


def test_metrics_become_openmetrics_in_time_order(tmp_path: Path) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text('timestamp,metric,value,service,path\n'
                   '2026-10-14T09:01:00Z,up,1,api,"/a ""b"""\n'
                   '2026-10-14T09:00:00Z,up,0,api,"/a ""b"""\n'
                   '2026-10-14T09:00:00Z,up,0,api,"/a ""b"""\n'
                   '2026-10-14T09:00:00Z,queue_depth,3,api,\n')
    assert csv_to_openmetrics(csv).splitlines() == [
        'up{service="api",path="/a \\"b\\""} 0.0 1791968400.000',
        'up{service="api",path="/a \\"b\\""} 1.0 1791968460.000',
        'queue_depth{service="api"} 3.0 1791968400.000',
        "# EOF"]
    csv.write_text("timestamp,metric,value\n2026-10-14T09:00:00Z,db.pool,1\n")
    with pytest.raises(BackendError, match=r"'db.pool' is not a Prometheus metric name"):
        csv_to_openmetrics(csv)


def test_a_malformed_activity_file_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "db_activity.yaml").write_text("sessions:\n  - application_name: x\n")
    with pytest.raises(BackendError, match=r"(?s)db_activity.yaml.*statement"):
        load_activity(tmp_path)
    (tmp_path / "db_activity.yaml").write_text(
        "idle_for: soon\nsessions: [{application_name: x, statement: SELECT 1}]\n")
    with pytest.raises(BackendError, match="not a duration"):
        load_activity(tmp_path)


def test_a_missing_osmem_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "osmem_server", None)  # as if the package were absent
    with pytest.raises(BackendError, match=r"osmem-server, which is not installed: pip install"):
        LogsServer()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory the unprivileged PostgreSQL user can enter (pytest's is root's)."""
    path = Path(tempfile.mkdtemp(prefix="triage-term-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_terminated_eval_stops_the_servers_it_started(open_tmp: Path) -> None:
    tmp_path = open_tmp
    bundle = Path(__file__).parent / "bundles" / "orders-pool-leak"  # holds its sessions 35 s
    run = subprocess.Popen([sys.executable, "-m", "triage.cli", "eval", "--backends", "real",
                            str(bundle)], env={**os.environ, "TMPDIR": str(tmp_path)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        [root] = wait_for(lambda: list(tmp_path.glob("triage-eval-pg-*")), 120,
                          "the eval's PostgreSQL")
        lines = wait_for(lambda: _complete(root / "data" / "postmaster.pid"), 120, "it to start")
        postmaster, port = int(lines[0]), int(lines[3])
        wait_for(lambda: _staged(port), 120, "the bundle's sessions to be held")
        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 128 + signal.SIGTERM
    finally:
        run.kill()
    assert not _running(postmaster)
    assert list(tmp_path.glob("triage-eval-*")) == []


def _complete(pidfile: Path) -> list[str]:
    """postmaster.pid's lines once the server's own (initdb's has a negative pid) names the port."""
    lines = pidfile.read_text().splitlines() if pidfile.exists() else []
    return lines if len(lines) > 3 and lines[0].isdigit() and lines[3].isdigit() else []


def _staged(port: int) -> bool:
    """The leaking application's sessions are open on the eval's server."""
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'orders-refund-worker'").fetchone()
    except psycopg.OperationalError:
        return False
    return row == (8,)


def _running(pid: int) -> bool:
    """The process exists and has not exited (a zombie whose parent is init has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
