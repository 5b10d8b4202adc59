"""The shipped repositories (`repo.bundle`) are what their generators make, commit for commit,
and the bundles' deploys and expectations name those commits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import DEMO
from tests.scenarios import checkout_repo
from tests.scenarios.make_repro_bundles import build_profile_repo
from triage.scenarios import load_scenario

PROFILE = Path(__file__).parents[1] / "scenarios" / "bundles" / "profile-deploy-coincidence"


def heads(bundle: Path) -> dict[str, str]:
    listed = subprocess.run(["git", "bundle", "list-heads", str(bundle)], capture_output=True,
                            text=True, check=True).stdout.split("\n")
    return {ref: sha for sha, ref in (line.split() for line in listed if line)}


def test_the_demo_repository_is_regenerated_with_the_same_commits(tmp_path: Path) -> None:
    shas = checkout_repo.build(tmp_path / "checkout").shas
    assert heads(DEMO / "repo.bundle")["refs/heads/main"] == shas["bad"]
    deploys = json.loads((DEMO / "deploys.json").read_text())
    assert [(d["commit"], d.get("previous_commit")) for d in deploys] == [
        (shas["good"], None), (shas["bad"], shas["good"])]
    assert load_scenario(DEMO).expectations.culprit_commit == shas["culprit"]


def test_every_failing_line_of_the_demo_logs_carries_the_request_to_replay() -> None:
    lines = [json.loads(line) for line in (DEMO / "logs.jsonl").read_text().splitlines()]
    failing = [line for line in lines if line["message"].startswith("TypeError")]
    assert failing and all(line["request"]["body"]["shipping"] == "express" for line in failing)
    assert all(f"order={line['request']['body']['order']} " in line["message"] + " "
               for line in failing)


def test_the_profile_repository_is_regenerated_with_the_same_commits(tmp_path: Path) -> None:
    shas = build_profile_repo(tmp_path / "profile").shas
    assert heads(PROFILE / "repo.bundle")["refs/heads/main"] == shas["bad"]
    deploys = json.loads((PROFILE / "deploys.json").read_text())
    assert deploys[-1]["commit"] == shas["bad"]
    assert deploys[-1]["previous_commit"] == shas["good"]
