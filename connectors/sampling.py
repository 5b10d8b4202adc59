"""One cap policy for every logs connector: the newest lines, a stratified sample of the older
ones, and exact counts of everything that matched.

With a limit of N rows and M > N matching lines:

- the newest ceil(N/2) lines are kept (the end of the window is where the cause usually is);
- floor(N/2) are sampled from the older lines: every minute with lines gets one when the budget
  allows (evenly spaced minutes when it does not), the rest in proportion to each minute's count;
  inside a minute every message shape (values masked) gets one, rarest first, the rest in
  proportion; lines inside a shape are drawn by a generator seeded with the query, so a rerun keeps
  the same lines;
- `MinuteCounts` holds exact per-minute counts by level, which is what rates are computed from.

Rows come back oldest first. Backends that cannot hand over every line (Elasticsearch, Datadog)
count with their own aggregations and call `allocate` / `pick_in_minute` on what they fetched.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from connectors.base import MinuteCount, Sampling

MINUTE = timedelta(minutes=1)
# A token holding a digit, with any hex letters around it: counters, ids, hashes, UUID parts.
_VALUE = re.compile(r"[0-9A-Fa-f]*\d[0-9A-Fa-f]*")
SHAPE_CHARS = 120
# Beyond a week of minutes, `per_minute` lists only the minutes that had lines.
MAX_LISTED_MINUTES = 7 * 24 * 60
NO_LEVEL = "?"

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def minute_of(stamp: datetime) -> datetime:
    """The UTC minute a timestamp falls in."""
    return stamp.astimezone(UTC).replace(second=0, microsecond=0)


def message_shape(message: str) -> str:
    """A message with its values masked, so variants of one line count as one shape."""
    return _VALUE.sub("N", message)[:SHAPE_CHARS]


def split(limit: int) -> tuple[int, int]:
    """How many of `limit` rows go to the newest lines and how many to the sample."""
    return limit - limit // 2, limit // 2


def seed_of(query: str, start: datetime, end: datetime) -> str:
    """A stable seed for one query over one window (the same on every run and machine)."""
    text = f"{query}\x00{start.isoformat()}\x00{end.isoformat()}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def iso_minute(minute: datetime) -> str:
    """`2024-05-01T12:07:00Z`."""
    return minute.isoformat().replace("+00:00", "Z")


class MinuteCounts:
    """Exact counts per minute of [start, end), by level."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self._by_minute: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.total = 0

    def add(self, minute: datetime, level: str, count: int = 1) -> None:
        """Count `count` lines of `level` in `minute` (any moment in it)."""
        if count > 0:
            self._by_minute[minute_of(minute)][level.lower() or NO_LEVEL] += count
            self.total += count

    def counts(self) -> dict[datetime, int]:
        """Lines per minute, for the minutes that had any."""
        return {minute: sum(levels.values()) for minute, levels in sorted(self._by_minute.items())}

    def per_minute(self) -> list[MinuteCount]:
        """Every minute of the window with its exact count (zeros included for windows up to a week)."""
        minutes = sorted(self._by_minute)
        first, last = minute_of(self.start), minute_of(self.end - timedelta(microseconds=1))
        if self.end > self.start and (last - first) / MINUTE < MAX_LISTED_MINUTES:
            minutes = sorted(set(minutes) | {first + i * MINUTE
                                             for i in range(int((last - first) / MINUTE) + 1)})
        listed = []
        for minute in minutes:
            levels = self._by_minute.get(minute, {})
            listed.append(MinuteCount(minute=iso_minute(minute), count=sum(levels.values()),
                                      by_level=dict(sorted(levels.items()))))
        return listed


