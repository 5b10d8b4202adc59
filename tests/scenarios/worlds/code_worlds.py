"""Worlds whose cause is a commit: a code regression or a configuration change in a deploy."""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.scenarios.worlds.base import add_noise, metric, minutes, unrelated_deploy
from tests.scenarios.worlds.changes import Change, Defaults, code_change, config_change
from tests.scenarios.worlds.model import DeployEvent, RepoNeed, Request, Stream, World

ERROR_TITLES = ["{svc} 5xx ratio above 2%", "High error rate on {svc}",
                "{svc} error budget burn rate critical", "{Svc}ErrorRate: 5xx above threshold",
                "Elevated 500s on {svc} API"]
LATENCY_TITLES = ["{svc} p99 latency above 1s", "{Svc} slow responses", "{svc} latency SLO burn"]


def defaults_for(rng: random.Random) -> Defaults:
    """The service's configuration before any change."""
    return Defaults(timeout=rng.choice([10, 20, 30, 60]), max_items=rng.choice([50, 100, 200]),
                    pool_size=rng.choice([40, 50, 64, 80]))


def title(rng: random.Random, options: list[str], service: str) -> str:
    """An alert title for `service`."""
    return rng.choice(options).format(svc=service, Svc=service.title())


def failing_request(change: Change, service: str) -> Callable[[random.Random], Request]:
    """The request factory a stream logs: the failing body, as the service received it."""
    def make(rng: random.Random) -> Request:
        return {"method": "POST", "path": f"/api/{service}/quote", "body": change.failing(rng)}
    return make


def regression(world: World, rng: random.Random, defaults: Defaults) -> RepoNeed:
    """A deploy 1-3 minutes before the onset ships `change`; errors follow."""
    config = world.category == "config-change"
    change = config_change(rng, world.service, defaults) if config else code_change(rng, world.service)
    deploy = DeployEvent(minutes(world.onset, -rng.uniform(1, 3)), "", rng.choice(["lee", "raj", "ines"]),
                         "")
    share = rng.uniform(0.06, 0.3)
    stream = Stream(change.log, world.onset, share, "error", rng.choice([0.0, 0.0, 2.0]),
                    dict(change.fields), failing_request(change, world.service),
                    change.status, f"/api/{world.service}/quote")
    world.streams.append(stream)
    errors = metric(world, "errors")
    errors.start, errors.peak = world.onset, errors.base + metric(world, "requests").base * share
    timeouts = "timed out" in change.expect
    if timeouts:  # requests now wait for the (lower) timeout before failing
        latency = metric(world, "latency")
        latency.start, latency.peak = world.onset, latency.base * rng.uniform(2, 4)
    world.alert_title = title(rng, LATENCY_TITLES if timeouts and rng.random() < 0.5
                              else ERROR_TITLES, world.service)
    world.deploys.append(deploy)
    if rng.random() < 0.4:
        world.deploys.append(unrelated_deploy(world, rng, other_service=True))
    add_noise(world, rng)
    what = "a configuration change" if config else "a code change"
    world.description = (f"A deploy of {world.service} carries {what} ({change.subject!r} in "
                         f"{change.path.replace('PKG/', '')}): {change.expect} on "
                         f"{share:.0%} of requests from a minute or so after it.")
    return RepoNeed(deploy, stream, change)
