"""A 50,000-line hour of logs for the cap tests of every logs connector, built once per process.

Minutes 7 and 33 are silent; minutes 45-59 carry four times the traffic (an error spike); one
"config reloaded" line every ten minutes is the rare shape; the cause, an out-of-memory line,
sits in the last minute, and the newest line of the window is at 12:59:59.9xx.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from connectors.base import Evidence, EvidenceStatus
from connectors.timeparse import parse_timestamp
from tests.connectors._util import T0

TOTAL = 50_000
CAP = 5_000
SILENT = frozenset({7, 33})
OOM = "java.lang.OutOfMemoryError: Java heap space (worker 7 killed)"
RARE = "config reloaded by admin"


@dataclass(frozen=True)
class Entry:
    """One generated line."""

    stamp: datetime
    level: str
    message: str


@dataclass(frozen=True)
class Window:
    """The lines, oldest first, and what any correct cap must report about them."""

    entries: tuple[Entry, ...]
    per_minute: dict[str, int]  # ISO minute (…Z) → lines
    per_minute_levels: dict[str, dict[str, int]]

    @property
    def newest(self) -> Entry:
        """The last line of the window."""
        return self.entries[-1]


def _per_minute_counts() -> list[int]:
    weights = [0 if minute in SILENT else (4 if minute >= 45 else 1) for minute in range(60)]
    counts = [TOTAL * w // sum(weights) for w in weights]
    counts[-1] += TOTAL - sum(counts)
    return counts


def _line(minute: int, i: int) -> tuple[str, str]:
    if i % 7 == 3:
        return "warn", f"timeout talking to db after {5000 + i % 90} ms"
    if minute >= 45 and i % 3 == 0:
        return "error", f"payment failed for order {100000 + i}: upstream reset"
    return "info", f"GET /api/cart/{90000 + i} 200 in {i % 400} ms"


@cache
def window() -> Window:
    """The hour [T0, T0 + 1h): 50,000 lines."""
    entries: list[Entry] = []
    for minute, count in enumerate(_per_minute_counts()):
        base = T0 + timedelta(minutes=minute)
        for i in range(count):
            stamp = base + timedelta(milliseconds=(i * 60_000) // count)
            level, message = _line(minute, i)
            if minute % 10 == 0 and i == count // 2:
                level, message = "info", RARE
            if minute == 59 and i == count - 2:
                level, message = "error", OOM
            entries.append(Entry(stamp, level, message))
    per_minute: Counter[str] = Counter()
    levels: dict[str, Counter[str]] = {}
    for entry in entries:
        key = entry.stamp.replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")
        per_minute[key] += 1
        levels.setdefault(key, Counter())[entry.level] += 1
    return Window(tuple(entries), dict(per_minute), {k: dict(v) for k, v in levels.items()})


def iso(stamp: datetime) -> str:
    """ISO 8601 with milliseconds and a Z (how the test backends store times)."""
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def minute_key(stamp: datetime) -> str:
    """The ISO minute a stamp falls in, as `Sampling.per_minute` names it."""
    return stamp.replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")


def assert_capped(evidence: Evidence, stamp_field: str, message_field: str = "message") -> None:
    """A capped window: the newest lines, a line in every minute that had any, exact counts."""
    data = window()
    assert evidence.status == EvidenceStatus.OK, evidence.error
    assert (evidence.row_count, evidence.truncated) == (TOTAL, True)
    stamps = [parse_timestamp(row[stamp_field]) for row in evidence.rows]
    assert stamps == sorted(stamps), "rows come oldest first"
    assert len(evidence.rows) == CAP
    assert stamps[-1] == data.newest.stamp
    assert OOM in {row[message_field] for row in evidence.rows}
    newest = [entry.stamp for entry in data.entries[-CAP // 2:]]
    assert stamps[-CAP // 2:] == newest, "the newest half of the cap is the newest lines"
    seen = {minute_key(stamp) for stamp in stamps}
    assert set(data.per_minute) <= seen, "every minute that had lines has a sampled line"
    sampling = evidence.sampling
    assert sampling is not None
    assert (sampling.matched, sampling.kept, sampling.newest, sampling.sampled) == (
        TOTAL, CAP, CAP // 2, CAP // 2)
    assert sum(minute.count for minute in sampling.per_minute) == TOTAL
    listed = {minute.minute: minute for minute in sampling.per_minute}
    assert len(listed) == 60
    for key, minute in listed.items():
        assert minute.count == data.per_minute.get(key, 0), key
        assert minute.by_level == data.per_minute_levels.get(key, {}), key
    assert (f"(sampled: newest {CAP // 2} + per-minute stratified sample of {CAP // 2} from {TOTAL} "
            "matched") in evidence.summary


def assert_whole(evidence: Evidence, stamp_field: str, expected: int) -> None:
    """A window under the cap: every line, not truncated, exact counts."""
    assert evidence.status == EvidenceStatus.OK, evidence.error
    assert (evidence.row_count, evidence.truncated, len(evidence.rows)) == (expected, False, expected)
    stamps = [parse_timestamp(row[stamp_field]) for row in evidence.rows]
    assert stamps == sorted(stamps)
    assert evidence.sampling is not None
    assert evidence.sampling.method == f"all {expected} matched lines"
    assert sum(minute.count for minute in evidence.sampling.per_minute) == expected
    assert "sampled:" not in evidence.summary