def spread(keys: Sequence[K], count: int) -> list[K]:
    """`count` keys evenly spaced over `keys` (all of them if there are no more than `count`)."""
    if count >= len(keys):
        return list(keys)
    return [keys[(i * len(keys)) // count] for i in range(count)]


def allocate(capacity: Mapping[K, int], budget: int, preference: Sequence[K],
             weight: Mapping[K, int] | None = None) -> dict[K, int]:
    """Share `budget` over strata: one each first (in `preference` order when it does not go round),
    the rest in proportion to `weight` (default: capacity), never past a stratum's capacity."""
    keys = [key for key in preference if capacity.get(key, 0) > 0]
    if budget >= sum(capacity[key] for key in keys):
        return {key: capacity[key] for key in keys}
    if budget <= len(keys):
        return {key: 1 for key in keys[:budget]}
    weights = weight or capacity
    quota = {key: 1 for key in keys}
    left = budget - len(keys)
    while left > 0:
        open_keys = [key for key in keys if quota[key] < capacity[key]]
        total = sum(max(weights.get(key, 0), 0) for key in open_keys)
        share = {key: left * (max(weights.get(key, 0), 0) / total if total else 1 / len(open_keys))
                 for key in open_keys}
        given = 0
        for key in open_keys:
            add = min(int(share[key]), capacity[key] - quota[key])
            quota[key] += add
            given += add
        if given == 0:  # every share is under one: largest remainders first
            for key in sorted(open_keys, key=lambda k: -share[k])[:left]:
                quota[key] += 1
                given += 1
        left -= given
    return quota


@dataclass(slots=True)
class Line(Generic[T]):
    """One matching line: when, its message shape, and the payload the connector keeps."""

    stamp: datetime
    shape: str
    item: T


def pick_in_minute(lines: Sequence[Line[T]], quota: int, seed: str) -> list[Line[T]]:
    """`quota` lines of one minute, spread over message shapes (rarest shapes first)."""
    if quota >= len(lines):
        return list(lines)
    by_shape: dict[str, list[Line[T]]] = defaultdict(list)
    for line in lines:
        by_shape[line.shape].append(line)
    sizes = {shape: len(group) for shape, group in by_shape.items()}
    rarest = sorted(sizes, key=lambda shape: (sizes[shape], shape))
    picked: list[Line[T]] = []
    for shape, count in allocate(sizes, quota, rarest).items():
        group = by_shape[shape]
        rng = random.Random(f"{seed}\x00{shape}\x00{group[0].stamp.isoformat()}")  # noqa: S311 (not security)
        chosen = sorted(rng.sample(range(len(group)), count))
        picked.extend(group[i] for i in chosen)
    return picked


@dataclass
class Choice(Generic[T]):
    """The lines a cap keeps (oldest first) and how many came from each part of the policy."""

    lines: list[Line[T]]
    newest: int
    sampled: int


def choose(lines: Sequence[Line[T]], limit: int, seed: str) -> Choice[T]:
    """Apply the policy to every matching line (in any order; ties keep their order)."""
    ordered = sorted(lines, key=lambda line: line.stamp)
    if len(ordered) <= limit:
        return Choice(ordered, len(ordered), 0)
    newest_count, budget = split(limit)
    older, newest = ordered[:len(ordered) - newest_count], ordered[len(ordered) - newest_count:]
    by_minute: dict[datetime, list[Line[T]]] = defaultdict(list)
    for line in older:
        by_minute[minute_of(line.stamp)].append(line)
    sizes = {minute: len(group) for minute, group in by_minute.items()}
    quotas = allocate(sizes, budget, spread(sorted(sizes), budget))
    sampled = [line for minute, quota in quotas.items()
               for line in pick_in_minute(by_minute[minute], quota, seed)]
    kept = sorted(sampled, key=lambda line: line.stamp) + newest
    return Choice(kept, len(newest), len(sampled))


def describe(counts: MinuteCounts, newest: int, sampled: int, how: str = "") -> Sampling:
    """The `Sampling` record: what was kept, how, and the exact counts."""
    matched, kept = counts.total, newest + sampled
    if kept >= matched:
        method = f"all {matched} matched lines"
    else:
        method = (f"newest {newest} + per-minute stratified sample of {sampled} "
                  f"from {matched} matched{how}")
    return Sampling(method=method, matched=matched, kept=kept, newest=newest if kept < matched else kept,
                    sampled=sampled if kept < matched else 0, per_minute=counts.per_minute())
