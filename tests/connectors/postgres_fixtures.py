"""Helpers for the PostgreSQL connector tests: a seeded database on the suite's real server
(`postgres_dsn`, see tests/postgres.py), sessions that hold locks, roles, and a checksum of
everything a write could change."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from connectors import build_connector
from connectors.postgres import PostgresConnector
from tests.connectors._util import T0
from tests.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
READONLY_ROLE_SQL = ROOT / "infra" / "sql" / "readonly_role.sql"
SECRET = "pg-pw-9WplantedK3y-Qq77"  # planted: must never appear in Evidence, checks or logs

SCHEMA = """
CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL, amount numeric(10, 2),
                     created_at timestamptz NOT NULL, note text);
CREATE TABLE audit (id bigserial PRIMARY KEY, happened text NOT NULL);
CREATE TABLE users (id integer PRIMARY KEY, email text, password_hash text, api_token text,
                    bio text);
CREATE SEQUENCE counter_seq;
CREATE VIEW failed_orders AS SELECT * FROM orders WHERE status = 'failed';
CREATE FUNCTION evil_insert() RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO audit (happened) VALUES ('evil_insert'); RETURN 1; END $$;
CREATE FUNCTION evil_delete() RETURNS SETOF integer LANGUAGE sql AS
    $$ DELETE FROM orders RETURNING id $$;
CREATE FUNCTION evil_update(t text) RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN UPDATE orders SET note = t; RETURN 1; END $$;
CREATE FUNCTION evil_nextval() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('counter_seq') $$;
CREATE FUNCTION evil_ddl() RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN EXECUTE 'DROP TABLE audit'; RETURN 1; END $$;
CREATE FUNCTION evil_lo() RETURNS oid LANGUAGE sql AS $$ SELECT lo_from_bytea(0, 'x') $$;
CREATE FUNCTION evil_op(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO audit (happened) VALUES ('operator'); RETURN true; END $$;
CREATE OPERATOR === (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil_op);
CREATE PROCEDURE evil_proc() LANGUAGE sql AS $$ DELETE FROM audit $$;
CREATE FUNCTION order_total() RETURNS numeric LANGUAGE sql STABLE AS
    $$ SELECT sum(amount) FROM orders $$;
"""
# Side-effect functions a deployment could (wrongly) allow: the READ ONLY transaction stops them.
WRITING_FUNCTIONS = ["public.evil_insert", "public.evil_delete", "public.evil_update",
                     "public.evil_nextval", "public.evil_ddl", "public.evil_lo"]
STATUSES = ["paid", "paid", "failed", "paid", "refunded"]


def seed(dsn: str) -> None:
    """Create the schema and 40 orders, one every 2 minutes from T0 - 20 min."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)  # no parameters: psycopg sends the script as one simple query
        with contextlib.suppress(psycopg.Error):  # contrib may be missing; the guard refuses anyway
            conn.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO orders (status, amount, created_at, note) VALUES (%s, %s, %s, %s)",
                [(STATUSES[i % 5], 10 + i, T0 - timedelta(minutes=20 - 2 * i),
                  f"order {i}") for i in range(40)])
            cur.executemany(
                "INSERT INTO users (id, email, password_hash, api_token, bio) VALUES (%s, %s, %s, %s, %s)",
                [(1, "a@example.com", "scrypt$abc", "tok_live_123", f"my db password is {SECRET}"),
                 (2, "b@example.com", "scrypt$def", "tok_live_456", "x" * 5000)])
        conn.execute("ANALYZE")


