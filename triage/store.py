"""Persistence with SQLAlchemy Core: SQLite by default, PostgreSQL through TRIAGE_DATABASE_URL.

The store shares its database with DBOS's system tables, so that persisting an alert and
enqueueing its investigation commit in one transaction: an accepted alert is never lost.

Schema upgrades: a fresh database is created at the newest schema and stamped with
`SCHEMA_VERSION`; an older one gets each function in `MIGRATIONS` above its stamp, in order,
in one transaction. A schema change bumps `SCHEMA_VERSION` and appends its migration.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from triage.models import utcnow


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "triage_schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("dedup_key", sa.String(512), nullable=False),
    sa.Column("external_id", sa.String(512)),
    sa.Column("service", sa.String(256)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("payload", sa.JSON, nullable=False),
    # Assigned when the alert is accepted, before its investigation row exists (see
    # `intake_pending`), so that a repeat of the alert can name the investigation it joined.
    sa.Column("investigation_id", sa.String(64)),
    sa.UniqueConstraint("source", "dedup_key", name="uq_alerts_source_dedup"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("delivery_key", sa.String(512), primary_key=True),
    sa.Column("alert_id", sa.String(64)),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
)

investigations = sa.Table(
    "investigations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id"), nullable=False, unique=True),
    sa.Column("service", sa.String(256)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("brain", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("summary", sa.Text),
    sa.Column("error", sa.Text),
)

stage_runs = sa.Table(
    "stage_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("investigation_id", sa.String(64), nullable=False, index=True),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("worker_id", sa.String(128), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", sa.String(160), primary_key=True),
    sa.Column("investigation_id", sa.String(64), nullable=False, index=True),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("arguments", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("investigation_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False),
)

# One row per Claude model turn: a resumed worker replays finished turns instead of paying again.
model_turns = sa.Table(
    "model_turns",
    metadata,
    sa.Column("investigation_id", sa.String(64), primary_key=True),
    sa.Column("turn", sa.Integer, primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("usage", sa.JSON, nullable=False),
    sa.Column("tool_results", sa.JSON),  # the answer sent back, once the turn's tools ran
    sa.Column("created_at", UtcDateTime, nullable=False),
)


# One row per note posted to an incident: a resumed note stage finds it and does not post again.
incident_notes = sa.Table(
    "incident_notes",
    metadata,
    sa.Column("investigation_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # first | final
    sa.Column("incident_id", sa.String(64), nullable=False),
    sa.Column("note_id", sa.String(64), nullable=False),
    sa.Column("posted_at", UtcDateTime, nullable=False),
    sa.Column("recovered", sa.Boolean, nullable=False),  # found on the incident after a crash
)


# One row per Slack message of an investigation's thread: a resumed stage finds it, posts no twin.
slack_messages = sa.Table(
    "slack_messages",
    metadata,
    sa.Column("investigation_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # parent | first | final
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),  # Slack's message id within the channel
    sa.Column("posted_at", UtcDateTime, nullable=False),
    sa.Column("recovered", sa.Boolean, nullable=False),  # found in the channel after a crash
)

# What people said about a verdict (Slack buttons and modal today): who, when, what.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("investigation_id", sa.String(64), nullable=False, index=True),
    sa.Column("verdict", sa.String(16), nullable=False),  # right | wrong
    sa.Column("category", sa.String(64)),
    sa.Column("culprit", sa.String(64)),  # the commit that really caused it
    sa.Column("note", sa.Text),
    sa.Column("source", sa.String(16), nullable=False),  # slack | cli | pagerduty
    sa.Column("author", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)


# Accepted alerts whose investigation is not created and enqueued yet: the webhook's 202 commits
# the alert and this row; the background step (triage.intake.promote) turns each row into its
# investigation and DBOS workflow and deletes it, in one transaction (so exactly once).
intake_pending = sa.Table(
    "intake_pending",
    metadata,
    sa.Column("investigation_id", sa.String(64), primary_key=True),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
)


def _add_model_turns(conn: Connection) -> None:
    """Version 2: the Claude brain's durable model turns."""
    model_turns.create(conn, checkfirst=True)


def _add_incident_notes(conn: Connection) -> None:
    """Version 3: the ids of PagerDuty notes posted, so each is posted once."""
    incident_notes.create(conn, checkfirst=True)


def _add_slack_and_feedback(conn: Connection) -> None:
    """Version 4: Slack messages posted (each posted once) and feedback on verdicts."""
    slack_messages.create(conn, checkfirst=True)
    feedback.create(conn, checkfirst=True)


