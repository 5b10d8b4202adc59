"""Reproduction, bisect, revert and verification in real bubblewrap sandboxes, and the host-side
rebuild of the verified commit from its patch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.fix.repos import SPEC, TESTS_CMD, Area, open_area
from tests.scenarios.git_repos import git
from triage.fix.bisect import bisect
from triage.fix.config import RepoTestCommand, ReproSpec
from triage.fix.publish import PublishError, local_branch, rebuild
from triage.fix.repro import run_repro
from triage.fix.revert import export_patch, make_revert
from triage.fix.verdict import Verdict
from triage.fix.verify import verify

pytestmark = pytest.mark.slow
WHEN = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def area() -> Iterator[Area]:
    with open_area() as made:
        yield made


def verdict_at(area: Area, label: str, spec: ReproSpec = SPEC, repo: str = "linear"):
    with area.sandbox(repo, label) as box:
        return run_repro(box, spec, {})


def test_the_repro_fails_at_the_bad_commit_and_passes_at_the_good_one(area):
    bad = verdict_at(area, "bad")
    assert bad.verdict == Verdict.REPRODUCED
    assert bad.reason == "the repro failed (exit 1) with 'WrongTotal'"
    assert bad.run is not None and "total(1) = 3" in bad.run.stdout
    assert "WrongTotal: expected 2" in bad.run.stderr  # the output is kept as evidence
    good = verdict_at(area, "good")
    assert (good.verdict, good.reason) == (Verdict.NOT_REPRODUCED, "the repro passed (exit 0)")


def test_a_build_failure_a_timeout_and_a_different_failure_are_inconclusive(area):
    broken = verdict_at(area, "broken")
    assert broken.verdict == Verdict.INCONCLUSIVE
    assert broken.reason.startswith("setup failed (exit 1 in ")
    assert broken.run is None and broken.setup is not None
    slow = verdict_at(area, "bad", ReproSpec(command=["sleep", "30"], timeout=0.5))
    assert (slow.verdict, slow.reason) == (Verdict.INCONCLUSIVE,
                                           "the repro timed out after 0.5 s")
    other = verdict_at(area, "bad", ReproSpec(command=["python3", "check.py"],
                                              expect="KeyError"))
    assert other.verdict == Verdict.INCONCLUSIVE
    assert other.reason == "the repro failed (exit 1) but without the expected output 'KeyError'"
    cannot = verdict_at(area, "bad", ReproSpec(command=["sh", "-c", "exit 125"]))
    assert cannot.reason == "the repro reported it cannot test this commit (exit 125)"


def test_bisect_names_the_culprit_and_skips_what_does_not_build(area):
    history = area.repos["linear"]
    with area.sandbox("linear", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["good"], history.shas["bad"])
        head = box.exec(["git", "rev-parse", "HEAD"]).stdout.text.strip()
    assert found.status == "found", found.reason
    assert [c.sha for c in found.culprits] == [history.shas["culprit"]]
    assert (found.culprits[0].subject, found.culprits[0].author) == ("Off by one", "Lee Park")
    assert found.candidates == 5
    assert found.good_check is not None and found.good_check.ok
    assert {s.sha for s in found.skipped} <= {history.shas["broken"]}
    assert all(s.result != "bad" or s.sha != history.shas["broken"] for s in found.steps)
    assert "# first bad commit: [" + history.shas["culprit"] in found.log
    assert head == history.shas["bad"]  # bisect reset: the sandbox is back at the deployed commit


def test_when_skips_hide_the_culprit_every_candidate_is_named(area):
    history = area.repos["ambiguous"]
    with area.sandbox("ambiguous", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["good"], history.shas["bad"])
    assert found.status == "ambiguous", found.reason
    assert [c.sha for c in found.culprits] == [history.shas["culprit"], history.shas["broken"]]
    assert [s.result for s in found.skipped] == ["skip"]


def test_a_failure_at_the_last_good_deploy_blames_nothing(area):
    history = area.repos["linear"]
    with area.sandbox("linear", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["culprit"], history.shas["bad"])
    assert found.status == "failed"
    assert "reproduces at the last good deploy" in found.reason
    assert found.culprits == []


def test_a_last_good_deploy_off_the_history_cannot_be_bisected(area):
    history = area.repos["side"]
    with area.sandbox("side", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["side"], history.shas["bad"])
    assert found.status == "failed"
    assert "is not an ancestor of the deployed commit" in found.reason


def test_the_revert_is_verified_and_rebuilt_on_the_host_as_the_same_commit(area, tmp_path):
    history = area.repos["linear"]
    with area.sandbox("linear", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["good"], history.shas["bad"])
        fix = make_revert(box, box.commit, found.culprits, "inv_test", WHEN)
        assert fix.commit is not None, fix.reason
        fix = verify(box, fix, SPEC, TESTS_CMD, {})
        patch = export_patch(box)
    assert fix.status == "verified", fix.reason
    assert fix.verdict_after == Verdict.NOT_REPRODUCED
    assert fix.tests is not None and fix.tests.ok
    assert fix.message.startswith('Revert "Off by one"\n\nThis reverts commit '
                                  + history.shas["culprit"])
    assert "app.py | 2 +-" in fix.diffstat
    assert patch.startswith(f"From {fix.commit} ")
    assert fix.tree is not None
    host = rebuild(area.workspace, str(history.path), history.shas["bad"], patch,
                   area.root / "host-checkout", fix.tree)
    assert (host.commit, host.tree) == (fix.commit, fix.tree)  # fixed dates: the same commit
    repository = tmp_path / "fixes" / "svc.git"
    local_branch(repository, host.checkout, "triage/inv_test")
    local_branch(repository, host.checkout, "triage/inv_test")  # again: nothing to do
    assert git(repository, "rev-parse", "triage/inv_test") == fix.commit
    assert git(repository, "rev-parse", "triage/inv_test~1") == history.shas["bad"]

    tampered = patch.replace("+    return x + 1", "+    return x + 5")
    with pytest.raises(PublishError, match=r"not the tree .* the sandbox verified"):
        rebuild(area.workspace, str(history.path), history.shas["bad"], tampered,
                area.root / "host-checkout-2", fix.tree)


def test_a_revert_that_does_not_apply_is_no_fix(area):
    history = area.repos["conflicting"]
    with area.sandbox("conflicting", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["good"], history.shas["bad"])
        assert [c.sha for c in found.culprits] == [history.shas["culprit"]]
        fix = make_revert(box, box.commit, found.culprits, "inv_test", WHEN)
        status = box.exec(["git", "status", "--porcelain"]).stdout.text
    assert (fix.status, fix.commit) == ("failed", None)
    assert fix.reason.startswith(f"the revert of {history.shas['culprit'][:12]} does not apply "
                                 "cleanly on ")
    assert "app.py" in fix.reason
    assert status == ""  # the revert was aborted


def test_a_fix_whose_tests_fail_or_that_has_no_tests_is_not_offered(area):
    history = area.repos["linear"]
    failing = RepoTestCommand(command=["sh", "-c", "echo 2 tests failed; exit 1"])
    with area.sandbox("linear", "bad") as box:
        found = bisect(box, SPEC, {}, history.shas["good"], history.shas["bad"])
        fix = make_revert(box, box.commit, found.culprits, "inv_test", WHEN)
        failed = verify(box, fix.model_copy(), SPEC, failing, {})
        untested = verify(box, fix.model_copy(), SPEC, None, {})
    assert failed.status == "failed"
    assert failed.reason.startswith("the repository's tests fail with the fix (exit 1 in ")
    assert failed.tests is not None and "2 tests failed" in failed.tests.stdout
    assert untested.status == "failed"
    assert "has no `test` command" in untested.reason
