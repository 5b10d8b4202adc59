"""The blind corpus: deterministic to the byte, disjoint splits, loadable bundles covering every
category through several sources, and repros that fail at the deploy and pass without the culprit."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.blind import cat_code, cat_config, cat_deps
from tests.scenarios.blind.generate import KINDS, SPLITS, build, build_split, seeds
from triage.scenarios import load_scenario

CATEGORIES = set(KINDS)
CAUSE_WORDS = (
    "deploy",
    "release",
    "lock",
    "oom",
    "memory",
    "rate limit",
    "429",
    "dns",
    "certificate",
    "node",
    "config",
    "flag",
    "pool",
    "disk",
    "crawler",
    "campaign",
    "zone",
    "false",
)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Both splits, generated once."""
    root = tmp_path_factory.mktemp("blind")
    return {split: build_split(split, root / split) for split in SPLITS}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("kind", [cat_code.pricing_regression, cat_config.flag_flip, cat_deps.cert_expired])
def test_same_seed_same_bytes(kind: Any, splits: dict[str, list[Path]], tmp_path: Path) -> None:
    seed, source, _ = next(s for s in seeds("dev") if s[2] is kind)
    again = build(kind, seed, source, tmp_path)
    original = next(p for p in splits["dev"] if p.name == again.name)
    assert _files(again) == _files(original)  # repo.bundle included: same commit SHAs


def test_another_seed_other_bytes(tmp_path: Path) -> None:
    one = build(cat_code.pricing_regression, 7, "datadog", tmp_path / "a")
    two = build(cat_code.pricing_regression, 8, "datadog", tmp_path / "b")
    assert _files(one)["logs.jsonl"] != _files(two)["logs.jsonl"]


def test_splits_are_disjoint(splits: dict[str, list[Path]]) -> None:
    dev = {seed for seed, _, _ in seeds("dev")}
    holdout = {seed for seed, _, _ in seeds("holdout")}
    assert dev and holdout and not dev & holdout
    assert not {p.name for p in splits["dev"]} & {p.name for p in splits["holdout"]}
    dev_alerts = {(p / "alert.json").read_bytes() for p in splits["dev"]}
    assert not dev_alerts & {(p / "alert.json").read_bytes() for p in splits["holdout"]}


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_every_bundle_loads_and_the_split_covers_every_category(
    split: str, splits: dict[str, list[Path]]
) -> None:
    bundles = splits[split]
    assert len(bundles) >= 24
    truths: Counter[str] = Counter()
    sources: dict[str, set[str]] = defaultdict(set)
    for bundle in bundles:
        scenario = load_scenario(bundle)
        expected = scenario.expectations
        truth = expected.truth()
        assert truth in CATEGORIES, bundle
        truths[truth] += 1
        sources[truth].add(scenario.source.value)
        assert expected.abstains is (True if truth == "false-alarm" else None)
        if truth not in ("bad-deploy", "config-change"):
            assert expected.blames_commit is False, bundle
        if expected.culprit_commit and (bundle / "repo.bundle").exists():
            assert expected.repro_verdict == "reproduced"
        title = _title(json.loads((bundle / "alert.json").read_text())).lower()
        assert not any(word in title for word in CAUSE_WORDS), title
    assert set(truths) == CATEGORIES and min(truths.values()) >= 3
    assert all(len(s) >= 2 for s in sources.values()), sources


def _title(body: dict[str, Any]) -> str:
    """The alert's title as each source carries it."""
    if "event" in body:
        return str(body["event"]["data"]["title"])
    if "alerts" in body:
        return str(body["alerts"][0]["annotations"]["summary"])
    return str(body["title"])


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": "/usr/bin:/bin",
            "HOME": "/nonexistent",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
        },
    )
    return done.stdout.strip()


def _request(bundle: Path) -> tuple[str, dict[str, Any]]:
    """The repro's input, as the service config picks it: the last log line matching."""
    service = load_scenario(bundle).config["services"][0]
    source = service["repro"]["inputs"]["request"]
    lines = [json.loads(x) for x in (bundle / "logs.jsonl").read_text().splitlines()]
    hits = [x for x in lines if source["match"].lower() in x["message"].lower() and source["field"] in x]
    return json.dumps(hits[-1][source["field"]]), service


def _run(checkout: Path, argv: list[str], arg: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable if a == "python3" else arg if a == "{request}" else a for a in argv]
    return subprocess.run(argv, cwd=checkout, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["quote-coupon-regression", "convert-504s", "consumer-crashloop"])
def test_a_regression_reproduces_at_the_deploy_and_not_without_the_culprit(
    name: str, splits: dict[str, list[Path]], tmp_path: Path
) -> None:
    bundle = next(p for p in splits["dev"] if p.name.startswith(name))
    culprit = load_scenario(bundle).expectations.culprit_commit
    deployed = json.loads((bundle / "deploys.json").read_text())[-1]["commit"]
    assert culprit and culprit != deployed  # the culprit is not the deploy's last commit
    request, service = _request(bundle)
    checkout = tmp_path / "repo"
    _git(tmp_path, "clone", "-q", str(bundle / "repo.bundle"), str(checkout))
    _git(checkout, "checkout", "-q", deployed)
    failing = _run(checkout, service["repro"]["command"], request)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert service["repro"].get("expect", "") in failing.stdout + failing.stderr
    _git(checkout, "checkout", "-q", f"{culprit}^")
    assert _run(checkout, service["repro"]["command"], request).returncode == 0
    _git(checkout, "checkout", "-q", deployed)
    _git(checkout, "revert", "--no-edit", culprit)
    assert _run(checkout, service["repro"]["command"], request).returncode == 0
    tests = _run(checkout, service["test"]["command"], request)
    assert tests.returncode == 0, tests.stderr


def test_an_innocent_deploy_does_not_reproduce(splits: dict[str, list[Path]], tmp_path: Path) -> None:
    bundle = next(p for p in splits["dev"] if p.name.startswith("carrier-cert-expired"))
    assert load_scenario(bundle).expectations.repro_verdict == "not_reproduced"
    request, service = _request(bundle)
    checkout = tmp_path / "repo"
    _git(tmp_path, "clone", "-q", str(bundle / "repo.bundle"), str(checkout))
    _git(checkout, "checkout", "-q", json.loads((bundle / "deploys.json").read_text())[-1]["commit"])
    assert _run(checkout, service["repro"]["command"], request).returncode == 0
