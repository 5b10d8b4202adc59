"""The fresh corpus: new kinds in every category, disjoint splits, sampled kinds load as bundles
with their truth through every alert source, and a regression's repro fails at the deploy but
not before the culprit (an innocent deploy's passes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.blind.generate import KINDS as BLIND
from tests.scenarios.blind.generate import SOURCES, build
from tests.scenarios.blind.generate import seeds as blind_seeds
from tests.scenarios.fresh import k_deploy, k_deps, k_infra, k_quiet, k_worker
from tests.scenarios.fresh.generate import KINDS, SPLITS, seeds
from triage.scenarios import load_scenario

TRUTH = {kind: truth for truth, kinds in KINDS.items() for kind in kinds}
SAMPLE = [k_worker.payout_dlq, k_deps.vendor_region, k_infra.clock_skew, k_quiet.scrape_gap]


def test_the_corpus_covers_every_category_with_new_kinds() -> None:
    assert set(KINDS) == set(BLIND)
    assert sum(map(len, KINDS.values())) >= 20 and min(map(len, KINDS.values())) >= 3
    blind_names = {k.__name__ for kinds in BLIND.values() for k in kinds}
    assert not blind_names & {k.__name__ for k in TRUTH}


def test_splits_are_disjoint_from_each_other_and_from_the_blind_corpus() -> None:
    dev, holdout = ({seed for seed, _, _ in seeds(split)} for split in ("dev", "holdout"))
    blind = {seed for split in ("dev", "holdout") for seed, _, _ in blind_seeds(split)}
    assert len(dev) == len(TRUTH) and not dev & holdout and not (dev | holdout) & blind
    assert set(SPLITS) == {"dev", "holdout"}


@pytest.mark.parametrize("kind", SAMPLE, ids=lambda k: k.__name__)
def test_a_kind_loads_through_every_source(kind: Any, tmp_path: Path) -> None:
    seed = next(s for s, _, k in seeds("dev") if k is kind)
    for source in SOURCES:
        bundle = build(kind, seed, source, tmp_path / source)
        scenario = load_scenario(bundle)
        assert scenario.source.value == source
        truth = TRUTH[kind]
        assert scenario.expectations.truth() == truth
        if truth not in ("bad-deploy", "config-change"):
            assert scenario.expectations.blames_commit is False
        lines = [json.loads(x) for x in (bundle / "logs.jsonl").read_text().splitlines()]
        assert len(lines) > 100 and all("timestamp" in x and "message" in x for x in lines)
        header = (bundle / "metrics.csv").read_text().splitlines()[0]
        assert header.startswith("timestamp,metric,value")


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _replay(bundle: Path, checkout: Path, commit: str) -> int:
    """Run the service's repro at `commit` on the input it picks from the logs; its exit code."""
    service = load_scenario(bundle).config["services"][0]
    source = service["repro"]["inputs"]["request"]
    lines = [json.loads(x) for x in (bundle / "logs.jsonl").read_text().splitlines()]
    hit = [x for x in lines if source["match"].lower() in x["message"].lower() and source["field"] in x][-1]
    _git(checkout, "checkout", "-q", commit)
    argv = [
        sys.executable if a == "python3" else json.dumps(hit[source["field"]]) if a == "{request}" else a
        for a in service["repro"]["command"]
    ]
    return subprocess.run(argv, cwd=checkout, capture_output=True, text=True, timeout=120).returncode


@pytest.mark.parametrize(
    "kind", [k_deploy.canary_pod, k_deploy.cache_key, k_worker.payout_dlq], ids=lambda k: k.__name__
)
def test_a_regression_fails_at_the_deploy_and_passes_before_the_culprit(kind: Any, tmp_path: Path) -> None:
    seed, source, _ = next(s for s in seeds("dev") if s[2] is kind)
    bundle = build(kind, seed, source, tmp_path / "out")
    culprit = load_scenario(bundle).expectations.culprit_commit
    deployed = json.loads((bundle / "deploys.json").read_text())[-1]["commit"]
    assert culprit and culprit != deployed
    checkout = tmp_path / "repo"
    _git(tmp_path, "clone", "-q", str(bundle / "repo.bundle"), str(checkout))
    assert _replay(bundle, checkout, deployed) == 1
    assert _replay(bundle, checkout, f"{culprit}^") == 0


def test_an_innocent_deploy_does_not_reproduce(tmp_path: Path) -> None:
    seed, source, _ = next(s for s in seeds("dev") if s[2] is k_deps.vendor_region)
    bundle = build(k_deps.vendor_region, seed, source, tmp_path / "out")
    assert load_scenario(bundle).expectations.repro_verdict == "not_reproduced"
    checkout = tmp_path / "repo"
    _git(tmp_path, "clone", "-q", str(bundle / "repo.bundle"), str(checkout))
    assert _replay(bundle, checkout, json.loads((bundle / "deploys.json").read_text())[-1]["commit"]) == 0
