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


def distractor_deploy(world: World, rng: random.Random, stream: Stream, chance: float = 0.6,
                      low: float = 5, high: float = 90, repo_chance: float = 0.8) -> RepoNeed | None:
    """Maybe a deploy of the service `low`-`high` min before the onset; with a repository whose
    repro replays `stream`'s request (and passes) in `repo_chance` of those."""
    if rng.random() >= chance:
        return None
    deploy = unrelated_deploy(world, rng, low, high)
    world.deploys.append(deploy)
    # A repository only where the deploy is inside the usual lookback (an hour before the alert),
    # so `not_reproduced` tests the diagnosis, not how far back deploys are read.
    if rng.random() >= repo_chance or world.alert_at - deploy.at > timedelta(minutes=55):
        return None
    replayable(world, stream)
    return RepoNeed(deploy, stream)
