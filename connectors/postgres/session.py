"""Pooled connections and the read-only transaction every statement runs in.

One round trip per query (psycopg pipeline mode)::

    BEGIN TRANSACTION READ ONLY
    SELECT set_config('statement_timeout', …, true), …lock_timeout…, …idle_in_transaction…,
           …cursor_tuple_fraction…
    DECLARE triage_cursor NO SCROLL CURSOR FOR <the query>    -- SELECT family
    FETCH FORWARD <cap + 1> FROM triage_cursor                 -- only what the cap allows
    MOVE FORWARD <count cap> FROM triage_cursor                -- counts the rest, sends nothing
    ROLLBACK

statement_timeout applies to each statement: if counting runs out of time, the fetched rows
are kept and the count is reported as a lower bound.

SHOW and EXPLAIN run without the cursor (their output is small). Nothing is ever committed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import SecretStr

from connectors.postgres.guard import CURSOR_NAME
from connectors.postgres.settings import PostgresSettings
from connectors.retry import call_with_retries

_BEGIN = "BEGIN TRANSACTION READ ONLY"
# cursor_tuple_fraction = 1: the cursor is read to the end (FETCH, then MOVE to count), so plan
# for the whole result as a plain query would, not for the first 10% of it.
_SETTINGS = ("SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),"
             " set_config('idle_in_transaction_session_timeout', $3, true),"
             " set_config('cursor_tuple_fraction', '1', true)")
# Connection failures, shutdowns, serialization failures and deadlocks: worth one more try.
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})


@dataclass(frozen=True)
class Fetched:
    """What one statement returned: column names, at most cap + 1 rows, and the full count."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    total_capped: bool


class BackendUnavailable(Exception):
    """No connection could be had: the message is the server's (or libpq's) own."""


# libpq reports connection failures without a SQLSTATE; these ones will not heal by retrying.
_PERMANENT_CONNECT_ERRORS = ("authentication failed", "does not exist", "no pg_hba.conf entry",
                             "not permitted to log in", "permission denied", "invalid",
                             "certificate", "SSL")


def is_transient(error: BaseException) -> bool:
    """Connection-level and concurrency failures; never a bad query or a timeout."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    if state is None:
        return not any(hint in str(error) for hint in _PERMANENT_CONNECT_ERRORS)
    return state.startswith("08") or state in _TRANSIENT_STATES


def _fetched(cursor: psycopg.Cursor[Any]) -> bool:
    """Whether a pipelined statement's rows arrived before a later one failed."""
    result = cursor.pgresult
    return result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK


def _ms(seconds: float) -> str:
    """Seconds as a PostgreSQL milliseconds setting."""
    return str(max(1, round(seconds * 1000)))