@contextmanager
def seeded_database(admin_dsn: str, prefix: str) -> Iterator[str]:
    """A fresh, seeded database for one test module; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = fresh_database(admin_dsn, name)
    seed(dsn)
    try:
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def pg_connector(dsn: str, name: str = "prod-db", **settings: Any) -> PostgresConnector:
    """A connector built through the registry, exactly as triage.yaml would."""
    raw = {"type": "postgres", "dsn": dsn, "pool_timeout_seconds": 2.0,
           "statement_timeout_seconds": 3.0, **settings}
    connector = build_connector(name, raw, Path.cwd())
    assert isinstance(connector, PostgresConnector)
    return connector


def with_user(dsn: str, user: str) -> str:
    """The same server and database, as another role."""
    rest = dsn.split("://", 1)[1].split("@", 1)[1]
    return f"postgresql://{user}@{rest}"


def checksum(admin_dsn: str) -> dict[str, str]:
    """A digest of every table and sequence, and of the cluster-level state a write could touch."""
    state: dict[str, str] = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        relations = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname !~ '^pg_(toast|temp_)' AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'i') "
            "ORDER BY 1, 2").fetchall()
        state["relations"] = repr(relations)
        for schema, name, kind in relations:
            ident = sql.Identifier(schema, name)
            if kind in ("r", "p", "m"):
                query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                                "FROM {} t").format(ident)
            elif kind == "S":
                query = sql.SQL("SELECT last_value::text || '/' || is_called::text FROM {}").format(ident)
            else:
                continue
            row = conn.execute(query).fetchone()
            state[f"{schema}.{name}"] = str(row[0] if row else None)
        for label, text in {
            "functions": "SELECT string_agg(p.oid::regprocedure::text, ',' ORDER BY 1) FROM pg_proc p "
                         "WHERE p.pronamespace = 'public'::regnamespace",
            "roles": "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles",
            "databases": "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database",
            "extensions": "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
            "large_objects": "SELECT count(*) FROM pg_largeobject_metadata",
            "advisory_locks": "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
            "prepared": "SELECT count(*) FROM pg_prepared_xacts",
            "slots": "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots",
            "config_files": "SELECT string_agg(name || '=' || coalesce(setting, ''), ',' "
                            "ORDER BY name, seqno) FROM pg_file_settings",
            "comments": "SELECT string_agg(description, ',' ORDER BY description) FROM pg_description d "
                        "JOIN pg_class c ON c.oid = d.objoid WHERE c.relnamespace = 'public'::regnamespace",
        }.items():
            row = conn.execute(text).fetchone()
            state[label] = str(row[0] if row else None)
    return state


def digest(state: dict[str, str]) -> str:
    """One hash over a `checksum` result."""
    return hashlib.sha256(repr(sorted(state.items())).encode()).hexdigest()


def session_state(admin_dsn: str, pid: int) -> tuple[str | None, str | None]:
    """(state, wait_event_type) of one backend."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT state, wait_event_type FROM pg_stat_activity WHERE pid = %s",
                           [pid]).fetchone()
    return (row[0], row[1]) if row else (None, None)


class Background:
    """A statement running on its own connection in a thread (it may block on a lock)."""

    def __init__(self, dsn: str, statement: str, application_name: str = "triage-test") -> None:
        self.conn = psycopg.connect(dsn, application_name=application_name)
        self.pid: int = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self._statement = statement
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.conn.execute(self._statement)
        except BaseException as exc:  # reported by the test that reads `error`
            self.error = exc

    def finish(self) -> None:
        """Cancel if still running, roll back and close."""
        if self._thread.is_alive():
            self.conn.cancel_safe()
        self._thread.join(timeout=10)
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()
        self.conn.close()


@contextmanager
def role(admin_dsn: str, db_dsn: str, grants: list[str], *, script: Path | None = None,
         name: str | None = None) -> Iterator[str]:
    """A login role with the given GRANTs in the test database (or set up by `script`)."""
    role_name = name or f"triage_t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        if script is not None:
            conn.execute(script.read_text())
        else:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role_name)))
        for grant in grants:
            conn.execute(sql.SQL(grant).format(role=sql.Identifier(role_name)))
    try:
        yield with_user(db_dsn, role_name)
    finally:
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role_name)))
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE usename = {}").format(sql.Literal(role_name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role_name)))