def _add_intake_pending(conn: Connection) -> None:
    """Version 5: alerts carry their investigation's id; accepted alerts wait in intake_pending."""
    # Idempotent, as every migration here: a database restamped lower runs them again.
    if "investigation_id" not in {c["name"] for c in sa.inspect(conn).get_columns("alerts")}:
        conn.execute(sa.text("ALTER TABLE alerts ADD COLUMN investigation_id VARCHAR(64)"))
        conn.execute(sa.text("UPDATE alerts SET investigation_id = (SELECT i.id FROM "
                             "investigations i WHERE i.alert_id = alerts.id)"))
    intake_pending.create(conn, checkfirst=True)


_UPGRADE_LOCK = 0x7472696167  # "triag": the advisory lock that serialises schema upgrades
SCHEMA_VERSION = 5
# MIGRATIONS[n] upgrades a database stamped n+1 to n+2.
MIGRATIONS: list[Callable[[Connection], None]] = [_add_model_turns, _add_incident_notes,
                                                  _add_slack_and_feedback, _add_intake_pending]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API thread read while a worker writes; busy_timeout waits instead of failing.
    # Autocommit at the driver level, so that SQLAlchemy's "begin" event below decides how each
    # transaction begins (pysqlite would otherwise BEGIN lazily, at the first write).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the store's URL, tuned for concurrent readers and one writer on SQLite."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A server can drop a pooled connection (restart, failover): PostgreSQL connections are
    # checked on checkout. A SQLite file cannot go away under us, and the check cost a third of
    # an empty transaction.
    engine = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Connection) -> None:
    # Writers take SQLite's write lock up front (BEGIN IMMEDIATE), so a transaction's reads and
    # writes see one snapshot; readers begin deferred and never block writers (WAL).
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Store:
    """Owns the engine and the schema; queries live in `triage.repository`."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time and its busy handler sleeps in steps of up to 100 ms;
        # queueing writers on a lock wakes the next one the moment the lock frees: a thread lock
        # within this process, and a file lock beside the database across processes (several
        # API processes, workers).
        self._write_lock = threading.Lock()
        database = self.engine.url.database if self._sqlite else None
        self._write_lock_file = (os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
                                 if database and database != ":memory:" else None)
        # Request handlers hand their writes to these threads: one for SQLite (its single writer
        # never waits on a lock), a few for PostgreSQL (matching the connection pool).
        self.writers = ThreadPoolExecutor(max_workers=1 if self._sqlite else 8,
                                          thread_name_prefix="store-writer")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One read-write transaction, committed on success and rolled back on any error."""
        if not self._sqlite:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self._across_processes(), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _across_processes(self) -> Iterator[None]:
        if self._write_lock_file is None:
            yield
            return
        fcntl.flock(self._write_lock_file, fcntl.LOCK_EX)  # waits with the GIL released
        try:
            yield
        finally:
            fcntl.flock(self._write_lock_file, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction (a consistent snapshot; never blocks writers)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    def _version_in(conn: Connection) -> int | None:
        if not sa.inspect(conn).has_table(schema_version.name):
            return None
        return conn.execute(sa.select(schema_version.c.version)).scalar_one_or_none()

    def current_version(self) -> int | None:
        """The stamped schema version, or None for an empty database."""
        if not sa.inspect(self.engine).has_table(schema_version.name):
            return None
        with self.engine.connect() as conn:
            return conn.execute(sa.select(schema_version.c.version)).scalar_one_or_none()

    def upgrade(self) -> int:
        """Create or migrate the schema to `SCHEMA_VERSION`; return the version now in place."""
        with self.transaction() as conn:
            if not self._sqlite:
                # Processes starting together (API + workers) must not race to create the schema:
                # the first takes this transaction-scoped lock, the others then see its stamp.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            found = self._version_in(conn)
            if found is None:
                metadata.create_all(conn)
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                return SCHEMA_VERSION
            if found > SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema {found} is newer than this build ({SCHEMA_VERSION}); "
                    "upgrade the triage package"
                )
            for migration in MIGRATIONS[found - 1 :]:
                migration(conn)
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        return SCHEMA_VERSION

    def dispose(self) -> None:
        """Stop the writer threads and close pooled connections."""
        self.writers.shutdown(wait=True)
        self.engine.dispose()
        if self._write_lock_file is not None:
            os.close(self._write_lock_file)
            self._write_lock_file = None


def now() -> datetime:
    """Timestamp for store rows."""
    return utcnow()
