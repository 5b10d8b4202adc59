"""postgres against a server configured like production: pg_stat_statements preloaded and
password (SCRAM) authentication. The suite starts this second server itself; it is skipped
when TRIAGE_TEST_POSTGRES_DSN points the tests at an existing server. Also: the allowlist
holds up against the real catalog."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from connectors import EvidenceStatus
from connectors.postgres.allowlist import READ_FUNCTIONS, READ_OPERATORS, REVIEWED_VOLATILE
from tests.connectors._util import req
from tests.connectors.postgres_fixtures import SECRET, pg_connector, seeded_database, with_user
from tests.postgres import find_pg_bin, postgres_server

USER = "triage_pw"
# Allowlisted functions that PostgreSQL 15 does not have yet (16+); any other miss is a typo.
NEWER_THAN_15 = {"any_value", "array_sample", "array_shuffle", "date_add", "date_subtract",
                 "random_normal", "uuid_extract_timestamp", "uuid_extract_version", "xmltext"}


@dataclass(frozen=True)
class Server:
    """A dedicated server: a seeded database's DSN as the superuser and as USER."""

    admin: str
    dsn: str


def _restart(admin: str, settings: list[str], hba_first_line: str) -> None:
    """Apply settings that need a restart, put a line first in pg_hba.conf, restart."""
    with psycopg.connect(admin, autocommit=True) as conn:
        for setting in settings:
            conn.execute(setting)
        data = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        hba = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
    hba.write_text(hba_first_line + "\n" + hba.read_text())
    owner = pwd.getpwuid(data.stat().st_uid).pw_name
    prefix = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 else []
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    # the log goes to the file tests/postgres.py uses; pg_ctl reuses the original options
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data.parent / "log"),
                    "-w", "-m", "fast", "restart"], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if os.environ.get("TRIAGE_TEST_POSTGRES_DSN"):
        pytest.skip("needs a server the suite starts itself (TRIAGE_TEST_POSTGRES_DSN is set)")
    with postgres_server() as admin:
        _restart(admin, ["ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
                         "ALTER SYSTEM SET password_encryption = 'scram-sha-256'"],
                 f"host all {USER} 127.0.0.1/32 scram-sha-256")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{SECRET}'")
            conn.execute(f"GRANT pg_read_all_data, pg_monitor TO {USER}")
        with seeded_database(admin, "triage_prodlike") as dsn:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION pg_stat_statements")
            yield Server(dsn, with_user(dsn, USER))


def test_password_from_a_file_logs_in_with_scram(server: Server, tmp_path: Path):
    secret_file = tmp_path / "pg_password"
    secret_file.write_text(SECRET + "\n")
    conn = pg_connector(server.dsn, password={"file": str(secret_file)})
    try:
        ev = conn.query(req("SELECT current_user AS who, count(*) AS n FROM orders"))
        check = conn.check()
    finally:
        conn.close()
    assert ev.rows == [{"who": USER, "n": 40}]
    assert (check.reachable, check.can_write) == (True, False)


def test_a_wrong_password_is_reported_without_any_password(
        server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TRIAGE_TEST_PG_PW", SECRET + "-wrong")
    conn = pg_connector(server.dsn, password={"env": "TRIAGE_TEST_PG_PW"}, retry_attempts=3)
    try:
        ev = conn.query(req("SELECT 1"))
        check = conn.check()
    finally:
        conn.close()
    assert ev.error is not None
    assert f'password authentication failed for user "{USER}"' in ev.error
    assert ev.duration_ms < 1000  # not retried
    assert check.reachable is False
    everything = ev.model_dump_json() + check.model_dump_json() + caplog.text
    assert SECRET not in everything


def test_top_statements_from_pg_stat_statements(server: Server, monkeypatch: pytest.MonkeyPatch):
    with psycopg.connect(server.admin, autocommit=True) as admin:
        for _ in range(20):
            admin.execute("SELECT count(*) FROM orders o1 CROSS JOIN orders o2 WHERE o1.id < o2.id")
    monkeypatch.setenv("TRIAGE_TEST_PG_PW", SECRET)
    reader = pg_connector(server.dsn, password={"env": "TRIAGE_TEST_PG_PW"})
    try:
        ev = reader.query(req("\\top_statements", limit=200))
        top2 = reader.query(req("\\top_statements", limit=2))
    finally:
        reader.close()
    assert ev.status == EvidenceStatus.OK
    cross = [row for row in ev.rows if "CROSS JOIN" in row["query"]]
    assert cross and cross[0]["calls"] == 20
    assert cross[0]["user"] == "postgres"
    assert cross[0]["query"].startswith("SELECT count(*) FROM orders o1 CROSS JOIN orders o2")
    totals = [row["total_ms"] for row in ev.rows]
    assert totals == sorted(totals, reverse=True)
    assert ev.summary.startswith(f"{ev.row_count} statement(s) tracked; top by total time: ")
    assert (len(top2.rows), top2.truncated) == (2, True)
    assert top2.row_count >= ev.row_count  # the first call added statements of its own


def test_allowlist_holds_against_the_real_catalog(postgres_dsn: str):
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT proname, string_agg(DISTINCT provolatile::text, '') FROM pg_proc "
            "WHERE pronamespace = 'pg_catalog'::regnamespace AND proname = ANY(%s) GROUP BY 1",
            [sorted(READ_FUNCTIONS)]).fetchall()
        operators = conn.execute(
            "SELECT o.oprname, p.proname, p.provolatile FROM pg_operator o "
            "JOIN pg_proc p ON p.oid = o.oprcode WHERE o.oprnamespace = 'pg_catalog'::regnamespace "
            "AND o.oprname = ANY(%s)", [sorted(READ_OPERATORS)]).fetchall()
    volatility: dict[str, str] = dict(rows)
    # every allowlisted function that can change something on purpose is volatile; the
    # volatile ones on the list were each reviewed to only read
    assert sorted(n for n, v in volatility.items() if "v" in v and n not in REVIEWED_VOLATILE) == []
    assert set(READ_FUNCTIONS) - set(volatility) <= NEWER_THAN_15
    assert [(o, p) for o, p, v in operators if v == "v"] == []
