"""Helpers shared by the connector tests: a fixed clock and one-line request building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import QueryRequest, build_connector

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    """T0 plus `seconds`, as ISO 8601 with a Z suffix."""
    return at(seconds).isoformat().replace("+00:00", "Z")


def req(query: str, start: datetime = T0, end: datetime = T1, limit: int = 500) -> QueryRequest:
    return QueryRequest(query=query, start=start, end=end, limit=limit)


def connector(kind: str, path: Path, name: str = "src", **extra: Any) -> Any:
    return build_connector(name, {"type": kind, "path": str(path), **extra}, path.parent)
