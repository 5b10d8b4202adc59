"""postgres: the attack corpus. Every write or escape attempt through `query`, made with
SUPERUSER credentials (the worst case), is refused by the guard or fails in the READ ONLY
transaction; afterwards every table, sequence and the cluster-level state is identical."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from connectors import EvidenceStatus
from connectors.postgres import PostgresConnector
from tests.connectors._util import req
from tests.connectors.postgres_fixtures import (
    WRITING_FUNCTIONS,
    checksum,
    pg_connector,
    seeded_database,
)

# {sentinel}: the pid of another session that must survive; {path}: a server-side file that must
# never be created; {db}: a libpq string for the test database (for dblink).
ATTACKS = [
    # plain writes and DDL
    "INSERT INTO orders (status, amount, created_at) VALUES ('x', 1, now())",
    "UPDATE orders SET status = 'pwned'",
    "DELETE FROM orders",
    "TRUNCATE orders",
    "MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = s.id WHEN MATCHED THEN DELETE",
    "INSERT INTO audit (happened) SELECT status FROM orders RETURNING id",
    "DROP TABLE audit",
    "ALTER TABLE orders ADD COLUMN pwned integer",
    "CREATE TABLE pwned (a integer)",
    "CREATE TEMP TABLE pwned_tmp AS SELECT 1",
    "CREATE INDEX ON orders (status)",
    "GRANT ALL ON orders TO PUBLIC",
    "CREATE ROLE pwned_role SUPERUSER LOGIN",
    "ALTER SYSTEM SET work_mem = '1GB'",
    "VACUUM orders",
    "ANALYZE orders",
    "COMMENT ON TABLE orders IS 'pwned'",
    "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
    "CREATE EXTENSION IF NOT EXISTS hstore",
    # data-modifying CTEs
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
    "WITH u AS (UPDATE orders SET status = 'x' RETURNING id) SELECT * FROM u",
    "WITH i AS (INSERT INTO audit (happened) VALUES ('cte') RETURNING id) SELECT * FROM i",
    "WITH x AS (SELECT 1), y AS (DELETE FROM audit RETURNING 1) SELECT * FROM x",
    "WITH RECURSIVE r AS (SELECT 1 AS n), d AS (DELETE FROM orders WHERE id IN (SELECT n FROM r) "
    "RETURNING id) SELECT * FROM d",
    # SELECT INTO and friends
    "SELECT * INTO pwned_copy FROM orders",
    "SELECT 1 AS a INTO TEMP pwned_tmp2",
    "CREATE TABLE pwned_ctas AS SELECT * FROM orders",
    # locking clauses
    "SELECT * FROM orders FOR UPDATE",
    "SELECT * FROM orders FOR SHARE SKIP LOCKED",
    "SELECT * FROM orders FOR NO KEY UPDATE NOWAIT",
    "SELECT id FROM (SELECT id FROM orders FOR KEY SHARE) s",
    # settings
    "SET default_transaction_read_only = off",
    "SET statement_timeout = 0",
    "RESET ALL",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT set_config('statement_timeout', '0', false) FROM orders LIMIT 1",
    "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
    "SELECT (set_config('x.y', '1', false))::text",
    # transaction control
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s1",
    "RELEASE SAVEPOINT s1",
    "START TRANSACTION READ WRITE",
    "PREPARE TRANSACTION 'pwned'",
    "COMMIT; DELETE FROM orders",
    "END; BEGIN READ WRITE; DELETE FROM orders",
    # COPY, to and from files and programs
    "COPY orders TO STDOUT",
    "COPY orders FROM STDIN",
    "COPY orders TO '{path}'",
    "COPY (SELECT 1) TO PROGRAM 'touch {path}'",
    "COPY audit FROM PROGRAM 'echo 1'",
    # DO and CALL
    "DO $$ BEGIN DELETE FROM orders; END $$",
    "DO LANGUAGE plpgsql $$ BEGIN PERFORM set_config('default_transaction_read_only', 'off', false); END $$",
    "CALL evil_proc()",
    # other sessions
    "SELECT pg_terminate_backend({sentinel})",
    "SELECT pg_cancel_backend({sentinel})",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "SELECT pg_catalog.pg_terminate_backend({sentinel})",
    "VALUES (pg_terminate_backend({sentinel}))",
    # advisory locks
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_try_advisory_lock(42)",
    "SELECT pg_advisory_xact_lock(42)",
    "SELECT pg_advisory_lock_shared(1, 2)",
    "SELECT * FROM ROWS FROM (pg_advisory_lock(7))",
    # large objects
    "SELECT lo_creat(-1)",
    "SELECT lo_import('/etc/hostname')",
    "SELECT lo_export(1, '{path}')",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT lowrite(lo_open(1, 131072), 'x')",
    # dblink: a connection that would escape the read-only transaction
    "SELECT dblink_exec('{db}', 'DELETE FROM orders')",
    "SELECT * FROM dblink('{db}', 'DELETE FROM orders RETURNING id') AS t(id integer)",
    "SELECT dblink_connect('pwn', '{db}')",
    # sequences
    "SELECT nextval('counter_seq')",
    "SELECT setval('counter_seq', 1000)",
    "SELECT nextval('orders_id_seq') FROM orders",
    # files on the server
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT pg_stat_file('postgresql.conf')",
    "SELECT * FROM pg_ls_logdir()",
    # server configuration and WAL
    "SELECT pg_reload_conf()",
    "SELECT pg_rotate_logfile()",
    "SELECT pg_switch_wal()",
    "SELECT pg_create_restore_point('pwned')",
    "SELECT pg_create_physical_replication_slot('pwned_slot')",
    "CHECKPOINT",
    "LOAD 'auto_explain'",
    # sleeping past the statement timeout
    "SELECT pg_sleep(60)",
    "SELECT pg_sleep_for('1 hour')",
    "SELECT pg_sleep_until(now() + interval '1 hour')",
    "SELECT 1 FROM orders WHERE pg_sleep(1) IS NOT NULL",
    "SELECT count(*) FROM generate_series(1, 10000000000)",
    # several statements, and comments or quoting hiding one
    "SELECT 1; DELETE FROM orders",
    "SELECT 1 -- harmless\n; DELETE FROM orders",
    "/* SELECT */ DELETE FROM orders",
    "SELECT 1 /* ; */ ; UPDATE orders SET status = 'x'",
    "SELECT /* nested /* comment */ still a comment */ 1; DROP TABLE audit",
    "SELECT $$ ; $$; DELETE FROM orders",
    "SELECT 'it''s'; DELETE FROM orders",
    "-- DELETE\nDELETE FROM orders",
    "TABLE orders; TRUNCATE orders",
    # functions that run SQL strings
    "SELECT query_to_xml('DELETE FROM orders RETURNING id', true, false, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(note) FROM orders')",
    "SELECT cursor_to_xml('c', 1, false, false, '')",
    # functions with side effects defined in the database, called from a SELECT
    "SELECT evil_insert()",
    "SELECT * FROM evil_delete()",
    "SELECT evil_update('pwned') FROM orders",
    "SELECT evil_nextval()",
    "SELECT evil_ddl()",
    "SELECT public.evil_lo()",
    "SELECT id FROM orders WHERE evil_insert() = 1",
    "SELECT (SELECT evil_insert())",
    "SELECT 1 === 2",
    # EXPLAIN ANALYZE executes
    "EXPLAIN ANALYZE DELETE FROM orders",
    "EXPLAIN (ANALYZE) SELECT evil_insert()",
    "EXPLAIN (ANALYZE true, FORMAT JSON) SELECT 1",
    # prepared statements, cursors, notifications, session state
    "PREPARE p AS DELETE FROM orders",
    "EXECUTE p",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "LISTEN pwned",
    "NOTIFY pwned, 'x'",
    "SELECT pg_notify('pwned', 'x')",
    "DISCARD ALL",
    "SELECT txid_current()",
    "SELECT setseed(0.5)",
    # escapes through identifiers and qualification
    "SELECT U&\"pg_\\0073leep\"(10)",
    "SELECT \"pg_sleep\"(10)",
    "SELECT pg_catalog.pg_sleep(10)",
    # credentials
    "SELECT * FROM pg_authid",
    "SELECT rolpassword FROM pg_catalog.pg_shadow",
    # maintenance functions that write
    "SELECT gin_clean_pending_list('orders_pkey')",
    "SELECT brin_summarize_new_values('orders_pkey')",
]


@dataclass
class Target:
    """The seeded database, a superuser connector on it, and what must survive."""

    admin: str
    dsn: str
    conn: PostgresConnector
    sentinel: psycopg.Connection
    path: Path
    baseline: dict[str, str]

    def render(self, attack: str) -> str:
        """The attack with its placeholders filled in."""
        libpq = psycopg.conninfo.make_conninfo(self.dsn)
        return (attack.replace("{sentinel}", str(self.sentinel.info.backend_pid))
                .replace("{path}", str(self.path)).replace("{db}", libpq.replace("'", "''")))


@pytest.fixture(scope="module")
def target(postgres_dsn: str) -> Iterator[Target]:
    with seeded_database(postgres_dsn, "triage_attacks") as dsn:
        conn = pg_connector(dsn, statement_timeout_seconds=1.0)
        sentinel = psycopg.connect(dsn, autocommit=True, application_name="sentinel")
        path = Path(f"/tmp/triage-pg-escape-{uuid.uuid4().hex}")
        try:
            yield Target(postgres_dsn, dsn, conn, sentinel, path, checksum(postgres_dsn))
        finally:
            conn.close()
            sentinel.close()


def test_corpus_is_large_enough():
    assert len(ATTACKS) >= 60
    assert len(set(ATTACKS)) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_refused_or_fails(target: Target, attack: str):
    sql = target.render(attack)
    ev = target.conn.query(req(sql))
    assert ev.status == EvidenceStatus.ERROR, (sql, ev.rows)
    assert ev.query == sql
    assert ev.rows == []
    assert ev.error is not None
    assert ev.error.startswith(("refused: ", "postgres error ")), ev.error


def test_whole_corpus_changes_nothing_and_harms_no_session(target: Target):
    outcomes = {attack: target.conn.query(req(target.render(attack))) for attack in ATTACKS}
    assert {ev.status for ev in outcomes.values()} == {EvidenceStatus.ERROR}
    refused = [a for a, ev in outcomes.items() if (ev.error or "").startswith("refused: ")]
    failed = [a for a, ev in outcomes.items() if (ev.error or "").startswith("postgres error ")]
    assert len(refused) + len(failed) == len(ATTACKS)
    # the guard stops almost everything; what reaches the server is a read that times out
    assert failed == ["SELECT count(*) FROM generate_series(1, 10000000000)"]
    assert "statement_timeout is 1s" in (outcomes[failed[0]].error or "")
    # compared with the state taken when the database was seeded, before any test here ran
    assert checksum(target.admin) == target.baseline
    assert target.sentinel.execute("SELECT 'alive'").fetchone() == ("alive",)
    assert not target.path.exists()
    # and the connector still reads
    assert target.conn.query(req("SELECT count(*) AS n FROM orders")).rows == [{"n": 40}]


@pytest.fixture(scope="module")
def permissive(target: Target) -> Iterator[PostgresConnector]:
    """A deployment that (wrongly) allowed side-effect functions: the server must stop them."""
    conn = pg_connector(target.dsn, name="permissive", allowed_functions=WRITING_FUNCTIONS)
    yield conn
    conn.close()


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT evil_insert()", "cannot execute INSERT in a read-only transaction"),
    ("SELECT * FROM public.evil_delete()", "cannot execute DELETE in a read-only transaction"),
    ("SELECT public.evil_update('pwned') FROM orders", "cannot execute UPDATE in a read-only transaction"),
    ("SELECT public.evil_nextval()", "cannot execute nextval() in a read-only transaction"),
    ("SELECT public.evil_ddl()", "cannot execute DROP TABLE in a read-only transaction"),
])
def test_read_only_transaction_stops_what_the_guard_was_told_to_allow(
        target: Target, permissive: PostgresConnector, sql: str, message: str):
    sql = sql.replace("SELECT evil_insert", "SELECT public.evil_insert")
    ev = permissive.query(req(sql))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith(f"postgres error 25006: {message}")
    assert "READ ONLY transaction" in ev.error
    assert checksum(target.admin) == target.baseline


def test_what_read_only_lets_through_is_rolled_back(target: Target, permissive: PostgresConnector):
    # PostgreSQL lets lo_from_bytea() create a large object even in a READ ONLY transaction;
    # the connector never commits, so it is gone with the ROLLBACK.
    ev = permissive.query(req("SELECT public.evil_lo() IS NOT NULL AS created"))
    assert ev.status == EvidenceStatus.OK
    assert ev.rows == [{"created": True}]
    assert checksum(target.admin) == target.baseline
