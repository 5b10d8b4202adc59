"""A throwaway PostgreSQL server for tests (`triage.backends.postgres.PostgresServer`, the one
`triage eval --backends real` starts), and a fresh database on it per test module.

`TRIAGE_TEST_POSTGRES_DSN` points the tests at an existing server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from triage.backends.postgres import PostgresServer, find_pg_bin

__all__ = ["find_pg_bin", "fresh_database", "postgres_server"]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the DSN of a running server; stop and delete it afterwards."""
    if dsn := os.environ.get("TRIAGE_TEST_POSTGRES_DSN"):
        yield dsn
        return
    server = PostgresServer(readonly_role=False)  # tests create the role from infra/sql
    try:
        yield server.admin_dsn
    finally:
        server.stop()


def fresh_database(admin_dsn: str, name: str) -> str:
    """Create an empty database on the server and return its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # names are test-controlled
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"
