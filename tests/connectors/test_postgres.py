"""postgres: reads against a real server — time range, caps, values, errors, secrets, CLI."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from connectors import ConnectorConfigError, EvidenceKind, EvidenceStatus, build_connector
from connectors.postgres import PostgresConnector, PostgresSettings
from connectors.postgres.session import is_transient
from tests.connectors._util import T0, T1, req
from tests.connectors.postgres_fixtures import SECRET, pg_connector, seeded_database
from triage.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, "triage_pg") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def pg(db: str) -> Iterator[PostgresConnector]:
    conn = pg_connector(db)
    yield conn
    conn.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- reads -------------------------------------------------------------------------------------


def test_time_range_is_bound_to_dollar_one_and_two(pg: PostgresConnector):
    sql = "SELECT id, created_at FROM orders WHERE created_at >= $1 AND created_at < $2 ORDER BY id"
    ev = pg.query(req(sql))
    assert ev.status == EvidenceStatus.OK
    assert (ev.connector, ev.kind, ev.query, ev.start, ev.end) == ("prod-db", EvidenceKind.DATABASE,
                                                                   sql, T0, T1)
    assert [row["id"] for row in ev.rows] == list(range(11, 41))
    assert ev.row_count == 30
    assert not ev.truncated
    assert ev.rows[0]["created_at"] == "2024-05-01T12:00:00+00:00"
    assert ev.summary.startswith("30 rows; columns: id, created_at; first row: {'id': 11")
    assert ev.duration_ms > 0


def test_only_the_parameters_used_are_bound(pg: PostgresConnector):
    assert pg.query(req("SELECT count(*) AS n FROM orders WHERE created_at < $2")).rows == [{"n": 40}]
    assert pg.query(req("SELECT count(*) AS n FROM orders")).rows == [{"n": 40}]
    assert pg.query(req("SELECT $1::timestamptz AS s")).rows == [{"s": T0.isoformat()}]


def test_nothing_matched_is_no_data(pg: PostgresConnector):
    ev = pg.query(req("SELECT * FROM orders WHERE status = 'nope'"))
    assert (ev.status, ev.row_count, ev.rows, ev.summary) == (EvidenceStatus.NO_DATA, 0, [],
                                                              "no rows matched")


def test_row_cap_keeps_the_first_rows_and_counts_all(pg: PostgresConnector):
    ev = pg.query(req("SELECT id FROM orders ORDER BY id", limit=5))
    assert [row["id"] for row in ev.rows] == [1, 2, 3, 4, 5]
    assert (ev.row_count, ev.truncated) == (40, True)
    assert ev.summary.startswith("40 rows (first 5 kept); columns: id")


def test_max_rows_setting_caps_below_the_request(db: str):
    conn = pg_connector(db, max_rows=3, count_rows_up_to=10)
    try:
        ev = conn.query(req("SELECT id FROM orders ORDER BY id", limit=500))
    finally:
        conn.close()
    assert [row["id"] for row in ev.rows] == [1, 2, 3]
    assert (ev.row_count, ev.truncated) == (14, True)  # 4 fetched + 10 counted, then it stopped
    assert ev.summary.startswith("14+ rows (first 3 kept)")


def test_rows_are_kept_when_counting_the_rest_runs_out_of_time(db: str):
    # Rows 1-4 come at once and row 5 waits an hour: the FETCH of the first rows finishes well
    # inside the statement timeout however busy the machine, and the MOVE that counts the rest
    # cannot, by construction (no race between the two).
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("CREATE OR REPLACE FUNCTION public.first_rows_then_wait(g integer) "
                      "RETURNS integer LANGUAGE plpgsql VOLATILE AS $$ BEGIN IF g > 4 THEN "
                      "PERFORM pg_sleep(3600); END IF; RETURN g; END $$")
    conn = pg_connector(db, statement_timeout_seconds=2, count_rows_up_to=10_000_000,
                        allowed_functions=["public.first_rows_then_wait"])
    try:
        # in the target list the function runs row by row as the cursor advances
        ev = conn.query(req("SELECT public.first_rows_then_wait(g) AS g "
                            "FROM generate_series(1, 100) AS g", limit=3))
    finally:
        conn.close()
    assert ev.status == EvidenceStatus.OK
    assert [row["g"] for row in ev.rows] == [1, 2, 3]
    assert (ev.row_count, ev.truncated) == (4, True)
    assert ev.summary.startswith("4+ rows (first 3 kept)")


def test_values_become_json_and_long_cells_are_cut(pg: PostgresConnector):
    ev = pg.query(req(
        "SELECT 1.50::numeric AS dec, 2::numeric AS whole, interval '90 seconds' AS iv, "
        "'\\xdeadbeef'::bytea AS raw, '{\"a\": [1, 2]}'::jsonb AS doc, ARRAY[1, 2] AS arr, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '10.0.0.1'::inet AS ip, "
        "NULL::text AS nothing, true AS yes, date '2024-05-01' AS day, 1 AS dup, 2 AS dup"))
    assert ev.rows == [{"dec": 1.5, "whole": 2, "iv": 90.0, "raw": "\\xdeadbeef",
                        "doc": {"a": [1, 2]}, "arr": [1, 2],
                        "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ip": "10.0.0.1",
                        "nothing": None, "yes": True, "day": "2024-05-01", "dup": 1, "dup_2": 2}]
    bio = pg.query(req("SELECT bio FROM users WHERE id = 2")).rows[0]["bio"]
    assert len(bio) < 2100
    assert "chars cut" in bio


def test_secret_columns_and_secret_looking_values_are_redacted(pg: PostgresConnector):
    ev = pg.query(req("SELECT email, password_hash, api_token, "
                      "'ALTER ROLE app PASSWORD ''hunter2''' AS stmt, "
                      "'postgresql://app:hunter2@db/app' AS url FROM users WHERE id = 1"))
    assert ev.rows == [{"email": "a@example.com", "password_hash": "[redacted]",
                        "api_token": "[redacted]", "stmt": "ALTER ROLE app PASSWORD '[redacted]'",
                        "url": "postgresql://app:[redacted]@db/app"}]
    assert "hunter2" not in json.dumps(ev.rows) + ev.summary


def test_a_redaction_hook_sees_every_cell(db: str):
    settings = PostgresSettings(dsn=db, redact_columns=[])
    seen: list[str] = []

    def hook(column: str, value: Any) -> Any:
        seen.append(column)
        return "<email>" if column == "email" else value

    conn = PostgresConnector("hooked", settings, redact=hook)
    try:
        ev = conn.query(req("SELECT id, email, api_token FROM users ORDER BY id"))
    finally:
        conn.close()
    assert ev.rows == [{"id": 1, "email": "<email>", "api_token": "tok_live_123"},
                       {"id": 2, "email": "<email>", "api_token": "tok_live_456"}]
    assert seen == ["id", "email", "api_token"] * 2


def test_show_and_explain_run_without_a_cursor(pg: PostgresConnector):
    ev = pg.query(req("SHOW statement_timeout"))
    assert ev.rows == [{"statement_timeout": "3s"}]  # our SET LOCAL, inside the transaction
    ev = pg.query(req("SHOW transaction_read_only"))
    assert ev.rows == [{"transaction_read_only": "on"}]
    ev = pg.query(req("EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE created_at >= $1"))
    assert ev.status == EvidenceStatus.OK
    assert ev.rows[0]["QUERY PLAN"].startswith("Seq Scan on orders")


def test_link_template_carries_the_query_and_window(db: str):
    conn = pg_connector(db, link_template="https://console.example/sql?db={database}&q={query}"
                                          "&from={start}&to={end}")
    try:
        ev = conn.query(req("SELECT 1 AS a"))
    finally:
        conn.close()
    database = db.rsplit("/", 1)[1]
    assert ev.link == (f"https://console.example/sql?db={database}&q=SELECT%201%20AS%20a"
                       "&from=2024-05-01T12%3A00%3A00%2B00%3A00&to=2024-05-01T13%3A00%3A00%2B00%3A00")
    plain = pg_connector(db)
    try:  # closed here: a pool left to the garbage collector is joined from a foreign thread
        assert plain.query(req("SELECT 1")).link is None
    finally:
        plain.close()


def test_parallel_queries_share_the_pool(pg: PostgresConnector):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: pg.query(req(f"SELECT {i} AS i")).rows, range(32)))
    assert results == [[{"i": i}] for i in range(32)]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "error"), [
    ("SELECT nosuch FROM orders",
     'postgres error 42703: column "nosuch" does not exist (at character 8)'),
    ("SELECT 1 / 0", "postgres error 22012: division by zero"),
    ("SELECT * FROM missing_table",
     'postgres error 42P01: relation "missing_table" does not exist (at character 15)'),
    ("SHOW no_such_setting", 'postgres error 42704: unrecognized configuration parameter "no_such_setting"'),
    ("SELECT 'x'::integer", 'postgres error 22P02: invalid input syntax for type integer: "x" '
                            "(at character 8)"),
    ("SELECT * FROM orders WHERE", 'refused: not valid PostgreSQL: syntax error at end of input'),
])
def test_backend_errors_carry_its_message_and_the_exact_query(pg: PostgresConnector, sql: str,
                                                               error: str):
    ev = pg.query(req(sql))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.query == sql
    assert ev.error is not None
    assert ev.error.startswith(error)
    assert ev.summary == ev.error


def test_statement_timeout_cancels_a_slow_read(db: str):
    conn = pg_connector(db, statement_timeout_seconds=0.2)
    try:
        ev = conn.query(req("SELECT count(*) FROM generate_series(1, 10000000000)"))
    finally:
        conn.close()
    assert ev.error == ("postgres error 57014: canceling statement due to statement timeout "
                        "(statement_timeout is 0.2s)")
    assert ev.duration_ms < 2000


def test_lock_timeout_names_the_cause(db: str, postgres_dsn: str):
    holder = psycopg.connect(db)
    holder.execute("LOCK TABLE audit IN ACCESS EXCLUSIVE MODE")
    conn = pg_connector(db, lock_timeout_seconds=0.2)
    try:
        ev = conn.query(req("SELECT count(*) FROM audit"))
    finally:
        conn.close()
        holder.rollback()
        holder.close()
    assert ev.error is not None
    assert ev.error.startswith("postgres error 55P03: canceling statement due to lock timeout")
    assert "see \\blocking" in ev.error


def test_a_server_that_is_down_is_reported_quickly():
    port = _closed_port()
    conn = pg_connector(f"postgresql://postgres@127.0.0.1:{port}/app", retry_attempts=2)
    try:
        ev = conn.query(req("SELECT 1"))
        check = conn.check()
    finally:
        conn.close()
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith(f"cannot reach PostgreSQL at 127.0.0.1:{port}/app: connection failed")
    assert "Connection refused" in ev.error
    assert ev.duration_ms < 5000
    assert (check.reachable, check.can_write) == (False, None)
    assert "Connection refused" in check.details[0]


def test_a_missing_database_is_not_retried(db: str):
    conn = pg_connector(db.rsplit("/", 1)[0] + "/no_such_db", retry_attempts=5)
    try:
        ev = conn.query(req("SELECT 1"))
    finally:
        conn.close()
    assert ev.error is not None
    assert 'database "no_such_db" does not exist' in ev.error
    assert ev.duration_ms < 1000  # one attempt, no backoff


def test_dead_pooled_connections_are_replaced(db: str, postgres_dsn: str):
    conn = pg_connector(db, application_name="triage-restart-test")
    try:
        assert conn.query(req("SELECT 1 AS one")).rows == [{"one": 1}]
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'triage-restart-test'")
        assert conn.query(req("SELECT 2 AS two")).rows == [{"two": 2}]
    finally:
        conn.close()


@pytest.mark.parametrize(("error", "transient"), [
    (psycopg.OperationalError("connection failed: Connection refused"), True),
    (psycopg.OperationalError("server closed the connection unexpectedly"), True),
    (psycopg.OperationalError('FATAL:  password authentication failed for user "x"'), False),
    (psycopg.OperationalError('FATAL:  database "x" does not exist'), False),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    (psycopg.errors.LockNotAvailable("lock timeout"), False),
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.SerializationFailure("could not serialize"), True),
    (psycopg.errors.UndefinedColumn("nope"), False),
    (ValueError("not a database error"), False),
])
def test_only_transient_errors_are_retried(error: BaseException, transient: bool):
    assert is_transient(error) is transient


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    ({"dsn": f"postgresql://app:{SECRET}@db/app"}, "dsn must not contain a password"),
    ({"dsn": f"host=db password={SECRET}"}, "dsn must not contain a password"),
    ({"dsn": f"host=db password {SECRET}"}, "dsn is not a valid libpq"),
    ({}, "set `dsn` or `host`"),
    ({"host": "db", "pool_min_size": 5, "pool_max_size": 2}, "pool_min_size must not exceed"),
    ({"host": "db", "allowed_functions": ["pg_terminate_backend"]}, "can never be allowed"),
    ({"host": "db", "allowed_functions": ["x; DROP"]}, "is not a function name"),
    ({"host": "db", "redact_columns": ["("]}, "bad regular expression"),
    ({"host": "db", "link_template": "https://x/{nope}"}, "link_template may use only"),
    ({"host": "db", "password": "plain"}, "password"),
    ({"host": "db", "statement_timeout_seconds": 0}, "statement_timeout_seconds"),
    ({"host": "db", "max_rows": 0}, "max_rows"),
    ({"host": "db", "mode": "rw"}, "mode"),
])
def test_bad_settings_are_config_errors_that_never_echo_a_password(tmp_path: Path, raw: dict[str, Any],
                                                                    message: str):
    with pytest.raises(ConnectorConfigError) as info:
        build_connector("prod-db", {"type": "postgres", **raw}, tmp_path)
    assert message in str(info.value)
    assert SECRET not in str(info.value)


def test_host_parts_and_relative_paths(tmp_path: Path):
    conn = build_connector("prod-db", {"type": "postgres", "host": "db.internal", "port": 6432,
                                       "dbname": "app", "user": "triage_ro", "sslmode": "verify-full",
                                       "sslrootcert": "certs/ca.pem"}, tmp_path)
    assert isinstance(conn, PostgresConnector)
    assert conn.settings.sslrootcert == (tmp_path / "certs" / "ca.pem").resolve()
    assert conn.settings.target() == "db.internal:6432/app"
    kwargs = conn.settings.connect_kwargs()
    assert {k: kwargs[k] for k in ("host", "port", "dbname", "user", "sslmode")} == {
        "host": "db.internal", "port": 6432, "dbname": "app", "user": "triage_ro",
        "sslmode": "verify-full"}
    conn.close()


def test_an_unset_password_variable_names_the_variable_only(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TRIAGE_TEST_PG_PW", raising=False)
    with pytest.raises(ConnectorConfigError, match="environment variable TRIAGE_TEST_PG_PW"):
        build_connector("prod-db", {"type": "postgres", "host": "db",
                                    "password": {"env": "TRIAGE_TEST_PG_PW"}}, tmp_path)


# -- secrets -----------------------------------------------------------------------------------


def test_the_password_never_appears_in_evidence_checks_or_logs(
        db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.setenv("TRIAGE_TEST_PG_PW", SECRET)
    caplog.set_level(logging.DEBUG)
    base = db.rsplit("/", 1)[0]
    outputs: list[str] = []
    for dsn in (db, f"{base}/no_such_db", f"postgresql://postgres@127.0.0.1:{_closed_port()}/x"):
        conn = pg_connector(dsn, password={"env": "TRIAGE_TEST_PG_PW"}, retry_attempts=1)
        try:
            for sql in ("SELECT bio FROM users WHERE id = 1", "SELECT nosuch", "DELETE FROM users",
                        "SELECT 1 / 0", "\\connections"):
                outputs.append(conn.query(req(sql)).model_dump_json())
            outputs.append(conn.check().model_dump_json())
        finally:
            conn.close()
    first = json.loads(outputs[0])
    assert first["rows"] == [{"bio": "my db password is [redacted]"}]  # the value held our secret
    joined = "\n".join(outputs)
    assert "does not exist" in joined and "Connection refused" in joined
    assert SECRET not in joined
    assert SECRET not in caplog.text
    assert all(SECRET not in repr(record.args) for record in caplog.records)


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_config(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    monkeypatch.delenv("TRIAGE_CONFIG", raising=False)
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(
        {"connectors": {"prod-db": {"type": "postgres", "dsn": db}}}))
    return tmp_path


def test_cli_query_prints_evidence_as_json(cli_config: Path):
    result = runner.invoke(app, ["query", "prod-db", "SELECT count(*) AS n FROM orders "
                                 "WHERE created_at >= $1 AND created_at < $2",
                                 "--since", "2024-05-01T12:00:00Z", "--until",
                                 "2024-05-01T13:00:00Z", "--json"])
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.output)
    assert (evidence["status"], evidence["rows"]) == ("ok", [{"n": 30}])


def test_cli_query_refuses_a_write_and_exits_non_zero(cli_config: Path):
    result = runner.invoke(app, ["query", "prod-db", "WITH d AS (DELETE FROM orders RETURNING 1) "
                                 "SELECT * FROM d"])
    assert result.exit_code == 1
    assert "refused: DELETE is not allowed inside a query" in result.output


def test_cli_diagnostic(cli_config: Path):
    result = runner.invoke(app, ["query", "prod-db", "\\connections"])
    assert result.exit_code == 0, result.output
    assert "connections in use" in result.output


def test_cli_connectors_test_warns_loudly_for_a_superuser(cli_config: Path):
    result = runner.invoke(app, ["connectors", "test", "prod-db"])
    assert result.exit_code == 1
    assert "prod-db (database): ok" in result.output
    assert "CAN WRITE: superuser" in result.output
    assert "WARNING: the credentials of 'prod-db' CAN WRITE" in result.output


def test_queries_do_not_leave_sessions_in_transaction(pg: PostgresConnector, postgres_dsn: str):
    pg.query(req("SELECT 1"))
    pg.query(req("SELECT nosuch"))
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        states = admin.execute("SELECT state FROM pg_stat_activity "
                               "WHERE application_name = 'sre-triage'").fetchall()
    assert states and {state for (state,) in states} == {"idle"}


def test_every_transaction_carries_the_configured_timeouts(db: str):
    # The connector never idles inside a transaction; the server-side idle timeout is the
    # backstop for a client that dies mid-transaction.
    conn = pg_connector(db, idle_in_transaction_timeout_seconds=0.25)
    try:
        ev = conn.query(req("SELECT current_setting('idle_in_transaction_session_timeout') AS t, "
                            "current_setting('lock_timeout') AS l"))
    finally:
        conn.close()
    assert ev.rows == [{"t": "250ms", "l": "2s"}]
