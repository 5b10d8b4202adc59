"""Compaction for brains: a log query's lines become a summary bounded in tokens.

    summary = compact_logs(lines_from_rows(evidence.rows), window, budget_tokens=2000,
                           redact=redactor.redact_text)

The summary says, most important first: how many lines and templates, when the log volume and
the error-level volume changed (change points), the templates new in the incident window, the
ones whose rate rose most, and the busiest ones; then one redacted sample line per new / risen
template while the budget lasts. Whatever does not fit is counted ("+12 more"), never silently
dropped. The full data stays in the store.

Tokens are estimated, not counted with a model's tokenizer (none can be downloaded here). The
estimate errs high for log text: each punctuation mark is a token, a run of letters costs one token
per four letters, a run of digits one per three (BPE tokenizers group digits by at most three), so
hashes and ids, which tokenizers cut finely, are paid for; and never less than characters / 4.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.timeparse import parse_timestamp
from triage.analysis.levels import ERROR_LEVELS, WARNING_LEVELS
from triage.analysis.signals import AnalysisWindow
from triage.analysis.templates import (
    MinerConfig,
    TemplateChange,
    TemplateDiff,
    TemplateWindows,
    no_redaction,
)

MAX_TEMPLATE_CHARS = 160
MAX_TOP = 15  # the busiest templates are context; the news is in NEW and RISEN
MAX_BUCKETS = 240
_PIECES = re.compile(r"[^\W\d_]+|\d+|[^\s]")


def estimate_tokens(text: str) -> int:
    """Approximate token count, on the high side (see the module docstring)."""
    pieces = 0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isdigit():
            pieces += (len(piece) + 2) // 3
        elif first.isalpha():
            pieces += (len(piece) + 3) // 4
        else:
            pieces += len(piece)
    return max(math.ceil(len(text) / 4), pieces)


@dataclass(frozen=True)
class LogLine:
    """One log line as the compactor reads it."""

    timestamp: datetime
    message: str
    level: str = ""


def lines_from_rows(rows: Iterable[dict[str, Any]]) -> Iterator[LogLine]:
    """Evidence rows (timestamp, message, level or severity) as log lines; undated rows skipped."""
    for row in rows:
        try:
            stamp = parse_timestamp(row.get("timestamp"))
        except ValueError:
            continue
        yield LogLine(stamp, str(row.get("message", "")), str(row.get("level", row.get("severity", ""))))


@dataclass(frozen=True)
class ChangePoint:
    """Where a per-minute series shifted level, and from what to what."""

    at: datetime
    before_per_min: float
    after_per_min: float


def change_point(counts: list[int], start: datetime, bucket: timedelta) -> ChangePoint | None:
    """The single split that best separates two levels, if the shift is clear (>= 1.5x, z >= 4)."""
    n = len(counts)
    if n < 4:
        return None
    prefix = [0]
    for value in counts:
        prefix.append(prefix[-1] + value)
    best, best_score = 0, 0.0
    for split in range(2, n - 1):
        left, right = prefix[split] / split, (prefix[n] - prefix[split]) / (n - split)
        # Mean shift weighted by segment sizes (the CUSUM statistic for one change).
        score = abs(right - left) * math.sqrt(split * (n - split) / n)
        if score > best_score:
            best, best_score = split, score
    if not best:
        return None
    left, right = prefix[best] / best, (prefix[n] - prefix[best]) / (n - best)
    # Poisson noise on the lower level: a shift must stand well above it to be reported.
    noise = math.sqrt(max(min(left, right), 1.0))
    low, high = sorted((left, right))
    if high < 1.5 * max(low, 0.5) or best_score < 4 * noise:
        return None
    minutes = bucket.total_seconds() / 60
    return ChangePoint(start + best * bucket, left / minutes, right / minutes)


class _Series:
    """Per-bucket line counts over the window, in at most MAX_BUCKETS buckets."""

    def __init__(self, window: AnalysisWindow) -> None:
        span = max((window.end - window.start).total_seconds() / 60, 1.0)
        self.start = window.start
        self.bucket = timedelta(minutes=max(1, math.ceil(span / MAX_BUCKETS)))
        self.size = max(1, math.ceil(span / (self.bucket.total_seconds() / 60)))
        self.total = [0] * self.size
        self.errors = [0] * self.size

    def add(self, stamp: datetime, error: bool) -> None:
        """Count one line in its bucket (lines outside the window are not counted)."""
        index = int((stamp - self.start) / self.bucket)
        if 0 <= index < self.size:
            self.total[index] += 1
            self.errors[index] += error


class _Writer:
    """Accumulates lines while their estimated tokens stay within the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0

    def cost(self, line: str) -> int:
        """Estimated tokens of one line with its newline."""
        return estimate_tokens(line) + 1  # the newline

    def take(self, line: str, reserve: int = 0) -> bool:
        """Pay for `line` if it fits, keeping `reserve` tokens free; whether it did."""
        cost = self.cost(line)
        if self.used + cost + reserve > self.budget:
            return False
        self.used += cost
        return True


def _clock(stamp: datetime) -> str:
    """Time of day, to the second."""
    return stamp.strftime("%H:%M:%S")


