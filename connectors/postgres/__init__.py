"""PostgreSQL, read-only in depth: a pglast guard, a READ ONLY transaction with timeouts, and
a read-only role (`infra/sql/readonly_role.sql`)."""

from connectors.postgres.connector import PostgresConnector
from connectors.postgres.settings import PostgresSettings

__all__ = ["PostgresConnector", "PostgresSettings"]
