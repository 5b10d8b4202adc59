"""The PostgreSQL connector: guarded read-only SQL, named diagnostics, and a privilege check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql as pgsql
from pydantic import SecretStr

from connectors.base import (
    ConnectorCheck,
    ConnectorConfigError,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.postgres import diagnostics, privileges
from connectors.postgres.guard import CURSOR_PREFIX, ReadOnlyGuard
from connectors.postgres.rows import RedactHook, Redactor, shape_rows
from connectors.postgres.session import BackendUnavailable, Fetched, ReadOnlySession
from connectors.postgres.settings import PostgresSettings
from connectors.secrets import scrub


class ReadFailed(Exception):
    """The backend refused or failed a read; the message is ready for Evidence."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class PostgresConnector:
    """Runs one guarded read (`$1` / `$2` bound to the time range) or a `\\diagnostic`."""

    kind = EvidenceKind.DATABASE
    settings_model = PostgresSettings

    def __init__(self, name: str, settings: PostgresSettings, *,
                 redact: RedactHook | None = None) -> None:
        self.name = name
        self.settings = settings
        self._password: SecretStr | None = settings.password.resolve() if settings.password else None
        try:
            self._guard = ReadOnlyGuard(settings.allowed_functions)
        except ValueError as exc:
            raise ConnectorConfigError(f"connector {name!r}: {exc}") from exc
        self._redactor = Redactor(settings.redact_columns, [self._password], redact)
        self._session = ReadOnlySession(name, settings, self._password)

    # -- queries --------------------------------------------------------------------------

    def query(self, request: QueryRequest) -> Evidence:
        """Run one read and return at most `min(request.limit, max_rows)` rows."""
        builder = EvidenceBuilder(self, request)
        if request.query.lstrip().startswith("\\"):
            return self._diagnose(request, builder)
        cap = self._cap(request)
        try:
            fetched = self._read(request.query, [request.start, request.end], cap)
        except QueryRefused as exc:
            return builder.error(f"refused: {exc}")
        except ReadFailed as exc:
            return builder.error(str(exc))
        rows = shape_rows(fetched.columns, fetched.rows[:cap], self._redactor)
        return builder.ok(rows, self._summary(fetched, rows), total=fetched.total,
                          link=self._link(request.query, request.start, request.end))

    def _cap(self, request: QueryRequest) -> int:
        """The row cap: the request's limit, never above `max_rows`."""
        return min(request.limit, self.settings.max_rows)

    def _read(self, sql: str, params: Sequence[Any], cap: int) -> Fetched:
        """Guard `sql`, bind only the parameters it uses, run it read-only (`ReadFailed`)."""
        verdict = self._guard.check(sql)
        bound = list(params[: verdict.params])
        try:
            return self._session.run(verdict.sql_to_run, bound, cap, cursor=verdict.use_cursor)
        except BackendUnavailable as exc:
            raise ReadFailed(self._clean(str(exc))) from None
        except psycopg.Error as exc:
            offset = len(CURSOR_PREFIX) if verdict.use_cursor else 0
            raise ReadFailed(self._describe(exc, offset), exc.sqlstate) from None

    def _summary(self, fetched: Fetched, rows: list[dict[str, Any]]) -> str:
        """Counts, columns and the first row, in one line."""
        if fetched.total > len(rows):
            count = f"{fetched.total}{'+' if fetched.total_capped else ''} rows (first {len(rows)} kept)"
        else:
            count = f"{len(rows)} rows"
        summary = f"{count}; columns: {', '.join(fetched.columns)}"
        if rows:
            first = str(rows[0])
            summary += f"; first row: {first if len(first) <= 300 else first[:299] + '…'}"
        return summary

    def _link(self, sql: str, start: datetime, end: datetime) -> str | None:
        """The configured SQL console link for this query, if any."""
        template = self.settings.link_template
        if template is None:
            return None
        return template.format(query=quote(sql, safe=""), start=quote(start.isoformat(), safe=""),
                               end=quote(end.isoformat(), safe=""),
                               database=quote(self.settings.database(), safe=""))

    def _clean(self, text: str) -> str:
        """A message with the password and secret-looking fragments removed."""
        return self._redactor.text(scrub(text.strip(), self._password))

    def _describe(self, exc: psycopg.Error, offset: int) -> str:
        """The backend's own message, with position, detail and hint, minus any secret."""
        diag = exc.diag
        if diag.sqlstate is None:
            text = f"cannot reach PostgreSQL at {self.settings.target()}: {exc}"
        else:
            text = f"postgres error {diag.sqlstate}: {diag.message_primary or exc}"
            if diag.statement_position and diag.statement_position.isdigit():
                # The server counts from the start of our DECLARE wrapper.
                position = max(1, int(diag.statement_position) - offset)
                text += f" (at character {position})"
            for label, part in (("detail", diag.message_detail), ("hint", diag.message_hint),
                                ("context", (diag.context or "").split("\n")[0] or None)):
                if part:
                    text += f"; {label}: {part}"
            text += self._explain_state(diag.sqlstate)
        return self._clean(text)

    def _explain_state(self, sqlstate: str) -> str:
        """What our own settings had to do with an error, for the states where they matter."""
        s = self.settings
        return {
            "57014": f" (statement_timeout is {s.statement_timeout_seconds:g}s)",
            "55P03": f" (lock_timeout is {s.lock_timeout_seconds:g}s: the query waited on a lock "
                     "held by another session; see \\blocking)",
            "25006": " (the connector runs every statement in a READ ONLY transaction)",
            "42501": " (the connector's role lacks this privilege)",
        }.get(sqlstate, "")

    # -- diagnostics ----------------------------------------------------------------------

    def _diagnose(self, request: QueryRequest, builder: EvidenceBuilder) -> Evidence:
        """Run a `\\name [duration]` diagnostic."""
        try:
            diagnostic, seconds = diagnostics.parse_command(request.query)
        except ValueError as exc:
            return builder.error(f"refused: {exc}")
        if diagnostic is None:
            return builder.ok(diagnostics.help_rows(), "diagnostics: "
                              + ", ".join(f"\\{name}" for name in diagnostics.DIAGNOSTICS))
        cap = self._cap(request)
        try:
            sql: str | None = diagnostic.sql
            unavailable = ""
            if diagnostic.name == "top_statements":
                sql, unavailable = self._statements_sql()
            if sql is None:
                return builder.ok([], "").model_copy(update={"summary": unavailable})
            fetched = self._read(sql, [] if seconds is None else [seconds], cap)
        except ReadFailed as exc:
            return builder.error(str(exc))
        rows = shape_rows(fetched.columns, fetched.rows[:cap], self._redactor)
        summary = diagnostic.summarize(rows, fetched.total)
        evidence = builder.ok(rows, summary, total=fetched.total,
                              link=self._link(sql, request.start, request.end))
        return evidence if rows else evidence.model_copy(update={"summary": summary})

    def _statements_sql(self) -> tuple[str | None, str]:
        """The top-statements SQL, or None and why pg_stat_statements is unavailable."""
        found = self._read(diagnostics.STATEMENTS_SCHEMA, [], 1)
        if not found.rows:
            return None, ("unavailable: the pg_stat_statements extension is not installed in this "
                          "database (CREATE EXTENSION pg_stat_statements, with "
                          "shared_preload_libraries = 'pg_stat_statements')")
        schema = pgsql.Identifier(found.rows[0][0]).as_string()
        try:
            # `schema` is the extension's schema name from the catalog, quoted as an identifier.
            self._read(f"SELECT 1 FROM {schema}.pg_stat_statements LIMIT 1", [], 1)  # noqa: S608
        except ReadFailed as exc:
            if exc.sqlstate != "55000":  # object_not_in_prerequisite_state: not preloaded
                raise
            return None, f"unavailable: {exc}"
        return diagnostics.TOP_STATEMENTS.format(schema=schema).strip(), ""

    # -- check ----------------------------------------------------------------------------

    def check(self) -> ConnectorCheck:
        """Connect, verify read access, and find out whether these credentials could write."""
        target = self.settings.target()
        try:
            identity = self._one(privileges.IDENTITY)
            readable = self._one(privileges.READABLE)
            writable = self._read(privileges.WRITABLE, [], 5)
        except ReadFailed as exc:
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                                  can_write=None, details=[str(exc)])
        writable_rows = [dict(zip(writable.columns, row, strict=True)) for row in writable.rows[:5]]
        reasons = privileges.write_reasons(identity, writable_rows, writable.total)
        details = [f"connected to {target} as {identity['role']} "
                   f"(PostgreSQL {identity['server_version']})",
                   *privileges.read_details(identity, readable)]
        guard = ("every query runs in BEGIN READ ONLY with statement, lock and idle timeouts, "
                 "behind the pglast read-only guard")
        if identity["default_read_only"] == "on":
            guard = "default_transaction_read_only = on for this role; " + guard
        details.append(guard)
        details.extend(f"CAN WRITE: {reason}" for reason in reasons)
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True,
                              can_write=bool(reasons), details=details)

    def _one(self, sql: str) -> dict[str, Any]:
        """The single row `sql` returns, as a dict."""
        fetched = self._read(sql, [], 1)
        return dict(zip(fetched.columns, fetched.rows[0], strict=True))

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()
