"""A SQLite database opened read-only: the embedded database connector.

Read-only twice: the file is opened with `mode=ro` and `PRAGMA query_only`, and an authorizer
callback (SQLite's own allowlist hook) lets the statement read tables and call functions only.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRequest,
    Sampling,
)
from connectors.sampling import Line, MinuteCounts, choose, describe, message_shape, seed_of
from connectors.timeparse import parse_timestamp

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# Functions that read fine but could make a query hang or leak host state.
_DENIED_FUNCTIONS = frozenset({"load_extension", "randomblob", "zeroblob", "readfile", "writefile"})


# Result columns that make a result log-shaped (first match wins, case-insensitive): with a time
# column the row cap keeps the newest rows and a per-minute sample, like the logs connectors.
_TIME_COLUMNS = ("timestamp", "@timestamp", "ts", "time", "datetime", "created_at", "logged_at",
                 "occurred_at", "event_time")
_LEVEL_COLUMNS = ("level", "severity", "log_level", "loglevel")
_MESSAGE_COLUMNS = ("message", "msg", "text", "body", "line")
_FETCH = 1_000

_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_READ_KEYWORDS = frozenset({"select", "with", "values"})


def first_keyword(sql: str) -> str:
    """The statement's first keyword, after any comments."""
    rest = sql[_LEADING_COMMENTS.match(sql).end():]  # type: ignore[union-attr]
    match = re.match(r"[A-Za-z]+", rest)
    return match.group(0).lower() if match else ""


class SqliteSettings(BaseModel):
    """`type: sqlite` — path to an existing database file."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sqlite"] = "sqlite"
    path: Path
    timeout_seconds: float = 5.0
    statement_timeout_seconds: float = 10.0


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class SqliteConnector:
    """Runs one SELECT with `:start` / `:end` bound to the request's time range (ISO 8601)."""

    kind = EvidenceKind.DATABASE
    settings_model = SqliteSettings

    def __init__(self, name: str, settings: SqliteSettings) -> None:
        self.name = name
        self.settings = settings

    def _connect(self) -> sqlite3.Connection:
        uri = f"{self.settings.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=self.settings.timeout_seconds)
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_authorize)
        deadline = time.monotonic() + self.settings.statement_timeout_seconds
        # Checked every 10k VM instructions; a non-zero return interrupts the statement.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, request: QueryRequest) -> Evidence:
        """Run the statement and return at most `request.limit` rows."""
        builder = EvidenceBuilder(self, request)
        if not self.settings.path.is_file():
            return builder.error(f"database file not found: {self.settings.path}")
        keyword = first_keyword(request.query)
        if keyword not in _READ_KEYWORDS:
            return builder.error(f"refused: only SELECT / WITH / VALUES statements run here, "
                                 f"not {keyword.upper() or 'an empty statement'}")
        params = {"start": request.start.isoformat(), "end": request.end.isoformat()}
        try:
            conn = self._connect()
            try:
                cursor = conn.execute(request.query, _used_params(request.query, params))
                columns = [column[0] for column in cursor.description or ()]
                time_column = _pick(columns, _TIME_COLUMNS)
                # Without a time column only the first rows are kept (the rest is counted);
                # with one, every row is needed to choose the newest and sample the rest.
                held: list[sqlite3.Row] = []
                total = 0
                while batch := cursor.fetchmany(_FETCH):
                    total += len(batch)
                    if time_column is not None or len(held) < request.limit:
                        held.extend(batch if time_column is not None else batch[:request.limit - len(held)])
            finally:
                conn.close()
        except (sqlite3.DatabaseError, sqlite3.Warning, sqlite3.ProgrammingError) as exc:
            if "interrupted" in str(exc):
                limit = self.settings.statement_timeout_seconds
                return builder.error(f"query cancelled after the {limit:g}s "
                                     "statement timeout")
            return builder.error(f"sqlite refused or failed: {exc}")
        chosen = _sampled(held, columns, time_column, request) if time_column else None
        kept, sampling = chosen or ([dict(row) for row in held[:request.limit]], None)
        shown = f" (first {len(kept)} kept)" if sampling is None and total > len(kept) else ""
        summary = f"{total} rows{shown}; columns: {', '.join(columns)}"
        if kept:
            summary += f"; first row: {kept[0]}"
        return builder.ok(kept, summary, total=total, sampling=sampling)

    def check(self) -> ConnectorCheck:
        """Open read-only and run a trivial read; writes are impossible by construction."""
        try:
            conn = self._connect()
            try:
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                                  can_write=False, details=[f"cannot read {self.settings.path}: {exc}"])
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True, can_write=False,
                              details=[f"{self.settings.path}: {tables} schema objects readable",
                                       "opened with mode=ro, query_only and a read-only authorizer"])

    def close(self) -> None:
        """Nothing to release: one connection per query."""


def _used_params(sql: str, params: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in params.items() if f":{key}" in sql}


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first result column (by preference) named like one of `wanted`."""
    lowered = {column.lower(): column for column in reversed(columns)}
    return next((lowered[name] for name in wanted if name in lowered), None)


def _sampled(rows: list[sqlite3.Row], columns: list[str], time_column: str,
             request: QueryRequest) -> tuple[list[dict[str, Any]], Sampling] | None:
    """The logs cap policy over a log-shaped result; None when a time value does not parse."""
    level_column, message_column = _pick(columns, _LEVEL_COLUMNS), _pick(columns, _MESSAGE_COLUMNS)
    counts = MinuteCounts(request.start, request.end)
    lines: list[Line[sqlite3.Row]] = []
    for row in rows:
        try:
            stamp = parse_timestamp(row[time_column])
        except ValueError:
            return None
        counts.add(stamp, str(row[level_column]) if level_column and row[level_column] else "?")
        message = str(row[message_column] or "") if message_column else ""
        lines.append(Line(stamp, message_shape(message), row))
    if len(rows) <= request.limit:  # all fit: keep the statement's own order
        return [dict(row) for row in rows], describe(counts, len(rows), 0)
    choice = choose(lines, request.limit, seed_of(request.query, request.start, request.end))
    return [dict(line.item) for line in choice.lines], describe(counts, choice.newest, choice.sampled)
