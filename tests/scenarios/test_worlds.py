"""The world generator: deterministic, disjoint splits, every category, valid bundles, and repros
that fail where the regression is and pass where it is not."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scenarios.worlds.generate import CATEGORIES, category_of, seeds, write_world
from triage.scenarios import load_scenario

# One seed per category, from the train split (seed % 8 picks the category).
BY_CATEGORY = {category_of(seed): seed for seed in seeds("train", 8)}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _heads(bundle: Path) -> str:
    return subprocess.run(["git", "bundle", "list-heads", str(bundle)], check=True,
                          capture_output=True, text=True).stdout


def _checkout(bundle: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(bundle), str(dest)], check=True, capture_output=True)
    return dest


def _replay(repo: Path, commit: str, request: str) -> subprocess.CompletedProcess[str]:
    """The bundle's repro run with plain python3 at `commit` (no sandbox needed: our own code)."""
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", commit], check=True)
    return subprocess.run(["python3", "repro.py", "--request", request], cwd=repo,
                          capture_output=True, text=True, timeout=60)


def _scenario(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "scenario.yaml").read_text())
    return loaded


def _logged_request(folder: Path, service: dict[str, Any]) -> str:
    """The request the repro's input takes from the logs (the newest matching line)."""
    wanted = service["repro"]["inputs"]["request"]
    rows = [json.loads(line) for line in (folder / "logs.jsonl").read_text().splitlines()]
    hits = [r for r in rows if re.search(wanted["match"], r["message"]) and r.get("level") != "info"]
    assert hits, "no log line carries the request the repro replays"
    return json.dumps(hits[-1][wanted["field"]], sort_keys=True)


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    seed = BY_CATEGORY["bad-deploy"]
    first, second = write_world(seed, tmp_path / "a"), write_world(seed, tmp_path / "b")
    assert _digests(first) == _digests(second)
    assert _heads(first / "repo.bundle") == _heads(second / "repo.bundle")
    other = write_world(seed + len(CATEGORIES), tmp_path / "c")
    assert _digests(other)["logs.jsonl"] != _digests(first)["logs.jsonl"]


def test_splits_are_disjoint_and_balanced() -> None:
    train, holdout = seeds("train"), seeds("holdout")
    assert (len(train), len(holdout)) == (40, 30)
    assert not set(train) & set(holdout)
    for split in (train, holdout):
        counts = {c: sum(category_of(s) == c for s in split) for c in CATEGORIES}
        assert min(counts.values()) >= 3 and max(counts.values()) - min(counts.values()) <= 1
    assert len(CATEGORIES) >= 8


def test_every_category_writes_a_valid_bundle(tmp_path: Path) -> None:
    for category, seed in BY_CATEGORY.items():
        scenario = load_scenario(write_world(seed, tmp_path))
        truth = scenario.expectations
        if category == "false-alarm":
            assert truth.abstains is True and truth.top_category is None
        else:
            assert truth.top_category == category
        assert (truth.culprit_commit is not None) == (category in ("bad-deploy", "config-change"))
        assert truth.blames_commit is (None if truth.culprit_commit else False)


@pytest.mark.parametrize("category", ["bad-deploy", "config-change"])
def test_a_regression_fails_at_the_deploy_and_passes_before_the_culprit(
        category: str, tmp_path: Path) -> None:
    folder = write_world(BY_CATEGORY[category], tmp_path)
    scenario = _scenario(folder)
    service = scenario["config"]["services"][0]
    deploy = json.loads((folder / "deploys.json").read_text())[-1]
    culprit = scenario["expectations"]["culprit_commit"]
    repo = _checkout(folder / "repo.bundle", tmp_path / "repo")
    request = _logged_request(folder, service)
    at_deploy = _replay(repo, deploy["commit"], request)
    assert at_deploy.returncode == 1
    assert service["repro"]["expect"] in at_deploy.stdout + at_deploy.stderr
    assert culprit not in (deploy["commit"], deploy["previous_commit"])  # not the last commit
    before = _replay(repo, f"{culprit}^", request)
    assert before.returncode == 0, before.stderr
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", deploy["commit"]], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "revert", "--no-edit", culprit], check=True, capture_output=True)
    assert _replay(repo, "HEAD", request).returncode == 0
    tests = subprocess.run(["python3", "-m", "unittest", "-q"], cwd=repo, capture_output=True,
                           text=True, timeout=60)
    assert tests.returncode == 0, tests.stderr


def test_a_distractor_deploys_repro_passes(tmp_path: Path) -> None:
    folders = [write_world(seed, tmp_path) for seed in seeds("train")
               if category_of(seed) not in ("bad-deploy", "config-change")][:12]
    distracted = [f for f in folders if (f / "repo.bundle").exists()]
    assert distracted, "no non-code world in the first dozen ships a distractor repository"
    folder = distracted[0]
    scenario = _scenario(folder)
    assert scenario["expectations"]["repro_verdict"] == "not_reproduced"
    deploy = json.loads((folder / "deploys.json").read_text())[-1]
    repo = _checkout(folder / "repo.bundle", tmp_path / "repo")
    ran = _replay(repo, deploy["commit"], _logged_request(folder, scenario["config"]["services"][0]))
    assert ran.returncode == 0, ran.stderr


@pytest.mark.slow
def test_eval_prints_the_confusion_matrix_and_reliability_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from triage.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    for name in ("TRIAGE_CONFIG", "TRIAGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    worlds = tmp_path / "worlds"
    for category in ("bad-deploy", "false-alarm"):
        write_world(BY_CATEGORY[category], worlds)
    figures = tmp_path / "figures.json"
    result = CliRunner().invoke(app, ["eval", str(worlds), "--json", str(figures)])
    assert result.exit_code in (0, 1), result.output  # 1: an expectation missed, not a crash
    assert "error:" not in result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "truth \\ predicted" in line).split()
    assert header[-1] == "abstain" and "bad-deploy" in header
    assert any(line.split()[:1] == ["false-alarm"] and len(line.split()) == len(header) - 2
               for line in lines)
    assert any(line.strip().startswith("0.00-0.35 abstain") for line in lines)
    assert any(line.strip().startswith("Brier score:") for line in lines)
    written = json.loads(figures.read_text())
    assert written["calibration"]["scored"] == 2
    assert sum(b["count"] for b in written["calibration"]["reliability"]) == 2
    assert {r["truth"] for r in written["results"]} == {"bad-deploy", "false-alarm"}
