"""postgres diagnostics, each against a condition the test induces on the real server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from connectors import EvidenceStatus
from connectors.postgres import PostgresConnector
from tests.connectors._util import req
from tests.connectors.postgres_fixtures import (
    Background,
    pg_connector,
    seeded_database,
    session_state,
)
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def db(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, "triage_diag") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def pg(db: str) -> Iterator[PostgresConnector]:
    conn = pg_connector(db)
    yield conn
    conn.close()


def _waiting(admin: str, pid: int) -> bool:
    return session_state(admin, pid)[1] == "Lock"


def test_help_lists_every_diagnostic(pg: PostgresConnector):
    ev = pg.query(req("\\?"))
    assert [row["command"] for row in ev.rows] == [
        "\\blocking", "\\idle_in_transaction [duration]", "\\long_running [duration]",
        "\\connections", "\\replication", "\\table_sizes", "\\dead_tuples", "\\top_statements"]


@pytest.mark.parametrize(("command", "error"), [
    ("\\nope", "refused: unknown diagnostic \\nope; known: \\blocking,"),
    ("\\long_running soon", "refused: bad duration 'soon'"),
    ("\\connections 5s", "refused: \\connections takes no arguments"),
    ("\\long_running 1s 2s", "refused: \\long_running takes one duration"),
])
def test_bad_commands_are_refused(pg: PostgresConnector, command: str, error: str):
    ev = pg.query(req(command))
    assert ev.status == EvidenceStatus.ERROR
    assert (ev.error or "").startswith(error)


def test_blocking_tree_from_a_held_row_lock(pg: PostgresConnector, db: str, postgres_dsn: str):
    assert pg.query(req("\\blocking")).summary == "no blocked sessions"
    holder = psycopg.connect(db, application_name="holder")
    holder.execute("UPDATE orders SET note = 'held' WHERE id = 1")  # transaction left open
    holder_pid = holder.info.backend_pid
    waiter = Background(db, "UPDATE orders SET note = 'waiter' WHERE id = 1")
    locker: Background | None = None
    try:
        # one after the other, so that the waiter holds its table lock before LOCK queues
        wait_for(lambda: _waiting(postgres_dsn, waiter.pid), what="the UPDATE to wait")
        locker = Background(db, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        wait_for(lambda: _waiting(postgres_dsn, locker.pid), what="the LOCK to wait")
        ev = pg.query(req("\\blocking"))
    finally:
        holder.rollback()
        holder.close()
        waiter.finish()
        if locker is not None:
            locker.finish()
    assert ev.status == EvidenceStatus.OK
    rows = {(row["pid"], row["blocked_by_pid"]): row for row in ev.rows}
    root = rows[(holder_pid, None)]
    assert (root["root_pid"], root["depth"], root["state"]) == (holder_pid, 0, "idle in transaction")
    assert root["query"] == "UPDATE orders SET note = 'held' WHERE id = 1"
    assert rows[(waiter.pid, holder_pid)]["depth"] == 1
    assert rows[(waiter.pid, holder_pid)]["wait_event_type"] == "Lock"
    # the LOCK waits on both: directly under the holder, and under the waiting UPDATE
    assert rows[(locker.pid, holder_pid)]["depth"] == 1
    assert rows[(locker.pid, waiter.pid)]["depth"] == 2
    assert sorted(rows[(locker.pid, holder_pid)]["blocked_by"]) == sorted([holder_pid, waiter.pid])
    assert ev.summary.startswith(f"2 blocked session(s) under 1 root blocker(s): pid {holder_pid} "
                                 "(idle in transaction")
    assert "blocks 2 session(s), 2 level(s) deep" in ev.summary


def test_idle_in_transaction_session(pg: PostgresConnector, db: str, postgres_dsn: str):
    idle = psycopg.connect(db, application_name="forgot-to-commit")
    idle.execute("SELECT count(*) FROM orders")
    pid = idle.info.backend_pid
    try:
        wait_for(lambda: session_state(postgres_dsn, pid)[0] == "idle in transaction",
                 what="idle in transaction")
        ev = pg.query(req("\\idle_in_transaction"))
        later = pg.query(req("\\idle_in_transaction 1h"))
    finally:
        idle.rollback()
        idle.close()
    mine = [row for row in ev.rows if row["pid"] == pid]
    assert len(mine) == 1
    assert mine[0]["application_name"] == "forgot-to-commit"
    assert mine[0]["last_query"] == "SELECT count(*) FROM orders"
    assert mine[0]["idle_seconds"] >= 0
    assert "idle in transaction; longest: pid" in ev.summary
    assert later.status == EvidenceStatus.NO_DATA
    assert later.summary == "no sessions idle in transaction"


def test_long_running_query(pg: PostgresConnector, db: str, postgres_dsn: str):
    sleeper = Background(db, "SELECT pg_sleep(30)", application_name="slow-report")
    try:
        wait_for(lambda: session_state(postgres_dsn, sleeper.pid)[0] == "active", what="active")
        time.sleep(0.3)
        ev = pg.query(req("\\long_running 200ms"))
        none = pg.query(req("\\long_running 1h"))
    finally:
        sleeper.finish()
    mine = [row for row in ev.rows if row["pid"] == sleeper.pid]
    assert len(mine) == 1
    assert mine[0]["query"] == "SELECT pg_sleep(30)"
    assert mine[0]["running_seconds"] >= 0.2
    assert mine[0]["wait_event"] == "PgSleep"
    assert "over the threshold; longest: pid" in ev.summary
    assert none.summary == "no long-running queries"


def test_connections_against_max_connections(pg: PostgresConnector, db: str):
    extra = [psycopg.connect(db, application_name="conn-test") for _ in range(5)]
    try:
        ev = pg.query(req("\\connections"))
        max_connections = int(extra[0].execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
    finally:
        for conn in extra:
            conn.close()
    ours = [row for row in ev.rows if row["application_name"] == "conn-test"]
    assert ours == [{"state": "idle", "user": "postgres", "database": db.rsplit("/", 1)[1],
                     "application_name": "conn-test", "connections": 5, "total": ours[0]["total"],
                     "max_connections": max_connections, "reserved_connections": 3}]
    assert ours[0]["total"] >= 6
    assert f"of {max_connections} connections in use" in ev.summary
    assert "idle " in ev.summary


def test_replication_on_a_primary_with_an_inactive_slot(pg: PostgresConnector, postgres_dsn: str):
    slot = f"triage_slot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_create_physical_replication_slot(%s, true)", [slot])
        try:
            ev = pg.query(req("\\replication"))
        finally:
            admin.execute("SELECT pg_drop_replication_slot(%s)", [slot])
    assert ev.rows[0] == {"kind": "self", "name": "primary", "state": None, "sync_state": None,
                          "lag_seconds": None, "lag_bytes": None}
    mine = [row for row in ev.rows if row["name"] == slot]
    assert mine[0]["kind"] == "slot" and mine[0]["state"] == "inactive"
    assert mine[0]["lag_bytes"] >= 0
    assert ev.summary.startswith("primary (not a replica): no replication lag of its own; "
                                 "0 standby(s); ")
    assert "inactive (slot" in ev.summary


def test_replication_without_slots_says_none(pg: PostgresConnector):
    ev = pg.query(req("\\replication"))
    if any(row["kind"] != "self" for row in ev.rows):
        pytest.skip("this server has standbys or slots of its own")
    assert ev.summary == ("primary (not a replica): no replication lag of its own; 0 standby(s); "
                          "0 replication slot(s)")


def test_table_sizes_and_dead_tuples(pg: PostgresConnector, db: str):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE churn (id integer, pad text) WITH (autovacuum_enabled = off)")
        conn.execute("INSERT INTO churn SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g")
        with conn.transaction():
            conn.execute("DELETE FROM churn WHERE id % 5 <> 0")
            # statistics are flushed lazily; make this session's counts visible now
            conn.execute("SELECT pg_stat_force_next_flush()")

    def dead() -> int:
        rows = pg.query(req("\\dead_tuples")).rows
        return next((r["dead_tuples"] for r in rows if r["table"] == "public.churn"), 0)

    wait_for(lambda: dead() == 4000, what="dead tuples in the statistics")
    ev = pg.query(req("\\dead_tuples"))
    assert ev.rows[0]["table"] == "public.churn"
    assert ev.rows[0]["dead_pct"] == 80
    assert ev.rows[0]["last_autovacuum"] is None
    assert " table(s) with dead tuples; most: public.churn 4000 dead (80%, last autovacuum never)" \
        in ev.summary
    sizes = pg.query(req("\\table_sizes"))
    assert sizes.rows[0]["table"] == "public.churn"
    assert sizes.rows[0]["total_bytes"] > 1_000_000
    assert sizes.row_count == 4  # churn, orders, audit, users
    assert sizes.summary.startswith("4 user table(s); largest: public.churn ")


def test_top_statements_is_unavailable_without_the_extension(pg: PostgresConnector, db: str):
    ev = pg.query(req("\\top_statements"))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.summary.startswith("unavailable: the pg_stat_statements extension is not installed")


def test_top_statements_is_unavailable_when_not_preloaded(postgres_dsn: str):
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        loaded = admin.execute("SHOW shared_preload_libraries").fetchone()
    if loaded and "pg_stat_statements" in loaded[0]:
        pytest.skip("this server preloads pg_stat_statements")
    with seeded_database(postgres_dsn, "triage_pgss") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        conn2 = pg_connector(dsn)
        try:
            ev = conn2.query(req("\\top_statements"))
        finally:
            conn2.close()
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.summary.startswith("unavailable: postgres error 55000: pg_stat_statements must be "
                                 "loaded via shared_preload_libraries")
