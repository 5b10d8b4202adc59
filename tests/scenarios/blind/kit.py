"""Telemetry as a service emits it: log lines at a per-minute rate, per-minute metric samples,
and the curves an incident draws on them (steps, slow ramps, blips)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

Curve = Callable[[float], float]  # minutes relative to the alert (negative before) -> value


def iso(t: datetime, millis: bool = True) -> str:
    """RFC 3339 in UTC, as most shippers write it."""
    text = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f" if millis else "%Y-%m-%dT%H:%M:%S")
    return (text[:-3] if millis else text) + "Z"


def flat(value: float) -> Curve:
    """The same level all the time."""
    return lambda m: value


def step(onset: float, before: float, after: float, ramp: float = 0.0) -> Curve:
    """`before` until `onset` minutes (relative to the alert), then `after` (linearly over `ramp`)."""

    def curve(m: float) -> float:
        if m < onset:
            return before
        if ramp <= 0 or m >= onset + ramp:
            return after
        return before + (after - before) * (m - onset) / ramp

    return curve


def blip(at: float, width: float, base: float, peak: float) -> Curve:
    """A short bump that comes back by itself."""
    return lambda m: peak if at <= m < at + width else base


def grow(onset: float, base: float, per_minute: float, cap: float | None = None) -> Curve:
    """A slow leak: flat, then rising linearly (a sawtooth at `cap`, as a restarted pod drops)."""

    def curve(m: float) -> float:
        value = base if m < onset else base + per_minute * (m - onset)
        return value if cap is None or value <= cap else base + (value - base) % (cap - base)

    return curve


def plus(*curves: Curve) -> Curve:
    """The sum of curves."""
    return lambda m: sum(c(m) for c in curves)


def daily(base: float, swing: float) -> Curve:
    """Ordinary diurnal drift within the window (a few percent an hour)."""
    return lambda m: base * (1 + swing * math.sin(m / 95.0))


@dataclass
class Telemetry:
    """Log lines and metric samples of one incident's window."""

    rng: Random
    alert_at: datetime
    before: int = 150  # minutes of history before the alert
    after: int = 4
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[tuple[datetime, str, float, dict[str, str]]] = field(default_factory=list)

    def at(self, minute: float) -> datetime:
        """The instant `minute` minutes from the alert."""
        return self.alert_at + timedelta(minutes=minute)

    def minutes(self) -> range:
        """Every whole minute of the window, relative to the alert."""
        return range(-self.before, self.after)

    def log(self, t: datetime, record: dict[str, Any]) -> None:
        """Keep one record, its timestamp (from `t` unless it has one) first, as shippers write it."""
        self.logs.append({"timestamp": record.pop("timestamp", iso(t)), **record, "_t": t})

    def stream(
        self,
        rate: Curve,
        emit: Callable[[datetime], dict[str, Any] | None],
        start: float | None = None,
        end: float | None = None,
    ) -> None:
        """Emit Poisson-distributed lines at `rate(m)` per minute between `start` and `end`."""
        lo = -self.before if start is None else max(-self.before, math.floor(start))
        hi = self.after if end is None else min(self.after, math.ceil(end))
        for m in range(lo, hi):
            for _ in range(self._poisson(max(0.0, rate(m + 0.5)))):
                t = self.at(m + self.rng.random())
                if (start is not None and t < self.at(start)) or (end is not None and t >= self.at(end)):
                    continue
                record = emit(t)
                if record is not None:
                    self.log(t, record)

    def series(
        self,
        metric: str,
        curve: Curve,
        noise: float = 0.04,
        digits: int = 3,
        labels: dict[str, str] | None = None,
        **more: str,
    ) -> None:
        """One per-minute gauge or rate, with relative Gaussian noise, never below zero."""
        tags = {**(labels or {}), **more}
        for m in self.minutes():
            value = curve(float(m)) * (1 + self.rng.gauss(0, noise))
            self.metrics.append((self.at(m), metric, round(max(0.0, value), digits), tags))

    def _poisson(self, lam: float) -> int:
        if lam > 40:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def logs_jsonl(self) -> str:
        """The log file, oldest line first."""
        ordered = sorted(self.logs, key=lambda r: r["_t"])
        return "".join(json.dumps({k: v for k, v in r.items() if k != "_t"}) + "\n" for r in ordered)

    def metrics_csv(self) -> str:
        """The metrics file: `timestamp,metric,value,<labels...>` in time order."""
        keys = sorted({k for *_, labels in self.metrics for k in labels})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["timestamp", "metric", "value", *keys])
        for t, metric, value, labels in sorted(
            self.metrics, key=lambda r: (r[0], r[1], sorted(r[3].items()))
        ):
            writer.writerow([iso(t, millis=False), metric, f"{value:g}", *(labels.get(k, "") for k in keys)])
        return out.getvalue()


def hexsha(rng: Random) -> str:
    """A commit id for a deploy of a repository the bundle does not ship."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def deploy(
    rng: Random,
    service: str,
    when: datetime,
    commit: str,
    author: str,
    description: str,
    files: list[str],
    previous: str | None = None,
) -> dict[str, Any]:
    """One record of the deploy system."""
    record: dict[str, Any] = {
        "id": f"deploy-{rng.randrange(10000, 99999)}",
        "service": service,
        "commit": commit,
        "deployed_at": iso(when, millis=False),
        "author": author,
        "description": description,
        "files": files,
    }
    if previous:
        record["previous_commit"] = previous
    return record


def history(
    rng: Random, service: str, alert_at: datetime, count: int, newest_hours: float
) -> list[dict[str, Any]]:
    """Healthy deploys of days past: the lookback is never empty in a real shop."""
    chores = [
        ("Bump dependencies", ["requirements.txt"]),
        ("Add metrics for cache hits", ["app/metrics.py"]),
        ("Copy fixes on error pages", ["templates/error.html"]),
        ("Refactor request logging", ["app/logging.py"]),
        ("Upgrade base image to debian bookworm", ["Dockerfile"]),
        ("Tidy feature flag names", ["app/flags.py"]),
        ("Add index hint for search", ["app/queries.py"]),
        ("Rotate sentry DSN", ["deploy/values.yaml"]),
    ]
    authors = ["priya", "tomas", "wen", "oluwaseun", "j.garcia", "deploy-bot"]
    out: list[dict[str, Any]] = []
    hours = newest_hours
    previous = hexsha(rng)
    commits = []
    for _ in range(count):
        commits.append(hours)
        hours += rng.uniform(5, 30)
    for hours in reversed(commits):
        what, files = rng.choice(chores)
        commit = hexsha(rng)
        out.append(
            deploy(
                rng,
                service,
                alert_at - timedelta(hours=hours),
                commit,
                rng.choice(authors),
                what,
                files,
                previous,
            )
        )
        previous = commit
    return out
