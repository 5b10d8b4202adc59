"""Logs from a JSON Lines file: the embedded default and the scenario replay backend."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.filters import parse_filter
from connectors.sampling import Line, MinuteCounts, choose, describe, message_shape, seed_of
from connectors.timeparse import parse_timestamp

_DIGITS = re.compile(r"\d+")


class FilesLogsSettings(BaseModel):
    """`type: files_logs` — one JSON object per line."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["files_logs"] = "files_logs"
    path: Path
    timestamp_field: str = "timestamp"
    message_field: str = "message"
    level_field: str = "level"


class FilesLogsConnector:
    """Filters a JSON Lines file by time range and a filter expression (see `filters`)."""

    kind = EvidenceKind.LOGS
    settings_model = FilesLogsSettings

    def __init__(self, name: str, settings: FilesLogsSettings) -> None:
        self.name = name
        self.settings = settings

    def query(self, request: QueryRequest) -> Evidence:
        """Return the matching lines inside the time range, oldest first, capped by
        `connectors.sampling` (newest lines + a per-minute sample) with exact counts."""
        builder = EvidenceBuilder(self, request)
        try:
            record_filter = parse_filter(request.query)
        except QueryRefused as exc:
            return builder.error(str(exc))
        if not self.settings.path.is_file():
            return builder.error(f"log file not found: {self.settings.path}")
        counts = MinuteCounts(request.start, request.end)
        tops: Counter[str] = Counter()
        shapes: dict[str, str] = {}  # one string per shape, shared by its lines
        # Matches are held as their raw text (far smaller than parsed dicts); only kept lines are
        # parsed again.
        matched: list[Line[str]] = []
        unreadable = 0
        with self.settings.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                parsed = self._parse_line(line)
                if parsed is None:
                    unreadable += bool(line.strip())
                    continue
                record, stamp = parsed
                message = str(record.get(self.settings.message_field, ""))
                if request.start <= stamp < request.end and record_filter.matches(record, message):
                    counts.add(stamp, str(record.get(self.settings.level_field, "?")))
                    tops[_DIGITS.sub("N", message)[:120]] += 1
                    shape = message_shape(message)
                    matched.append(Line(stamp, shapes.setdefault(shape, shape), line))
        choice = choose(matched, request.limit, seed_of(request.query, request.start, request.end))
        del matched
        rows: list[dict[str, Any]] = [json.loads(line.item) for line in choice.lines]
        sampling = describe(counts, choice.newest, choice.sampled)
        return builder.ok(rows, self._summarize(counts, tops, unreadable), sampling=sampling)

    def _parse_line(self, line: str) -> tuple[dict[str, Any], datetime] | None:
        try:
            record = json.loads(line)
            stamp = parse_timestamp(record[self.settings.timestamp_field])
        except (ValueError, KeyError, TypeError):
            return None
        return (record, stamp) if isinstance(record, dict) else None

    def _summarize(self, counts: MinuteCounts, tops: Counter[str], unreadable: int) -> str:
        levels: Counter[str] = Counter()
        for minute in counts.per_minute():
            levels.update(minute.by_level)
        top = "; ".join(f"{count}× {msg}" for msg, count in tops.most_common(3))
        by_level = ", ".join(f"{level}={count}" for level, count in levels.most_common())
        note = f" ({unreadable} lines were not JSON with a timestamp and were skipped)" if unreadable else ""
        return f"{counts.total} lines ({by_level}); top: {top}{note}"

    def check(self) -> ConnectorCheck:
        """The file is readable; it is only ever opened for reading."""
        path = self.settings.path
        readable = path.is_file() and os.access(path, os.R_OK)
        detail = f"{path} is readable" if readable else f"{path} is missing or unreadable"
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=readable,
                              can_write=False, details=[detail, "opened read-only by design"])

    def close(self) -> None:
        """Nothing to release: the file is opened per query."""
