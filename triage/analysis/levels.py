"""Log rows as the analyzers read them: when a line was written and how severe it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.timeparse import parse_timestamp

ERROR_LEVELS = frozenset({"error", "err", "critical", "crit", "fatal", "alert", "emergency", "panic"})
WARNING_LEVELS = frozenset({"warning", "warn"})


def level_of(row: dict[str, Any]) -> str:
    """The row's level, lower-cased ('' when it has none)."""
    return str(row.get("level", row.get("severity", row.get("status", "")))).lower()


def is_error(row: dict[str, Any]) -> bool:
    """Whether the row is an error-level line (or, with no level, a 5xx access line)."""
    level = level_of(row)
    return level in ERROR_LEVELS or (level.isdigit() and 500 <= int(level) <= 599)


def severity_of(row: dict[str, Any]) -> int:
    """2 for error-level lines, 1 for warnings, 0 otherwise."""
    level = level_of(row)
    return 2 if level in ERROR_LEVELS else 1 if level in WARNING_LEVELS else 0


def stamp_of(row: dict[str, Any]) -> datetime | None:
    """The row's timestamp, or None when it has no readable one."""
    try:
        return parse_timestamp(row.get("timestamp"))
    except (ValueError, TypeError, OverflowError):
        return None
