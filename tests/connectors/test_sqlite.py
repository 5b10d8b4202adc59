"""sqlite: the read-only guard holds against every write or escape we can think of."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from connectors import EvidenceKind, EvidenceStatus
from tests.connectors._util import at, connector, req

ROWS = [(at(s).isoformat(), level, msg) for s, level, msg in [
    (-60, "info", "before the window"),
    (0, "error", "at start"),
    (30, "warn", "inside"),
    (90, "error", "inside later"),
    (3600, "error", "at end: excluded"),
]]


def make_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE events (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, level TEXT, msg TEXT);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT);
        CREATE INDEX events_ts ON events (ts);
        CREATE INDEX events_level ON events (level COLLATE NOCASE);
        CREATE VIEW errors AS SELECT * FROM events WHERE level = 'error';
        CREATE TRIGGER events_audit AFTER INSERT ON events
            BEGIN INSERT INTO audit (note) VALUES ('inserted ' || NEW.id); END;
    """)
    conn.executemany("INSERT INTO events (ts, level, msg) VALUES (?, ?, ?)", ROWS)
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    return path


def checksum(path: Path) -> str:
    """Every table's content, the schema and the header fields, read through a ro connection."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        master = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        digest.update(repr(master).encode())
        for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
            rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            digest.update(repr((name, rows)).encode())
        for pragma in ("user_version", "journal_mode", "schema_version", "page_count"):
            digest.update(repr(conn.execute(f"PRAGMA {pragma}").fetchall()).encode())
    finally:
        conn.close()
    return digest.hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db")


@pytest.fixture
def sqlite_conn(db: Path):
    return connector("sqlite", db, name="appdb", timeout_seconds=1.0)


# `{out}` is replaced by a path (in tmp_path) that must not exist after the attempt.
WRITES = [
    "INSERT INTO events (ts, level, msg) VALUES ('2024-05-01T12:00:01+00:00', 'x', 'x')",
    "INSERT INTO audit (note) SELECT msg FROM events",
    "INSERT INTO events (ts) VALUES ('t') RETURNING id",
    "INSERT OR REPLACE INTO events (id, ts) VALUES (1, 't')",
    "REPLACE INTO events (id, ts) VALUES (1, 't')",
    "UPDATE events SET msg = 'pwned'",
    "UPDATE events SET msg = 'pwned' WHERE id = 1 RETURNING *",
    "DELETE FROM events",
    "DELETE FROM audit WHERE 1 RETURNING id",
    "DROP TABLE events",
    "DROP TABLE IF EXISTS audit",
    "DROP INDEX events_ts",
    "DROP VIEW errors",
    "DROP TRIGGER events_audit",
    "CREATE TABLE t2 (a)",
    "CREATE TABLE t3 AS SELECT * FROM events",
    "CREATE TEMP TABLE t4 (a)",
    "CREATE INDEX ix ON events (msg)",
    "CREATE VIEW v2 AS SELECT 1",
    "CREATE TRIGGER tr AFTER DELETE ON events BEGIN SELECT 1; END",
    "CREATE VIRTUAL TABLE vt USING fts5(x)",
    "ALTER TABLE events ADD COLUMN extra TEXT",
    "ALTER TABLE events RENAME TO renamed",
    "ALTER TABLE events RENAME COLUMN msg TO message",
    "ATTACH DATABASE '{out}' AS side",
    "ATTACH DATABASE ':memory:' AS mem",
    "ATTACH 'file:{out}?mode=rwc' AS side",
    "DETACH DATABASE main",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 1",
    "PRAGMA query_only = OFF",
    "PRAGMA foreign_keys = ON",
    "PRAGMA user_version",
    "VACUUM",
    "VACUUM INTO '{out}'",
    "VACUUM main INTO '{out}'",
    "REINDEX",
    "REINDEX events_ts",
    "REINDEX events",
    "REINDEX NOCASE",
    "ANALYZE",
    "ANALYZE events",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "BEGIN EXCLUSIVE",
    "COMMIT",
    "END",
    "ROLLBACK",
    "SAVEPOINT sp",
    "RELEASE sp",
    "SELECT 1; DELETE FROM events",
    "SELECT * FROM events; SELECT * FROM audit",
    "WITH x AS (SELECT 'a' AS note) INSERT INTO audit (note) SELECT note FROM x",
    "WITH x AS (SELECT 1) DELETE FROM events",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT load_extension('{out}', 'entry')",
    "SELECT randomblob(1000000000)",
    "SELECT hex(randomblob(16)) FROM events",
    "SELECT zeroblob(1000000000)",
    "SELECT length(zeroblob(10)) FROM events WHERE id = 1",
    "SELECT * FROM pragma_table_info('events')",
]


def run(conn, sql: str, out: Path):
    return conn.query(req(sql.replace("{out}", str(out))))


def test_corpus_is_large_enough():
    assert len(WRITES) >= 25


@pytest.mark.parametrize("sql", WRITES)
def test_write_or_escape_attempt_is_error_and_changes_nothing(
        sqlite_conn, db: Path, tmp_path: Path, sql: str):
    out = tmp_path / "escape.db"
    before, files_before = checksum(db), db.read_bytes()
    ev = run(sqlite_conn, sql, out)
    assert ev.status == EvidenceStatus.ERROR, (sql, ev.status, ev.rows)
    assert ev.error is not None
    assert ev.error.startswith(("sqlite refused or failed: ", "refused: only SELECT / WITH / VALUES"))
    assert ev.query == sql.replace("{out}", str(out))
    assert ev.rows == []
    assert checksum(db) == before
    assert db.read_bytes() == files_before
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_whole_corpus_leaves_database_identical(sqlite_conn, db: Path, tmp_path: Path):
    out = tmp_path / "escape.db"
    before, bytes_before = checksum(db), db.read_bytes()
    statuses = {sql: run(sqlite_conn, sql, out).status for sql in WRITES}
    assert {s for s in statuses.values()} == {EvidenceStatus.ERROR}, statuses
    assert checksum(db) == before
    assert db.read_bytes() == bytes_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    # and the database still answers reads
    assert run(sqlite_conn, "SELECT count(*) AS n FROM events", out).rows == [{"n": 5}]


DENIED_FN = "sqlite refused or failed: not authorized to use function: "


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT randomblob(4)", DENIED_FN + "randomblob"),
    ("SELECT zeroblob(4)", DENIED_FN + "zeroblob"),
    ("SELECT load_extension('x')", DENIED_FN + "load_extension"),
    ("SELECT RandomBlob(4)", DENIED_FN + "RandomBlob"),
    ("DELETE FROM events", "refused: only SELECT / WITH / VALUES statements run here, not DELETE"),
    ("/* hidden */ -- comment\n  PRAGMA user_version = 7",
     "refused: only SELECT / WITH / VALUES statements run here, not PRAGMA"),
    ("WITH x AS (SELECT 1) DELETE FROM events", "sqlite refused or failed: not authorized"),
    ("SELECT 1; SELECT 2",
     "sqlite refused or failed: You can only execute one statement at a time."),
])
def test_refusal_messages_are_precise(sqlite_conn, sql: str, message: str):
    assert sqlite_conn.query(req(sql)).error == message


def test_noop_reindex_is_refused_too(tmp_path: Path):
    path = tmp_path / "plain.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    ev = connector("sqlite", path).query(req("REINDEX"))
    assert ev.status == EvidenceStatus.ERROR


# --- reads --------------------------------------------------------------------------------------

SELECT_WINDOW = "SELECT id, ts, level, msg FROM events WHERE ts >= :start AND ts < :end ORDER BY ts"


def test_select_binds_start_and_end(sqlite_conn):
    request = req(SELECT_WINDOW)
    ev = sqlite_conn.query(request)
    assert ev.status == EvidenceStatus.OK
    assert (ev.connector, ev.kind, ev.query) == ("appdb", EvidenceKind.DATABASE, SELECT_WINDOW)
    assert [r["msg"] for r in ev.rows] == ["at start", "inside", "inside later"]
    assert ev.row_count == 3
    assert ev.truncated is False
    assert ev.rows[0] == {"id": 2, "ts": ROWS[1][0], "level": "error", "msg": "at start"}
    assert ev.summary == f"3 rows; columns: id, ts, level, msg; first row: {ev.rows[0]}"


def test_only_one_bound_parameter_is_fine(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT msg FROM events WHERE ts < :end ORDER BY id"))
    assert [r["msg"] for r in ev.rows] == [
        "before the window", "at start", "inside", "inside later"]


def test_no_parameters_and_views_and_ctes_are_reads(sqlite_conn):
    assert sqlite_conn.query(req("SELECT count(*) AS n FROM errors")).rows == [{"n": 3}]
    ev = sqlite_conn.query(req(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4) "
        "SELECT sum(x) AS s FROM c"))
    assert ev.rows == [{"s": 10}]
    assert sqlite_conn.query(req("SELECT name FROM sqlite_master WHERE type = 'view'")).rows == [
        {"name": "errors"}]


def test_row_limit_truncates(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT id FROM events ORDER BY id", limit=2))
    assert ev.status == EvidenceStatus.OK
    assert ev.rows == [{"id": 1}, {"id": 2}]
    assert ev.truncated is True
    assert ev.row_count == len(ROWS)  # exact: the rest is counted, not kept
    assert ev.sampling is None  # no time column: the first rows, in the statement's order
    assert ev.summary.startswith("5 rows (first 2 kept); columns: id; first row: {'id': 1}")


def test_exactly_limit_rows_is_not_truncated(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT id FROM events", limit=5))
    assert (len(ev.rows), ev.row_count, ev.truncated) == (5, 5, False)
    assert ev.summary.startswith("5 rows; ")


def test_long_text_cell_is_clipped(tmp_path: Path):
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", ("x" * 5000,))
    conn.commit()
    conn.close()
    ev = connector("sqlite", path).query(req("SELECT v FROM t"))
    assert ev.rows[0]["v"] == "x" * 1000 + "…[3000 chars cut]…" + "x" * 1000


def test_no_rows_is_no_data(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT * FROM events WHERE level = 'fatal'"))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.summary == "no rows matched"
    assert ev.row_count == 0


def test_syntax_error_is_error_evidence_with_backend_message(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT * FRM events"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == 'sqlite refused or failed: near "FRM": syntax error'
    assert ev.query == "SELECT * FRM events"


def test_unknown_table_is_error_evidence(sqlite_conn):
    ev = sqlite_conn.query(req("SELECT * FROM nope"))
    assert ev.error == "sqlite refused or failed: no such table: nope"


def test_missing_database_file_is_error_and_not_created(tmp_path: Path):
    path = tmp_path / "missing.db"
    ev = connector("sqlite", path).query(req("SELECT 1"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"database file not found: {path}"
    assert not path.exists()


def test_not_a_database_is_error_evidence(tmp_path: Path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a sqlite file at all" * 10)
    ev = connector("sqlite", path).query(req("SELECT * FROM sqlite_master"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == "sqlite refused or failed: file is not a database"
    assert path.read_bytes() == b"this is not a sqlite file at all" * 10


def test_runaway_query_is_cancelled_at_the_statement_timeout(db: Path):
    slow = connector("sqlite", db, name="appdb", statement_timeout_seconds=0.2)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    ev = slow.query(req(endless))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == "query cancelled after the 0.2s statement timeout"
    assert ev.query == endless
