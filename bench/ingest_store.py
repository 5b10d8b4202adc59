"""The stores of the ingest benchmark (`bench/ingest.py`): a SQLite file, or a throwaway
PostgreSQL server started from this machine's binaries (as tests/postgres.py does, but with
fsync on: commit latency is what group commit is about); draining the background step and
reconciling accepted deliveries against what is stored."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.servers import BenchError, free_port
from tests.postgres import _as_user, _wait_ready, find_pg_bin

DRAIN_TIMEOUT_S = 300.0


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
    """A fresh PostgreSQL server (fsync on) on a loopback port; its DSN."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise BenchError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix, user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="triage-bench-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if user is not None:
        for path in (root, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                    "-w", "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 "
                    "-c max_connections=100", "start"], check=True, capture_output=True)
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait_ready(dsn)
        yield dsn
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


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
