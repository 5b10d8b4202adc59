"""The server under test for the ingest benchmark (`bench/ingest.py`): `triage serve` over a
SQLite file or a throwaway PostgreSQL server started from this machine's binaries (as
tests/postgres.py does, but with fsync on: commit latency is what group commit is about); its
CPU use; draining the background step and reconciling accepted deliveries against the store."""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.loopback_http import HOST
from bench.servers import BenchError, Server, child_env, free_port
from triage.backends import BackendError
from triage.backends.postgres import PostgresServer

DRAIN_TIMEOUT_S = 300.0
# The sample's PagerDuty service, mapped to a service without connectors.
TRIAGE_YAML = "services:\n  - name: api\n    match:\n      pagerduty_service_ids: [PF9KMXH]\n"


@dataclass(frozen=True)
class StoreCounts:
    """What the triage store holds once the background step has drained."""

    alerts: int
    investigations: int
    workflows: int
    waiting: int  # accepted alerts still without an investigation
    persisted: int  # accepted investigations with their alert, row and DBOS workflow all stored
    drain_s: float  # from the end of the load until nothing was waiting


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL server (fsync on: commits cost what they cost in production) on a
    loopback port; its DSN."""
    try:
        server = PostgresServer(durable=True, readonly_role=False, max_connections=100)
    except BackendError as exc:
        raise BenchError(str(exc)) from exc
    try:
        yield server.admin_dsn
    finally:
        server.stop()


def _query(url: str) -> Callable[[str], list[tuple[Any, ...]]]:
    """A function running one SQL statement on the store at `url` (a fresh connection each)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")

        def run_sqlite(sql: str) -> list[tuple[Any, ...]]:
            with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as conn:
                return conn.execute(sql).fetchall()
        return run_sqlite

    def run_pg(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            return conn.execute(sql.replace("workflow_status", "dbos.workflow_status")).fetchall()
    return run_pg


def drain(url: str, check_alive: Callable[[], None]) -> float:
    """Wait until the background step has turned every accepted alert into its investigation;
    return how long that took."""
    query = _query(url)
    started = time.perf_counter()
    while query("SELECT COUNT(*) FROM intake_pending")[0][0]:
        check_alive()
        if time.perf_counter() - started > DRAIN_TIMEOUT_S:
            break  # reported as waiting
        time.sleep(0.1)
    return time.perf_counter() - started


def waiting(url: str) -> int:
    """Accepted alerts still waiting for the background step to make their investigation."""
    return int(_query(url)("SELECT COUNT(*) FROM intake_pending")[0][0])


def count_store(url: str, accepted: set[str], drain_s: float) -> StoreCounts:
    """Row counts, and how many accepted investigations are stored in full."""
    query = _query(url)

    def scalar(sql: str) -> int:
        return int(query(sql)[0][0])

    stored = {str(r[0]) for r in query(
        "SELECT i.id FROM investigations i JOIN alerts a ON a.id = i.alert_id")}
    stored &= {str(r[0]) for r in query("SELECT workflow_uuid FROM workflow_status")}
    return StoreCounts(
        alerts=scalar("SELECT COUNT(*) FROM alerts"),
        investigations=scalar("SELECT COUNT(*) FROM investigations"),
        workflows=scalar("SELECT COUNT(*) FROM workflow_status"),
        waiting=scalar("SELECT COUNT(*) FROM intake_pending"),
        persisted=len(accepted & stored), drain_s=drain_s)


@dataclass
class Triage:
    """A running `triage serve` over one store, and the deliveries it accepted."""

    server: Server
    port: int
    url: str
    secret: str


@contextlib.contextmanager
def triage_server(with_worker: bool, tmp: Path, store: str, processes: int = 1
                  ) -> Iterator[Triage]:
    """`triage serve` over a fresh store of kind `store` (a PostgreSQL server of its own), with
    `processes` API processes."""
    workdir = tmp / f"triage-{store}"
    data_dir = workdir / "data"
    workdir.mkdir()
    config = workdir / "triage.yaml"
    config.write_text(TRIAGE_YAML)
    secret = "bench-" + uuid.uuid4().hex
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(postgres()) if store == "postgres"
               else f"sqlite:///{data_dir / 'triage.sqlite'}")
        port = free_port()
        env = child_env({
            "TRIAGE_DATA_DIR": str(data_dir),
            "TRIAGE_CONFIG": str(config),
            "TRIAGE_DATABASE_URL": url,
            "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS": secret,
            "TRIAGE_PUBLIC_URL": f"http://{HOST}:{port}",
        })
        argv = [sys.executable, "-m", "triage.cli", "serve", "--host", HOST, "--port", str(port),
                "--worker" if with_worker else "--no-worker", "--processes", str(processes)]
        server = stack.enter_context(Server(f"triage ({store})", argv, env, workdir,
                                            tmp / f"triage-{store}.log"))
        server.wait_ready(f"http://{HOST}:{port}/healthz", need_200=True)
        yield Triage(server, port, url, secret)


def settle(triage: Triage, accepted: set[str]) -> StoreCounts:
    """Wait for the background step to drain, then reconcile accepted against stored."""
    drain_s = drain(triage.url, triage.server.check_alive)
    triage.server.check_alive()
    return count_store(triage.url, accepted, drain_s)


def cpu_seconds(server: Server) -> float:
    """User + system CPU the server and its child processes (`--processes`) have used so far
    (Linux /proc)."""
    if server.proc is None:
        return math.nan
    stats: dict[int, tuple[int, float]] = {}  # pid: (parent pid, CPU seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        stats[int(entry.name)] = (int(fields[1]),
                                  (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    if server.proc.pid not in stats:
        return math.nan
    tree, total = [server.proc.pid], 0.0
    while tree:
        pid = tree.pop()
        total += stats[pid][1]
        tree += [child for child, (parent, _) in stats.items() if parent == pid]
    return total