class ReadOnlySession:
    """A lazily opened pool; `run` executes one statement in a fresh read-only transaction."""

    def __init__(self, name: str, settings: PostgresSettings, password: SecretStr | None) -> None:
        self._settings = settings
        self._kwargs: dict[str, Any] = settings.connect_kwargs()
        if password is not None:
            self._kwargs["password"] = password.get_secret_value()
        self._name = name
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._timeouts = [_ms(settings.statement_timeout_seconds),
                          _ms(settings.lock_timeout_seconds),
                          _ms(settings.idle_in_transaction_timeout_seconds)]

    def _connection_kwargs(self) -> dict[str, Any]:
        """psycopg connection options: autocommit (we BEGIN ourselves), $n placeholders."""
        return {**self._kwargs, "autocommit": True, "cursor_factory": psycopg.RawCursor}

    def _get_pool(self) -> ConnectionPool:
        """The pool, opened on first use."""
        with self._lock:
            if self._pool is None:
                # One direct connection first: a wrong password or a server that is down is
                # reported at once, in libpq's words, instead of after the pool's timeout.
                psycopg.connect(self._settings.dsn or "", **self._kwargs).close()
                self._pool = ConnectionPool(
                    self._settings.dsn or "", kwargs=self._connection_kwargs(),
                    min_size=self._settings.pool_min_size, max_size=self._settings.pool_max_size,
                    timeout=self._settings.pool_timeout_seconds, name=f"triage-{self._name}",
                    reconnect_timeout=60.0, open=False)
                self._pool.open(wait=False)
            return self._pool

    def run(self, sql: str, params: Sequence[Any], cap: int, *, cursor: bool) -> Fetched:
        """Run `sql` (already wrapped in DECLARE when `cursor`) read-only, retrying transient
        failures; psycopg errors and `BackendUnavailable` raise."""
        try:  # the common case without tenacity's bookkeeping
            return self._run_once(sql, params, cap, cursor)
        except psycopg.Error as exc:
            if self._settings.retry_attempts == 1 or not is_transient(exc):
                raise
        return call_with_retries(lambda: self._run_once(sql, params, cap, cursor),
                                 is_transient=is_transient,
                                 attempts=self._settings.retry_attempts - 1, max_wait=2.0)

    def _run_once(self, sql: str, params: Sequence[Any], cap: int, cursor: bool) -> Fetched:
        """One attempt: a pooled connection, one read-only transaction."""
        pool = self._get_pool()
        try:
            with pool.connection() as conn:
                return self._transaction(conn, sql, params, cap, cursor)
        except PoolTimeout as exc:
            raise BackendUnavailable(self._why_no_connection(exc)) from None
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:
                pool.check()  # after a server restart every idle connection is dead: drop them
            raise

    def _transaction(self, conn: psycopg.Connection[Any], sql: str, params: Sequence[Any],
                     cap: int, cursor: bool) -> Fetched:
        """BEGIN READ ONLY, settings, the statement, FETCH, MOVE, ROLLBACK in one round trip."""
        errors: list[psycopg.Error] = []
        counted: psycopg.Cursor[Any] | None = None
        try:
            with conn.pipeline() as pipeline:
                try:
                    conn.execute(_BEGIN)
                    conn.execute(_SETTINGS, self._timeouts)
                    if cursor:
                        conn.execute(sql, params or None)
                        result = conn.execute(f"FETCH FORWARD {cap + 1} FROM {CURSOR_NAME}")
                        if self._settings.count_rows_up_to:
                            counted = conn.execute(
                                f"MOVE FORWARD {self._settings.count_rows_up_to} FROM {CURSOR_NAME}")
                    else:
                        result = conn.execute(sql, params or None)
                    conn.execute("ROLLBACK")
                    pipeline.sync()
                except psycopg.Error as exc:
                    errors.append(exc)
        except psycopg.Error as exc:
            # The pipeline reports the first failure inside the block and "aborted" on exit.
            errors.append(exc)
        if errors:
            self._end_transaction(conn)
            if not (counted is not None and _fetched(result) and errors[0].sqlstate == "57014"):
                raise errors[0]
            # The rows came back; only counting the rest ran out of time: keep the rows.
            rows = result.fetchall()
            return Fetched([c.name for c in result.description or []], rows, total=len(rows),
                           total_capped=True)
        columns = [column.name for column in result.description or []]
        rows = result.fetchmany(cap + 1) if result.description else []
        if counted is None:
            return Fetched(columns, rows, total=max(result.rowcount, len(rows)), total_capped=False)
        moved = max(counted.rowcount, 0)
        return Fetched(columns, rows, total=len(rows) + moved,
                       total_capped=moved >= self._settings.count_rows_up_to)

    @staticmethod
    def _end_transaction(conn: psycopg.Connection[Any]) -> None:
        """Roll back after a failure, or drop the connection if that fails too."""
        if conn.closed or conn.pgconn.transaction_status == TransactionStatus.IDLE:
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()  # the pool discards a closed connection

    def _why_no_connection(self, exc: PoolTimeout) -> str:
        """The server's own reason when the pool had nothing to give."""
        try:
            psycopg.connect(self._settings.dsn or "", **self._kwargs).close()
        except psycopg.Error as probe:
            return f"cannot connect to PostgreSQL at {self._settings.target()}: {probe}"
        return (f"all {self._settings.pool_max_size} pooled connections stayed busy for "
                f"{self._settings.pool_timeout_seconds:g}s ({exc})")

    def close(self) -> None:
        """Close the pool and its connections."""
        with self._lock:
            if self._pool is not None:
                self._pool.close(timeout=5.0)
                self._pool = None
