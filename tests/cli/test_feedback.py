"""`triage feedback`, `triage bundle export` and `triage stats` on a replayed demo investigation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import DEMO, make_settings
from triage import repository as repo
from triage.cli import app
from triage.scenarios import load_scenario, run_scenario
from triage.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo replayed once: its work directory (store, triage.yaml) and investigation id."""
    tmp = tmp_path_factory.mktemp("demo-run")
    workdir = tmp / "demo"
    scenario, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=workdir)
    (workdir / "triage.yaml").write_text(yaml.safe_dump(scenario.config), encoding="utf-8")
    return workdir, outcome.investigation_id


@pytest.fixture
def env(demo_run: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    workdir, _ = demo_run
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(workdir))
    monkeypatch.setenv("TRIAGE_CONFIG", str(workdir / "triage.yaml"))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    return demo_run


def feedback_of(workdir: Path, investigation_id: str) -> list[dict[str, object]]:
    store = Store(f"sqlite:///{workdir / 'triage.sqlite'}")
    try:
        with store.read() as conn:
            return repo.list_feedback(conn, investigation_id)
    finally:
        store.dispose()


def test_feedback_is_validated_and_stored(env: tuple[Path, str]) -> None:
    workdir, inv = env
    before = len(feedback_of(workdir, inv))
    unknown = runner.invoke(app, ["feedback", "inv_nosuchthing", "--right"])
    assert unknown.exit_code == 2 and "no investigation inv_nosuchthing" in unknown.output
    bad = runner.invoke(app, ["feedback", inv, "--category", "gremlins"])
    assert bad.exit_code == 2 and "unknown category 'gremlins'" in bad.output
    both = runner.invoke(app, ["feedback", inv, "--right", "--category", "bad-deploy"])
    assert both.exit_code == 2
    commit = runner.invoke(app, ["feedback", inv, "--category", "bad-deploy", "--culprit", "xyz"])
    assert commit.exit_code == 2 and "7 to 40 hex digits" in commit.output
    assert len(feedback_of(workdir, inv)) == before

    said = runner.invoke(app, ["feedback", inv, "--category", "db-contention", "--note",
                               "locks on orders", "--by", "ana"])
    assert said.exit_code == 0, said.output
    row = feedback_of(workdir, inv)[-1]
    assert (row["verdict"], row["category"], row["note"], row["author"], row["source"]) == (
        "wrong", "db-contention", "locks on orders", "ana", "cli")


def test_exported_bundle_replays_to_the_confirmed_verdict(env: tuple[Path, str]) -> None:
    workdir, inv = env
    confirmed = runner.invoke(app, ["feedback", inv, "--right", "--by", "lee"])
    assert confirmed.exit_code == 0, confirmed.output
    out = workdir.parent / "exported"
    exported = runner.invoke(app, ["bundle", "export", inv, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert {p.name for p in out.iterdir()} == {
        "scenario.yaml", "alert.json", "logs.jsonl", "metrics.csv", "deploys.json", "repo.bundle"}
    scenario = load_scenario(out)
    assert scenario.expectations.top_category == "bad-deploy"
    assert scenario.expectations.culprit_commit == "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"
    # Only what the investigation read: the error lines are all there, from its time window.
    lines = [json.loads(line) for line in (out / "logs.jsonl").read_text().splitlines()]
    assert sum("TypeError" in line["message"] for line in lines) == 74

    evaluated = runner.invoke(app, ["eval", str(out), "--json", "-"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)["results"][0]
    assert result["passed"] and result["predicted"] == "bad-deploy"
    assert {c["name"] for c in result["checks"]} >= {"top category", "culprit commit"}


def test_export_refuses_an_unknown_investigation_or_a_full_directory(env: tuple[Path, str]) -> None:
    workdir, inv = env
    missing = runner.invoke(app, ["bundle", "export", "inv_nosuchthing"])
    assert missing.exit_code == 2 and "no investigation" in missing.output
    full = workdir.parent / "full"
    full.mkdir(exist_ok=True)
    (full / "keep.txt").write_text("mine")
    runner.invoke(app, ["feedback", inv, "--right"])
    refused = runner.invoke(app, ["bundle", "export", inv, "--out", str(full)])
    assert refused.exit_code == 2 and "is not empty" in refused.output


def test_stats_count_confirmed_verdicts_and_stage_times(env: tuple[Path, str]) -> None:
    _, inv = env
    assert runner.invoke(app, ["feedback", inv, "--category", "traffic-surge"]).exit_code == 0
    wrong = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert wrong["by_state"] == {"completed": 1}
    assert wrong["by_category"] == {"bad-deploy": {"right": 0, "wrong": 1}}  # the verdict's own
    assert wrong["by_brain"] == {"rules": {"right": 0, "wrong": 1}}
    assert runner.invoke(app, ["feedback", inv, "--right"]).exit_code == 0
    right = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert right["confirmed"] == {"right": 1, "wrong": 0}  # the latest word counts
    first_note, verdict = right["median_seconds_to_first_note"], right["median_seconds_to_verdict"]
    assert 0 < first_note < verdict
    text = runner.invoke(app, ["stats"]).output
    assert "verdicts confirmed: 1 right, 0 wrong" in text and "rules: 1 right" in text


def test_an_exported_wrong_verdict_fails_eval_until_the_diagnosis_agrees(
        env: tuple[Path, str]) -> None:
    workdir, inv = env
    said = runner.invoke(app, ["feedback", inv, "--category", "resource-exhaustion"])
    assert said.exit_code == 0, said.output
    out = workdir.parent / "exported-wrong"
    assert runner.invoke(app, ["bundle", "export", inv, "--out", str(out)]).exit_code == 0
    assert load_scenario(out).expectations.blames_commit is False
    evaluated = runner.invoke(app, ["eval", str(out)])
    assert evaluated.exit_code == 1
    assert "[ ] top category: expected resource-exhaustion, got bad-deploy" in evaluated.output
