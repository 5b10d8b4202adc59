"""What every world shares: a service, times, a log style, ordinary traffic and its metrics, the
alert's source and variant, and the distractors (unrelated deploys, sporadic noise)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.scenarios.worlds.alerts import SOURCES, choose_variant
from tests.scenarios.worlds.model import DeployEvent, Series, Sporadic, Traffic, World

SERVICES = ["checkout", "payments", "search", "catalog", "orders", "inventory", "profile",
            "shipping", "billing", "pricing", "cart", "ledger", "accounts", "notifications",
            "recommendations", "quotes", "invoices", "loyalty", "reviews", "media"]
REQUESTS = ["http_requests_total", "requests_per_second", "nginx_requests", "rps"]
ERRORS = ["http_errors_total", "http_5xx_total", "requests_failed", "error_count"]
LATENCY = ["http_latency_p99_ms", "request_duration_p95_ms", "latency_p99_ms", "http_p99_ms"]
NOISE = [("error", "read tcp {svc}-cache:6379: connection reset by peer"),
         ("warn", "slow query took {ms}ms: SELECT * FROM sessions WHERE id = $1"),
         ("error", "grpc: failed to export spans to otel-collector: context deadline exceeded"),
         ("warn", "GC pause {ms}ms exceeded target"),
         ("error", "failed to refresh feature flags: 502 from flags.internal")]
OTHER_SERVICES = ["web-frontend", "admin", "mailer", "analytics", "gateway"]


def skeleton(seed: int, category: str) -> tuple[World, random.Random]:
    """A world with ordinary traffic and flat metrics; the category adds the incident."""
    rng = random.Random(seed)
    service = rng.choice(SERVICES)
    alert_at = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 90),
                                                             minutes=rng.randint(0, 1439))
    onset = alert_at - timedelta(seconds=rng.randint(2 * 60, 30 * 60))
    source = rng.choice(SOURCES)
    hosts = [f"{service}-{i}" for i in range(1, rng.randint(3, 6))]
    paths = [f"/api/{service}/quote", f"/api/{service}/items", f"/api/{service}/status",
             f"/api/{service}/search"]
    traffic = Traffic(per_minute=rng.randint(10, 60), paths=paths, latency_ms=rng.randint(20, 150))
    world = World(seed=seed, category=category, service=service, description="", alert_at=alert_at,
                  onset=onset, source=source, alert_title="",
                  style=rng.choice(["json", "kv", "access"]), traffic=traffic, hosts=hosts,
                  variant=choose_variant(source, rng))
    rate = traffic.per_minute * rng.choice([5, 10, 20])
    world.variant["metrics"] = {"requests": rng.choice(REQUESTS), "errors": rng.choice(ERRORS),
                                "latency": rng.choice(LATENCY)}
    world.series = [Series(world.variant["metrics"]["requests"], rate, rate, integer=True),
                    Series(world.variant["metrics"]["errors"], rng.uniform(0.5, 3), 0, noise=0.5,
                           integer=True),
                    Series(world.variant["metrics"]["latency"], traffic.latency_ms * 2.5, 0)]
    for s in world.series[1:]:
        s.peak = s.base  # flat until a category moves it
    return world, rng


def metric(world: World, kind: str) -> Series:
    """The world's request, error or latency series."""
    name = world.variant["metrics"][kind]
    return next(s for s in world.series if s.name == name)


def minutes(t: datetime, delta: float) -> datetime:
    """`t` plus `delta` minutes, to the second."""
    return (t + timedelta(minutes=delta)).replace(microsecond=0)


def add_noise(world: World, rng: random.Random) -> None:
    """One to three sporadic noise kinds, a line or two each, some after the onset."""
    for level, template in rng.sample(NOISE, rng.randint(1, 3)):
        at = [minutes(world.start, rng.uniform(5, 95)) for _ in range(rng.randint(1, 2))]
        world.sporadic.append(Sporadic(template.replace("{svc}", world.service), sorted(at), level))


def old_deploy(world: World, rng: random.Random, commit: str) -> DeployEvent:
    """The last deploy before today's: days ago."""
    return DeployEvent(minutes(world.alert_at, -rng.randint(2, 9) * 1440 - rng.randint(0, 600)),
                       commit, rng.choice(["mara", "kim", "lee"]), "Weekly release")


def unrelated_deploy(world: World, rng: random.Random, low: float = 5, high: float = 90,
                     other_service: bool = False) -> DeployEvent:
    """A deploy `low`-`high` minutes before the onset (of another service, if asked)."""
    sha = f"{rng.getrandbits(160):040x}"
    return DeployEvent(minutes(world.onset, -rng.uniform(low, high)), sha,
                       rng.choice(["ana", "raj", "ines", "tom"]),
                       rng.choice(["Copy changes on the landing page", "Bump dependencies",
                                   "Refactor logging setup", "Add metrics for cache hits",
                                   "Feature flag for the new banner"]),
                       ["README.md"], rng.choice(OTHER_SERVICES) if other_service else None)