def _short(text: str, limit: int = MAX_TEMPLATE_CHARS) -> str:
    """At most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def severity(level: str) -> int:
    """Rank of a log level: 2 error and worse, 1 warning, 0 anything else."""
    level = level.lower()
    return 2 if level in ERROR_LEVELS else 1 if level in WARNING_LEVELS else 0


_TAGS = {2: "ERROR ", 1: "WARN ", 0: ""}


def _new_line(change: TemplateChange) -> str:
    """One new template: level, count, first and last seen, template."""
    return (f"- {_TAGS[change.severity]}×{change.incident_count} first {_clock(change.first_seen)} "
            f"last {_clock(change.last_seen)}: {_short(change.template)}")


def _risen_line(change: TemplateChange) -> str:
    """One risen template: level, rates, counts, template."""
    ratio = change.ratio or 0.0
    return (f"- {_TAGS[change.severity]}{change.baseline_per_min:.2f}→{change.incident_per_min:.2f}"
            f"/min (×{ratio:.1f}; {change.baseline_count}→{change.incident_count}): "
            f"{_short(change.template)}")


def _top_line(change: TemplateChange, lines: int) -> str:
    """One busy template: count and share of the incident window's lines."""
    share = 100 * change.incident_count / max(lines, 1)
    return f"- ×{change.incident_count} ({share:.0f}%): {_short(change.template)}"


def _header(diff: TemplateDiff, window: AnalysisWindow, errors: Counter[bool]) -> list[str]:
    """Line and template counts, and the error-level rate in each window."""
    base_min, inc_min = window.minutes(incident=False), window.minutes(incident=True)
    evicted = f", {diff.evicted} evicted (LRU)" if diff.evicted else ""
    return [
        f"logs {window.start:%Y-%m-%d %H:%M}–{window.end:%H:%M} UTC, onset {window.onset:%H:%M}: "
        f"baseline {diff.baseline_lines} lines in {base_min:.0f} min, incident "
        f"{diff.incident_lines} in {inc_min:.0f} min; {diff.templates} templates{evicted}",
        f"error-level lines: {errors[False] / base_min:.2f}/min baseline → "
        f"{errors[True] / inc_min:.2f}/min incident",
    ]


def _change_lines(series: _Series) -> list[str]:
    """A line per series (all lines, error-level lines) with a clear change point."""
    out = []
    for name, counts in (("log volume", series.total), ("error-level volume", series.errors)):
        point = change_point(counts, series.start, series.bucket)
        if point:
            out.append(f"change point: {name} {point.before_per_min:.1f}→{point.after_per_min:.1f}"
                       f"/min at {point.at:%H:%M}")
    return out


def compact_logs(lines: Iterable[LogLine], window: AnalysisWindow, *, budget_tokens: int = 2000,
                 redact: Callable[[str], str] = no_redaction,
                 config: MinerConfig | None = None) -> str:
    """A summary of `lines` for a brain, at most `budget_tokens` (estimated) long."""
    windows = TemplateWindows(window, config=config, samples=1, max_sample_chars=MAX_TEMPLATE_CHARS,
                              redact=redact)
    series = _Series(window)
    errors: Counter[bool] = Counter()  # key: in the incident window
    for line in lines:
        rank = severity(line.level)
        windows.add(line.timestamp, line.message, rank)
        series.add(line.timestamp, rank == 2)
        if rank == 2:
            errors[line.timestamp >= window.onset] += 1
    diff = windows.diff()
    return _render(diff, window, errors, series, budget_tokens)


def _render(diff: TemplateDiff, window: AnalysisWindow, errors: Counter[bool], series: _Series,
            budget: int) -> str:
    """Lay out the summary within `budget` tokens, most important first."""
    writer = _Writer(budget)
    head = [line for line in [*_header(diff, window, errors), *_change_lines(series)]
            if writer.take(line)]
    # Errors, then warnings, before other levels; within a level the diff's order stands.
    sections: list[tuple[str, list[TemplateChange], Callable[[TemplateChange], str]]] = [
        ("NEW in the incident window", sorted(diff.new, key=lambda c: -c.severity), _new_line),
        ("RISEN most (baseline → incident rate)", sorted(diff.risen, key=lambda c: -c.severity),
         _risen_line),
        ("TOP in the incident window", diff.top, lambda c: _top_line(c, diff.incident_lines)),
    ]
    # Each non-empty section's title and a "+N more" line are paid for up front.
    reserve = sum(writer.cost(f"{title} ({len(items)}):") + writer.cost("  +99999 more")
                  for title, items, _ in sections if items)
    writer.used += reserve
    shown: list[list[TemplateChange]] = [[] for _ in sections]
    samples: dict[tuple[int, int], str] = {}

    def fill(index: int, quota: int | None) -> None:
        """Show more items of one section, up to `quota`, while they fit."""
        items, fmt = sections[index][1], sections[index][2]
        for change in items[len(shown[index]): quota]:
            if not writer.take(fmt(change)):
                return
            shown[index].append(change)

    # A few of each kind first, so a long tail of new templates cannot crowd out the risen ones;
    # then a sample line for each of those; then the rest, most important kind first.
    for index in range(len(sections)):
        fill(index, 5)
    for index in (0, 1):
        for position, change in enumerate(shown[index]):
            sample = f"  e.g. {_short(change.samples[0])}" if change.samples else ""
            if sample and writer.take(sample):
                samples[index, position] = sample
    fill(0, None)
    fill(1, None)
    fill(2, MAX_TOP)
    out = list(head)
    for index, ((title, items, fmt), picked) in enumerate(zip(sections, shown, strict=True)):
        if not items:
            continue
        out.append(f"{title} ({len(items)}):")
        for position, change in enumerate(picked):
            out.append(fmt(change))
            if (index, position) in samples:
                out.append(samples[index, position])
        if len(items) > len(picked):
            out.append(f"  +{len(items) - len(picked)} more")
    # Only a budget too small for the section titles gets here: cut from the end.
    while out and estimate_tokens("\n".join(out)) > budget:
        out.pop()
    return "\n".join(out)
