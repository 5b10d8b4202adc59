"""What one incident world is made of: metric series, log streams, deploys, the alert."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Request = dict[str, Any]
LogStyle = Literal["json", "kv", "access"]


@dataclass
class Series:
    """A metric at `base` that moves to `peak` from `start` (a step, or a ramp over `ramp` min)."""

    name: str
    base: float
    peak: float
    start: datetime | None = None  # None: flat
    ramp: float = 0.0
    noise: float = 0.04
    labels: dict[str, str] = field(default_factory=dict)
    integer: bool = False
    cap: float | None = None  # a gauge never exceeds its limit

    def value(self, t: datetime, rng: random.Random) -> float:
        """The value at `t`, with multiplicative noise."""
        level = self.base
        if self.start is not None and t >= self.start:
            done = 1.0 if self.ramp <= 0 else min(1.0, (t - self.start).total_seconds() / (self.ramp * 60))
            level = self.base + (self.peak - self.base) * done
        value = level * (1 + rng.uniform(-self.noise, self.noise))
        if self.cap is not None:
            value = min(value, self.cap)
        return float(round(value)) if self.integer else round(value, 3)


@dataclass
class Stream:
    """Error or warning lines making up `share` of the traffic from `start` (ramping over `ramp`)."""

    template: str
    start: datetime
    share: float
    level: str = "error"
    ramp: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)  # e.g. host=node-3: a partial outage
    request: Callable[[random.Random], Request] | None = None  # the failing request it logs
    status: int = 500
    path: str | None = None

    def share_at(self, t: datetime) -> float:
        """The share of lines this stream takes at `t`."""
        if t < self.start:
            return 0.0
        if self.ramp <= 0:
            return self.share
        return self.share * min(1.0, (t - self.start).total_seconds() / (self.ramp * 60))


@dataclass
class Sporadic:
    """A handful of lines at fixed times: noise, or a batch job announcing itself."""

    template: str
    at: list[datetime]
    level: str = "error"
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Traffic:
    """Background request lines: rate, latency and the attribute mix, possibly surging."""

    per_minute: int
    paths: list[str]
    surge_start: datetime | None = None
    surge_factor: float = 1.0
    surge_ramp: float = 0.0
    surge_fields: dict[str, str] = field(default_factory=dict)  # what the extra requests carry
    latency_ms: int = 60
    slow_start: datetime | None = None
    slow_factor: float = 1.0

    def factor(self, t: datetime) -> float:
        """The rate multiplier at `t`."""
        if self.surge_start is None or t < self.surge_start:
            return 1.0
        done = 1.0 if self.surge_ramp <= 0 else min(
            1.0, (t - self.surge_start).total_seconds() / (self.surge_ramp * 60))
        return 1.0 + (self.surge_factor - 1.0) * done


@dataclass
class DeployEvent:
    """A deploy at `at`; `label` names its commit in the world's repository (or a fixed SHA)."""

    at: datetime
    commit: str
    author: str
    description: str
    files: list[str] = field(default_factory=list)
    service: str | None = None  # None: the world's service
    previous_commit: str | None = None


@dataclass
class World:
    """One incident: everything needed to write its bundle."""

    seed: int
    category: str
    service: str
    description: str
    alert_at: datetime
    onset: datetime
    source: str
    alert_title: str
    style: LogStyle
    traffic: Traffic
    hosts: list[str]
    series: list[Series] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    sporadic: list[Sporadic] = field(default_factory=list)
    deploys: list[DeployEvent] = field(default_factory=list)
    expectations: dict[str, Any] = field(default_factory=dict)
    repro: dict[str, Any] | None = None  # the service's repro: section, when it has a repository
    variant: dict[str, Any] = field(default_factory=dict)  # alert payload variant choices

    @property
    def name(self) -> str:
        """The bundle's folder name; neutral, so nothing reads the truth from it."""
        return f"world-{self.seed:05d}-{self.service}"

    @property
    def start(self) -> datetime:
        """Where the telemetry begins."""
        return self.alert_at - timedelta(minutes=90)

    @property
    def end(self) -> datetime:
        """Where it ends."""
        return self.alert_at + timedelta(minutes=10)


@dataclass
class RepoNeed:
    """The world ships its service's repository: `deploy` gets the deployed commit, `stream`'s
    logged request is what the repro replays, and `change` (if any) is the culprit."""

    deploy: DeployEvent
    stream: Stream
    change: Any = None  # changes.Change; Any keeps this module free of the repo code
