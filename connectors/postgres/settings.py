"""`type: postgres` settings: where to connect, how long anything may take, how much comes back.

    prod-db:
      type: postgres
      dsn: postgresql://triage_ro@db.internal:5432/app?sslmode=verify-full   # no password here
      password: {env: TRIAGE_PG_PASSWORD}
      statement_timeout_seconds: 10
      max_rows: 500
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.postgres.allowlist import denied_reason
from connectors.secrets import SecretRef

# Columns whose values never leave the connector, whatever the query selected: whole words of
# the column name (`password_hash`, `api_key`, `reset_token`, but not `tokenizer_state`).
DEFAULT_REDACT_COLUMNS = [
    r"(^|_)(password|passwd|secret|token|api_?key|credentials?|private_?key|session_?id"
    r"|authorization|cookie|ssn)(_|$)",
]
_FUNCTION_NAME = re.compile(r"^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$")


class PostgresSettings(BaseModel):
    """`type: postgres` — a DSN (or its parts) plus a password reference; timeouts; caps."""

    # Validation errors must not echo a DSN back: it may hold a password despite the rules.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["postgres"] = "postgres"
    dsn: str | None = Field(default=None, description="libpq URI or key=value string, no password")
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    dbname: str | None = None
    user: str | None = None
    password: SecretRef | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: Path | None = None
    application_name: str = "sre-triage"
    pool_min_size: int = Field(default=1, ge=0, le=20)
    pool_max_size: int = Field(default=4, ge=1, le=50)
    pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    connect_timeout_seconds: int = Field(default=5, ge=1, le=120)
    statement_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    lock_timeout_seconds: float = Field(default=2.0, gt=0, le=3600)
    idle_in_transaction_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    max_rows: int = Field(default=500, ge=1, le=10_000)
    count_rows_up_to: int = Field(default=100_000, ge=0, le=10_000_000)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    redact_columns: list[str] = Field(default_factory=lambda: list(DEFAULT_REDACT_COLUMNS))
    allowed_functions: list[str] = Field(default_factory=list)
    link_template: str | None = None

    @field_validator("dsn")
    @classmethod
    def _dsn_without_password(cls, value: str | None) -> str | None:
        """A DSN must parse and must not carry a password."""
        if value is None:
            return None
        try:
            parts = conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # Never echo the string: it may hold a password despite the rule.
            raise ValueError("dsn is not a valid libpq connection URI or key=value string") from None
        if parts.get("password"):
            raise ValueError("dsn must not contain a password: use `password: {env: NAME}` "
                             "or `password: {file: PATH}`")
        return value

    @field_validator("redact_columns")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        """Every redaction pattern must compile."""
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact_columns: bad regular expression {pattern!r}: {exc}") from None
        return value

    @field_validator("allowed_functions")
    @classmethod
    def _valid_functions(cls, value: list[str]) -> list[str]:
        """Function names only, and never one of the denied ones."""
        for name in value:
            if not _FUNCTION_NAME.match(name.lower()):
                raise ValueError(f"allowed_functions: {name!r} is not a function name "
                                 "(`name` or `schema.name`)")
            if reason := denied_reason(name.lower().rsplit(".", 1)[-1]):
                raise ValueError(f"allowed_functions: {name} can never be allowed: {reason}")
        return value

    @field_validator("link_template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        """Only the placeholders the connector fills in."""
        if value is not None:
            try:
                value.format(query="", start="", end="", database="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError("link_template may use only {query}, {start}, {end} and "
                                 f"{{database}}: {exc!r}") from None
        return value

    @model_validator(mode="after")
    def _target(self) -> PostgresSettings:
        """Something to connect to, and a sane pool."""
        if self.dsn is None and self.host is None:
            raise ValueError("set `dsn` or `host` (with `dbname` and `user`)")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self

    def connect_kwargs(self) -> dict[str, Any]:
        """libpq parameters besides the DSN (the password is added by the caller)."""
        given = {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                 "sslmode": self.sslmode,
                 "sslrootcert": str(self.sslrootcert) if self.sslrootcert else None}
        return {
            **{key: value for key, value in given.items() if value is not None},
            "application_name": self.application_name,
            "connect_timeout": self.connect_timeout_seconds,
            # A server that vanishes mid-query is noticed in ~20 s instead of never.
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
            "keepalives_count": 2,
        }

    def _parts(self) -> dict[str, Any]:
        """The DSN's parameters with the explicit settings on top."""
        parts = conninfo_to_dict(self.dsn or "")
        parts.update({k: v for k, v in self.connect_kwargs().items()
                      if k in ("host", "port", "dbname", "user")})
        return parts

    def database(self) -> str:
        """The database name (libpq's default is the user name)."""
        parts = self._parts()
        return str(parts.get("dbname") or parts.get("user") or "")

    def target(self) -> str:
        """host:port/dbname for messages (never the password)."""
        parts = self._parts()
        return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{self.database()}"
