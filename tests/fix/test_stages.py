"""The reproduce and fix stages in the real workflow: the demo is reproduced, bisected to its
culprit and its revert verified and left on a local branch (or opened as a draft pull request);
a scenario that does not reproduce gets no fix; every skip says why."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from sandbox.base import SandboxUnavailable
from sandbox.local import LocalBackend
from sandbox.workspace import Workspace
from tests.conftest import DEMO, make_settings
from tests.fakes.github import Token
from tests.fakes.github_pulls import FakeGitHubPulls
from tests.sandbox.repos import reachable_dir
from tests.scenarios.git_repos import git
from triage import repository as repo
from triage.agent.base import Findings, FixProposal
from triage.app import create_app
from triage.config import parse_config
from triage.fix import stages
from triage.fix.records import FixRecord, FixSection, PublishRecord
from triage.notify.content import final_note
from triage.replay import ReplayOutcome
from triage.report.render import render_html, render_markdown
from triage.runtime import Runtime
from triage.scenarios import check, load_scenario, run_scenario

pytestmark = pytest.mark.slow
PROFILE = Path(__file__).parents[1] / "scenarios" / "bundles" / "profile-deploy-coincidence"
EXPECTED = load_scenario(DEMO).expectations
CULPRIT = str(EXPECTED.culprit_commit)
DEPLOYED = "6457c33dee760e578c329b355b6976c54c793fee"
BROKEN_BUILD = "49a7f0edce9d68fd3b03f9458307bad4321bce59"


@dataclass
class Run:
    """A replayed bundle, and a runtime on its store."""

    workdir: Path
    outcome: ReplayOutcome
    runtime: Runtime

    @property
    def fix(self) -> FixSection:
        assert self.outcome.report.fix is not None
        return self.outcome.report.fix


@pytest.fixture(scope="module")
def place() -> Iterator[Path]:
    with reachable_dir("triage-stages-test-") as root:
        try:
            LocalBackend(Workspace(root / "probe")).check()
        except SandboxUnavailable as exc:
            pytest.skip(f"local sandbox unavailable: {exc}")
        yield root


def replay(place: Path, name: str, bundle: Path = DEMO,
           edit: Callable[[Path], None] | None = None, **service: Any) -> Run:
    """Replay a copy of `bundle` whose service has `service` merged in (None removes a key)."""
    source = place / f"{name}-bundle"
    shutil.copytree(bundle, source)
    if edit is not None:
        edit(source)
    scenario = yaml.safe_load((source / "scenario.yaml").read_text())
    config = scenario["config"]
    for key, value in service.items():
        if key == "sandbox":
            config["sandbox"] = value
        elif value is None:
            config["services"][0].pop(key, None)
        else:
            config["services"][0][key] = value
    (source / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    workdir = place / name
    _, outcome = run_scenario(source, make_settings(place), keep_dir=workdir)
    runtime = Runtime.from_settings(make_settings(place, data_dir=workdir),
                                    parse_config(config, workdir, name))
    return Run(workdir, outcome, runtime)


@pytest.fixture(scope="module")
def demo(place: Path) -> Iterator[Run]:
    run = replay(place, "demo")
    yield run
    run.runtime.close()


def test_the_demo_is_reproduced_bisected_and_its_revert_verified(demo: Run) -> None:
    fix = demo.fix
    assert fix.repro is not None and fix.repro.status == "reproduced", fix.repro
    assert fix.repro.commit == DEPLOYED
    assert fix.repro.command[:3] == ["python3", "repro.py", "--request"]
    assert '"shipping": "express"' in fix.repro.command[3]  # the failing request from the logs
    assert fix.repro.run is not None and "TypeError: unsupported operand" in fix.repro.run.stderr
    assert fix.bisect is not None and fix.bisect.status == "found"
    assert fix.culprit is not None and fix.culprit.sha == CULPRIT
    assert [s.sha for s in fix.bisect.skipped] == [BROKEN_BUILD]  # does not compile: skipped
    assert fix.fix is not None and fix.fix.status == "verified", fix.fix
    assert fix.fix.tests is not None and fix.fix.tests.ok
    assert fix.verified
    assert all(c.met for c in check(load_scenario(DEMO), demo.outcome))


def test_the_verified_revert_is_a_local_branch_and_a_patch(demo: Run) -> None:
    publish = demo.fix.publish
    assert publish is not None and publish.status == "published", publish
    assert (publish.mode, publish.same_commit) == ("local", True)
    fixes = demo.workdir / "fixes" / "checkout.git"
    assert publish.repository == str(fixes.resolve())
    branch = f"triage/{demo.outcome.investigation_id}"
    assert publish.branch == branch
    assert git(fixes, "rev-parse", branch) == publish.commit
    assert git(fixes, "rev-parse", f"{branch}~1") == DEPLOYED
    assert git(fixes, "log", "-1", "--format=%s", branch) == ('Revert "Switch cart totals to '
                                                              'Decimal"')
    changed = git(fixes, "show", "--name-only", "--format=", branch).split()
    assert changed == ["checkout/cart.py", "tests/test_cart.py"]
    assert publish.patch_path is not None
    assert Path(publish.patch_path).read_text() == publish.patch
    assert (demo.workdir / "fixes" / ".work").is_dir()
    assert list((demo.workdir / "fixes" / ".work").iterdir()) == []  # the host checkout is gone


def test_the_report_has_the_reproduction_and_fix_section(demo: Run) -> None:
    report = demo.outcome.report
    markdown, html = render_markdown(report), render_html(report)
    assert "## Reproduction and fix" in markdown
    assert f"**Culprit commit**: `{CULPRIT}`" in markdown
    assert "repro before: reproduced (exit 1" in markdown
    assert "repro after: not reproduced (exit 0" in markdown
    assert f"/reports/{report.investigation_id}/fix.patch" in markdown
    assert '<span id="repro-verdict">reproduced</span>' in html
    assert f'<code id="culprit">{CULPRIT}</code>' in html
    assert "git bisect run sh .git/triage/bisect-step.sh" in html  # the step list shows commands


def test_the_patch_is_served_and_missing_ones_are_precise_404s(demo: Run) -> None:
    investigation_id = demo.outcome.investigation_id
    with TestClient(create_app(demo.runtime)) as client:
        patch = client.get(f"/reports/{investigation_id}/fix.patch")
        unknown = client.get("/reports/inv_nope/fix.patch")
    assert patch.status_code == 200
    assert patch.headers["content-type"].startswith("text/x-diff")
    assert patch.text == demo.fix.publish.patch if demo.fix.publish else False
    assert patch.text.startswith("From ") and "Subject: [PATCH] Revert" in patch.text
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no investigation inv_nope"})


def test_running_the_fix_stage_again_makes_the_same_commit_on_the_same_branch(demo: Run) -> None:
    records = stages.fix(demo.runtime, demo.outcome.investigation_id)
    again = PublishRecord.model_validate(next(r for r in records if r.name == "publish").detail)
    assert again.status == "published", again.reason
    first = demo.fix.publish
    assert first is not None
    assert (again.commit, again.branch) == (first.commit, first.branch)
    assert [r.id for r in records] == [f"{demo.outcome.investigation_id}:fix:{n}" for n in range(3)]


def test_a_scenario_that_does_not_reproduce_gets_no_fix(place: Path) -> None:
    run = replay(place, "profile", PROFILE)
    try:
        fix = run.fix
        assert fix.repro is not None and fix.repro.status == "not_reproduced"
        assert fix.repro.reason == "the repro passed (exit 0)"
        assert fix.bisect is None and fix.publish is None
        assert fix.fix is not None and fix.fix.status == "skipped"
        assert fix.fix.reason.startswith("not reproduced: the repro passes at the deployed commit")
        assert not (run.workdir / "fixes").exists()
        investigation_id = run.outcome.investigation_id
        with TestClient(create_app(run.runtime)) as client:
            missing = client.get(f"/reports/{investigation_id}/fix.patch")
        assert missing.status_code == 404
        assert "has no verified fix" in missing.json()["detail"]
        assert all(c.met for c in check(load_scenario(PROFILE), run.outcome))
        # One verdict: the summary, the findings and the final note agree with the reproduction.
        report = run.outcome.report
        assert report.findings is not None and report.findings.abstained
        assert report.summary.startswith("Evidence is too weak to name a cause")
        assert "not reproduced" in report.summary
        deploy = next(h for h in report.findings.hypotheses if h.category == "bad-deploy")
        assert deploy.counter_evidence[0].startswith("not reproduced")
        with run.runtime.store.read() as conn:
            steps = repo.list_steps(conn, run.outcome.investigation_id)
        note, _ = final_note(report, steps, "http://report")
        assert note.splitlines()[0] == f"Automated triage finished: {report.summary}"
    finally:
        run.runtime.close()


def test_without_a_sandbox_both_stages_say_why_they_were_skipped(place: Path) -> None:
    run = replay(place, "no-sandbox", sandbox="none")
    try:
        fix = run.fix
        assert fix.repro is not None and fix.repro.status == "skipped"
        assert fix.repro.reason == ("no sandbox backend is configured (set `sandbox: local` in "
                                    "triage.yaml)")
        assert fix.fix is not None and fix.fix.status == "skipped"
        assert run.outcome.report.state == "completed"
        assert "**Verdict**: **skipped** — no sandbox backend" in render_markdown(run.outcome.report)
    finally:
        run.runtime.close()


def test_a_repro_input_missing_from_the_logs_is_inconclusive(place: Path) -> None:
    demo_config = load_scenario(DEMO).config["services"][0]
    repro = {**demo_config["repro"], "inputs": {"request": {"match": "NoSuchError",
                                                            "field": "request"}}}
    run = replay(place, "no-input", repro=repro)
    try:
        fix = run.fix
        assert fix.repro is not None and fix.repro.status == "inconclusive"
        assert fix.repro.reason.startswith("the repro could not be templated: input 'request': "
                                           "no gathered logs row matches 'NoSuchError'")
        assert fix.fix is not None and fix.fix.status == "skipped"
    finally:
        run.runtime.close()


def test_with_pull_requests_configured_a_draft_is_opened_then_updated(
        place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remote = place / "checkout-remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(DEMO / "repo.bundle"), str(remote)],
                   check=True)
    fake = FakeGitHubPulls(remote)
    fake.tokens["github_pat_stage_test"] = Token("fine", push=True)
    monkeypatch.setenv("TRIAGE_TEST_FIX_TOKEN", "github_pat_stage_test")
    pulls = {"repository": "acme/checkout", "api_url": fake.api_url, "push_url": str(remote),
             "token": {"env": "TRIAGE_TEST_FIX_TOKEN"}}
    run = replay(place, "pull-request", pull_requests=pulls)
    try:
        publish = run.fix.publish
        assert publish is not None and publish.status == "published", publish
        assert publish.mode == "github" and publish.pull_request is not None
        assert (publish.pull_request.action, publish.pull_request.draft) == ("created", True)
        branch = f"triage/{run.outcome.investigation_id}"
        assert fake.branch_sha(branch) == publish.commit
        [pull] = fake.pulls
        assert (pull["draft"], pull["base"]["ref"], pull["head"]["ref"]) == (True, "main", branch)
        body = pull["body"]
        assert f"**Culprit**: `{CULPRIT[:12]}` Switch cart totals to Decimal" in body
        assert "**Repro before**" in body and "**Repro after** (this branch): not_reproduced" in body
        assert "**Tests**: `python3 -m unittest -q` — exit 0" in body
        assert f"/reports/{run.outcome.investigation_id}" in body
        assert ("**Draft pull request** (created, never merged by triage): "
                "[#41](https://github.com/acme/checkout/pull/41)") in render_markdown(run.outcome.report)
        records = stages.fix(run.runtime, run.outcome.investigation_id)
        again = PublishRecord.model_validate(records[-1].detail)
        assert again.pull_request is not None and again.pull_request.action == "updated"
        assert len(fake.pulls) == 1 and fake.merge_attempts == []
        with run.runtime.store.read() as conn:
            steps = repo.list_steps(conn, run.outcome.investigation_id, "fix")
        assert "github_pat_stage_test" not in str([s.detail for s in steps])
    finally:
        run.runtime.close()
        fake.server.stop()


def forward_fix(place: Path) -> str:
    """A forward fix of the demo: keep Decimal, make the express fee a Decimal too."""
    clone = Path(tempfile.mkdtemp(dir=place, prefix="forward-clone-"))
    subprocess.run(["git", "clone", "-q", str(DEMO / "repo.bundle"), str(clone)], check=True)
    cart = clone / "checkout" / "cart.py"
    cart.write_text(cart.read_text().replace('"express": 9.5}', '"express": Decimal("9.50")}'))
    return subprocess.run(["git", "-C", str(clone), "diff"], capture_output=True, text=True,
                          check=True).stdout


def test_a_verified_forward_fix_of_the_brain_is_verified_again_and_published(place: Path) -> None:
    def no_previous_deploy(bundle: Path) -> None:
        deploys = json.loads((bundle / "deploys.json").read_text())
        (bundle / "deploys.json").write_text(json.dumps([{k: v for k, v in deploys[-1].items()
                                                          if k != "previous_commit"}]))

    run = replay(place, "forward", edit=no_previous_deploy)
    try:
        fix = run.fix
        assert fix.bisect is not None and fix.bisect.status == "skipped"
        assert fix.fix is not None and fix.fix.status == "skipped"  # nothing to revert
        investigation_id = run.outcome.investigation_id
        proposal = FixProposal(kind="forward", description="Charge express shipping as a Decimal",
                               diff=forward_fix(place), verified=True)
        with run.runtime.store.transaction() as conn:
            [brain] = repo.list_steps(conn, investigation_id, "brain")
            findings = Findings.model_validate(brain.detail)
            findings.fix = proposal
            repo.save_steps(conn, [brain.model_copy(update={
                "detail": findings.model_dump(mode="json")})])
        records = {r.name: r.detail for r in stages.fix(run.runtime, investigation_id)}
        candidate = FixRecord.model_validate(records["fix"])
        assert (candidate.kind, candidate.status) == ("forward", "verified"), candidate.reason
        assert candidate.message.startswith("Charge express shipping as a Decimal\n")
        assert candidate.reason.endswith("(preferred over the revert: no culprit to revert: no last "
                                         "good deploy is known (the deploy names no previous_commit "
                                         "and no earlier deploy is in the evidence))")
        published = PublishRecord.model_validate(records["publish"])
        assert published.status == "published" and published.same_commit
        assert git(run.workdir / "fixes" / "checkout.git", "show", "--format=",
                   f"triage/{investigation_id}").count('Decimal("9.50")') == 1

        broken = proposal.model_copy(update={"diff": proposal.diff.replace("9.5}", "9.6}")})
        findings.fix = broken
        with run.runtime.store.transaction() as conn:
            repo.save_steps(conn, [brain.model_copy(update={
                "detail": findings.model_dump(mode="json")})])
        records = {r.name: r.detail for r in stages.fix(run.runtime, investigation_id)}
        assert ("(the forward fix: the brain's forward fix does not apply on 6457c33dee76"
                in FixRecord.model_validate(records["fix"]).reason)
        assert "publish" not in records
    finally:
        run.runtime.close()


def test_a_verified_forward_fix_is_preferred_over_a_verified_revert(place: Path) -> None:
    run = replay(place, "forward-preferred")
    try:
        assert run.fix.fix is not None and run.fix.fix.status == "verified"  # the revert
        investigation_id = run.outcome.investigation_id
        with run.runtime.store.transaction() as conn:
            [brain] = repo.list_steps(conn, investigation_id, "brain")
            findings = Findings.model_validate(brain.detail)
            findings.fix = FixProposal(kind="forward", description="Charge express shipping as a Decimal",
                                       diff=forward_fix(place), verified=True)
            repo.save_steps(conn, [brain.model_copy(update={
                "detail": findings.model_dump(mode="json")})])
        records = {r.name: r.detail for r in stages.fix(run.runtime, investigation_id)}
        candidate = FixRecord.model_validate(records["fix"])
        assert (candidate.kind, candidate.status) == ("forward", "verified"), candidate.reason
        assert "(preferred over the revert: " in candidate.reason
        # This re-run finds the revert already pushed to the branch by the first run, and never
        # forces a push over it.
        published = PublishRecord.model_validate(records["publish"])
        assert published.status == "error"
        assert "[rejected]" in published.reason
    finally:
        run.runtime.close()
