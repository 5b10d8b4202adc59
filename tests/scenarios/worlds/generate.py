"""Generate the train and holdout splits: `python -m tests.scenarios.worlds --split train --out DIR`.

Seeds: train 1..N, holdout 10_000.. (disjoint); the category is the seed's position modulo the
category list, so every split is balanced; everything else comes from `random.Random(seed)`.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.worlds import ops_worlds
from tests.scenarios.worlds.alerts import alert_body, headers, service_match
from tests.scenarios.worlds.base import old_deploy, skeleton
from tests.scenarios.worlds.code_worlds import defaults_for, regression
from tests.scenarios.worlds.load_worlds import false_alarm, infrastructure, traffic_surge
from tests.scenarios.worlds.model import RepoNeed, World
from tests.scenarios.worlds.render import deploys_json, logs, metrics_csv
from tests.scenarios.worlds.service_repo import build

CATEGORIES = ["bad-deploy", "config-change", "resource-exhaustion", "db-contention",
              "dependency-failure", "traffic-surge", "infrastructure", "false-alarm"]
SPLITS = {"train": (1, 40), "holdout": (10_000, 30)}  # first seed, default count
COMMIT_CATEGORIES = ("bad-deploy", "config-change")
Builder = Callable[[World, random.Random], RepoNeed | None]
BUILDERS: dict[str, Builder] = {
    "resource-exhaustion": ops_worlds.resource_exhaustion,
    "db-contention": ops_worlds.db_contention,
    "dependency-failure": ops_worlds.dependency_failure,
    "traffic-surge": traffic_surge, "infrastructure": infrastructure, "false-alarm": false_alarm,
}


def seeds(split: str, count: int | None = None) -> list[int]:
    """The seeds of a split."""
    first, default = SPLITS[split]
    return list(range(first, first + (default if count is None else count)))


def category_of(seed: int) -> str:
    """The truth category a seed generates."""
    return CATEGORIES[seed % len(CATEGORIES)]


def _repro(world: World, pkg: str, need: RepoNeed) -> dict[str, Any]:
    """The service's repository, repro (replaying the stream's logged request) and tests."""
    text = need.stream.template
    signature = re.escape(text.split("{")[0][-60:].strip() or text[:40])
    expect = need.change.expect if need.change is not None else text.split("{")[0].strip()[:60]
    return {"repository": "repo.bundle",
            "repro": {"command": ["python3", "repro.py", "--request", "{request}"],
                      "setup": ["python3", "-m", "compileall", "-q", pkg, "repro.py"],
                      "expect": expect, "timeout": 60, "setup_timeout": 120,
                      "inputs": {"request": {"kind": "logs", "match": signature,
                                             "field": "request"}}},
            "test": {"command": ["python3", "-m", "unittest", "-q"], "timeout": 120}}


def _expectations(world: World, need: RepoNeed | None, culprit: str | None) -> dict[str, Any]:
    if world.category == "false-alarm":
        return {"abstains": True, "blames_commit": False}
    found: dict[str, Any] = {"top_category": world.category}
    if culprit is not None:
        found.update(culprit_commit=culprit, repro_verdict="reproduced", fix_verified=True)
        return found
    found["blames_commit"] = False
    newest = max(world.deploys, key=lambda d: d.at) if world.deploys else None
    if need is not None and newest is need.deploy:
        found.update(repro_verdict="not_reproduced", fix_verified=False)
    return found


def make_world(seed: int, repo_dir: Path) -> tuple[World, Path | None]:
    """The world of `seed`, and its repository (written under `repo_dir`) if it has one."""
    category = category_of(seed)
    world, rng = skeleton(seed, category)
    defaults = defaults_for(rng)
    if category in COMMIT_CATEGORIES:
        need: RepoNeed | None = regression(world, rng, defaults)
    else:
        need = BUILDERS[category](world, rng)
    culprit = None
    repo_path = None
    pkg = world.service.replace("-", "_")
    if need is not None:
        repo_rng = random.Random(seed * 7919 + 3)
        repo = build(repo_dir / world.name, world.service, pkg, defaults, need.change,
                     need.deploy.at, repo_rng)
        need.deploy.commit, need.deploy.previous_commit = repo.deployed, repo.good
        need.deploy.files = repo.files
        need.deploy.description = repo_rng.choice(repo.subjects)
        world.deploys.append(old_deploy(world, repo_rng, repo.good))
        world.repro = _repro(world, pkg, need)
        culprit = repo.culprit
        repo_path = repo.history.bundle(repo_dir / f"{world.name}.bundle")
    world.expectations = _expectations(world, need, culprit)
    return world, repo_path


def scenario_yaml(world: World) -> dict[str, Any]:
    """scenario.yaml of the world's bundle."""
    service: dict[str, Any] = {"name": world.service, "match": service_match(world),
                               "connectors": ["logs", "metrics", "deploys"]}
    config: dict[str, Any] = {
        "services": [service | (world.repro or {})],
        "connectors": {"logs": {"type": "files_logs", "path": "logs.jsonl"},
                       "metrics": {"type": "files_metrics", "path": "metrics.csv"},
                       "deploys": {"type": "files_deploys", "path": "deploys.json"}}}
    if world.repro:
        config["sandbox"] = "local"
    return {"name": world.name, "description": world.description, "source": world.source,
            "headers": headers(world), "incident_time": world.alert_at.isoformat().replace(
                "+00:00", "Z"), "config": config, "expectations": world.expectations}


def write_world(seed: int, out: Path) -> Path:
    """Write the bundle of `seed` under `out`; its folder."""
    with tempfile.TemporaryDirectory(prefix="world-repo-") as tmp:
        world, repo = make_world(seed, Path(tmp))
        folder = out / world.name
        folder.mkdir(parents=True, exist_ok=True)
        if repo is not None:
            (folder / "repo.bundle").write_bytes(repo.read_bytes())
    (folder / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs(world)))
    (folder / "metrics.csv").write_text(metrics_csv(world))
    (folder / "deploys.json").write_text(deploys_json(world))
    (folder / "alert.json").write_text(json.dumps(alert_body(world), separators=(",", ":")))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario_yaml(world), sort_keys=False))
    return folder


def write_split(split: str, out: Path, count: int | None = None) -> list[Path]:
    """Every bundle of a split."""
    return [write_world(seed, out) for seed in seeds(split, count)]
