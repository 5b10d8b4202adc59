"""Log rows as the analyzers read them: when a line was written and how severe it is."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from connectors.timeparse import parse_timestamp

ERROR_LEVELS = frozenset({"error", "err", "critical", "crit", "fatal", "alert", "emergency", "panic"})
WARNING_LEVELS = frozenset({"warning", "warn"})


def level_of(row: dict[str, Any]) -> str:
    """The row's level, lower-cased ('' when it has none)."""
    return str(row.get("level", row.get("severity", row.get("status", "")))).lower()


# A request this service served and the status it answered: `GET /api/x?y=1 503 in 12ms`,
# `"POST /v1/pay HTTP/1.1" 502 ...`. An outbound call to a URL is not one (its path is absolute).
_SERVED = r"\b(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\s+/\S*(?:\s+HTTP/[\d.]+)?\"?\s+(?:status[=:]\s*)?"
SERVED_5XX = re.compile(_SERVED + r"5\d\d\b")
REQUEST_LINE = re.compile(_SERVED + r"\d\d\d\b")  # any status: an access line says what was answered
STATUS_FIELDS = ("status", "status_code", "http_status", "http.status_code", "response_status")


def is_error(row: dict[str, Any]) -> bool:
    """Whether the row reports a failure: an error-level line (names, syslog-style words, or
    bunyan/pino numbers >= 50), or a request answered 5xx (a status field, or an access line
    logged at info level)."""
    level = level_of(row)
    if is_error_level(level):
        return True
    if level.isdigit():
        return 500 <= int(level) <= 599
    return _status_5xx(row) or (level not in WARNING_LEVELS and _served_5xx_line(row))


def is_error_level(level: str) -> bool:
    """An error level: a name, a syslog-style word, or a bunyan/pino number >= 50."""
    return level in ERROR_LEVELS or (level.isdigit() and 50 <= int(level) < 100)


def answered_5xx(row: dict[str, Any]) -> bool:
    """Whether the row is a request this service answered 5xx (a status field or an access line)."""
    return _status_5xx(row) or _served_5xx_line(row)


def _status_5xx(row: dict[str, Any]) -> bool:
    for name in STATUS_FIELDS:
        status = row.get(name)
        if isinstance(status, int) and not isinstance(status, bool) and 500 <= status <= 599:
            return True
        if isinstance(status, str) and len(status) == 3 and status.startswith("5") and status.isdigit():
            return True
    return False


def _served_5xx_line(row: dict[str, Any]) -> bool:
    message = row.get("message")
    return isinstance(message, str) and SERVED_5XX.search(message[:300]) is not None


# PostgreSQL's `log_lock_waits` reports a session waiting on a lock at LOG (info) level: a
# warning in all but name.
LOCK_WAIT = re.compile(r"still waiting for \w*Lock on|acquired \w*Lock on .{0,60} after")


def severity_of(row: dict[str, Any]) -> int:
    """2 for failures (see is_error), 1 for warnings (and lock waits a database logs), 0 otherwise."""
    if is_error(row):
        return 2
    level = level_of(row)
    if level in WARNING_LEVELS or (level.isdigit() and 40 <= int(level) < 50):
        return 1
    message = row.get("message")
    return 1 if isinstance(message, str) and LOCK_WAIT.search(message[:300]) else 0


def stamp_of(row: dict[str, Any]) -> datetime | None:
    """The row's timestamp, or None when it has no readable one."""
    try:
        return parse_timestamp(row.get("timestamp"))
    except (ValueError, TypeError, OverflowError):
        return None


# Where structured loggers put the failure itself when the message is only "Internal Server
# Error": Python's exc_info, Java's stack_trace, zap/logrus `error`, ECS `error.message`.
EXCEPTION_FIELDS = ("exc_info", "exception", "error", "err", "error.message", "error_message",
                    "stack_trace", "stacktrace", "stack", "cause", "reason")
EXCEPTION_TAIL = 300
_TRAILER = re.compile(r"(?:CONTEXT|DETAIL|HINT|LINE \d+|QUERY|STATEMENT|WHERE):|\^")


def failure_text(row: dict[str, Any]) -> str:
    """A failure line as one text: its message and, when the logger put it apart, the
    exception's own text (its last line: the exception and its message)."""
    message = str(row.get("message", ""))
    extra = []
    for name in EXCEPTION_FIELDS:
        value = row.get(name)
        if isinstance(value, dict):
            value = value.get("message") or value.get("type")
        if isinstance(value, str) and value.strip() and value.strip() not in message:
            extra.append(exception_line(value))
    return " | ".join([message, *extra]) if extra else message


# Stack frames and elisions: never the exception itself (Java `at …` / `... 11 more`, Python
# `File "…", line …`, the traceback header).
_FRAME = re.compile(r"^(?:at |\.\.\. \d+ more|File \"|Traceback \(most recent call last\))")


def exception_line(text: str) -> str:
    """The line of an exception dump that says what failed: the innermost `Caused by:` of a Java
    trace (the root cause), else the last line that is not a frame, a database's CONTEXT /
    DETAIL / HINT trailer or a caret under a statement (Python puts the exception last)."""
    lines = [line.strip() for line in text.strip().splitlines()
             if line.strip() and not _TRAILER.match(line.strip())]
    causes = [line for line in lines if line.startswith("Caused by:")]
    if causes:
        return causes[-1][:EXCEPTION_TAIL]
    said = [line for line in lines if not _FRAME.match(line)]
    return (said or lines or [""])[-1][:EXCEPTION_TAIL]
