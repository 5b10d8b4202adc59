"""Rows as Evidence holds them: JSON-friendly, redacted, every cell bounded in size."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from connectors.base import MAX_CELL_CHARS, clip_cell
from connectors.secrets import scrub

REDACTED = "[redacted]"
# A hook a deployment can add: (column, value) -> value, after the built-in redaction.
RedactHook = Callable[[str, Any], Any]

_MAYBE_SECRET = re.compile(r"(?i)password|://")
# Secrets that show up inside text values: passwords in SQL text (pg_stat_activity.query) and
# credentials in connection URIs.
_VALUE_PATTERNS = (
    (re.compile(r"(?i)(\bpassword\s*[=:]\s*)('(?:[^']|'')*'|\"[^\"]*\"|[^\s,;]+)"),
     r"\1[redacted]"),
    (re.compile(r"(?i)(\bpassword\s+)('(?:[^']|'')*')"), r"\1'[redacted]'"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
)


class Redactor:
    """Applies column-name redaction, value patterns, the connector's own secrets and a hook."""

    def __init__(self, columns: Iterable[str], secrets: Sequence[SecretStr | None] = (),
                 hook: RedactHook | None = None) -> None:
        patterns = list(columns)
        self._columns = re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
        self._secrets = tuple(secrets)
        self._secret_values = [v for v in (x.get_secret_value() for x in secrets if x is not None)
                               if len(v) >= 4]
        self._hook = hook

    def text(self, value: str) -> str:
        """A string with known secrets and secret-looking fragments removed."""
        if _MAYBE_SECRET.search(value):  # one cheap scan before the real patterns
            for pattern, replacement in _VALUE_PATTERNS:
                value = pattern.sub(replacement, value)
        if self._secret_values and any(secret in value for secret in self._secret_values):
            value = scrub(value, *self._secrets)
        return value

    def hides(self, column: str) -> bool:
        """Whether a column's values are withheld entirely."""
        return self._columns is not None and self._columns.search(column) is not None

    def cell(self, column: str, value: Any, hidden: bool | None = None) -> Any:
        """One cell, ready for Evidence."""
        if value is not None and (self.hides(column) if hidden is None else hidden):
            return REDACTED
        kind = type(value)
        if kind is str:
            shaped = clip_cell(self.text(value))
        elif value is None or kind is int or kind is float or kind is bool:
            shaped = value
        else:
            shaped = self._bounded(_jsonable(value))
        if self._hook is not None:
            shaped = self._hook(column, shaped)
        return shaped

    def _bounded(self, value: Any) -> Any:
        """A JSON value with secrets removed and its size bounded."""
        if isinstance(value, str):
            return clip_cell(self.text(value))
        if isinstance(value, (dict, list)):
            text = json.dumps(value, default=str, ensure_ascii=False)
            if len(text) > MAX_CELL_CHARS:
                return clip_cell(self.text(text))
            return json.loads(self.text(text))
        return value


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numbers stay numbers, times become ISO 8601, bytes become hex."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return "\\x" + raw[: MAX_CELL_CHARS // 2].hex() + ("…" if len(raw) > MAX_CELL_CHARS // 2 else "")
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return str(value)


def unique_columns(columns: Sequence[str]) -> list[str]:
    """Column names made unique (`SELECT 1, 1` has two `?column?`)."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def shape_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]],
               redactor: Redactor) -> list[dict[str, Any]]:
    """Tuples from psycopg as redacted, bounded dicts."""
    names = unique_columns(columns)
    hidden = [redactor.hides(name) for name in names]  # decided once per result, not per cell
    return [{name: redactor.cell(name, value, hide)
             for name, hide, value in zip(names, hidden, row, strict=True)} for row in rows]
