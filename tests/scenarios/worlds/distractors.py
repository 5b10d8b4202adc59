"""Deploys that did not cause the incident; about half ship a repository whose repro passes."""

from __future__ import annotations

import random
from datetime import timedelta

from tests.scenarios.worlds.base import unrelated_deploy
from tests.scenarios.worlds.changes import body
from tests.scenarios.worlds.model import RepoNeed, Request, Stream, World


def replayable(world: World, stream: Stream) -> Stream:
    """`stream` logging the request each failing line was answering (a body the code accepts)."""
    path = f"/api/{world.service}/quote"

    def make(rng: random.Random) -> Request:
        return {"method": "POST", "path": path, "body": body(rng)}

    stream.request, stream.path = make, path
    return stream


def distractor_deploy(world: World, rng: random.Random, stream: Stream, chance: float = 0.75,
                      low: float = 5, high: float = 90, repo_chance: float = 0.8) -> RepoNeed | None:
    """Maybe a deploy of the service `low`-`high` min before the onset; in `repo_chance` of those
    a repository whose repro replays `stream`'s request (and passes)."""
    if rng.random() >= chance:
        return None
    if rng.random() >= repo_chance:
        world.deploys.append(unrelated_deploy(world, rng, low, high))
        return None
    # With a repository, the deploy stays inside the usual lookback (55 min before the alert),
    # so `not_reproduced` tests the diagnosis, not how far back deploys are read.
    lead = (world.alert_at - world.onset) / timedelta(minutes=1)
    deploy = unrelated_deploy(world, rng, min(low, 55 - lead), max(min(high, 55 - lead), 1))
    world.deploys.append(deploy)
    replayable(world, stream)
    return RepoNeed(deploy, stream)
