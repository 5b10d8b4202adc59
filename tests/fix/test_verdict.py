"""Verdicts: the host's `verdict_of` and the `git bisect run` step script decide alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.scenarios.git_repos import History
from triage.fix.verdict import CommandRun, Verdict, bisect_step_script, verdict_of


def run(code: int | None, out: str = "", err: str = "", timed_out: bool = False) -> CommandRun:
    return CommandRun(command=["x"], exit_code=code, timed_out=timed_out, stdout=out, stderr=err)


@pytest.mark.parametrize(("result", "expect", "verdict", "reason"), [
    (run(0), "Boom", Verdict.NOT_REPRODUCED, "the repro passed (exit 0)"),
    (run(1, err="Boom!"), "Boom", Verdict.REPRODUCED, "the repro failed (exit 1) with 'Boom'"),
    (run(2), None, Verdict.REPRODUCED, "the repro failed (exit 2)"),
    (run(1, out="other"), "Boom", Verdict.INCONCLUSIVE,
     "the repro failed (exit 1) but without the expected output 'Boom'"),
    (run(125), None, Verdict.INCONCLUSIVE, "the repro reported it cannot test this commit (exit 125)"),
    (run(127), None, Verdict.INCONCLUSIVE, "the repro command was not found (exit 127)"),
    (run(137), None, Verdict.INCONCLUSIVE, "the repro was killed by signal 9 (exit 137)"),
    (run(None, timed_out=True), None, Verdict.INCONCLUSIVE, "the repro timed out after 5 s"),
])
def test_the_verdict_table(result: CommandRun, expect: str | None, verdict: Verdict,
                           reason: str) -> None:
    assert verdict_of(result, expect, 5) == (verdict, reason)


BISECT_EXIT = {Verdict.NOT_REPRODUCED: 0, Verdict.REPRODUCED: 1, Verdict.INCONCLUSIVE: 125}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    history = History.new(tmp_path_factory.mktemp("verdict") / "r")
    history.commit("one", "One", "mara", "2026-01-01T00:00:00+00:00", {"f": "1\n"})
    return history.path


@pytest.mark.parametrize(("script", "expect"), [
    ("exit 0", "Boom"), ("echo Boom >&2; exit 1", "Boom"), ("echo other; exit 1", "Boom"),
    ("exit 3", None), ("exit 125", None), ("exit 126", None), ("exit 127", None),
    ("kill -9 $$", None), ("echo 'Boom'; exit 124", "Boom"),
])
def test_the_bisect_step_script_maps_runs_as_verdict_of_does(repo: Path, script: str,
                                                             expect: str | None) -> None:
    command = ["sh", "-c", script]
    step = bisect_step_script(None, 10, command, 10, expect)
    done = subprocess.run(["sh", "-c", step], cwd=repo, capture_output=True, text=True, check=False)
    direct = subprocess.run(command, capture_output=True, text=True, check=False)
    code = direct.returncode if direct.returncode >= 0 else 128 - direct.returncode
    verdict, _ = verdict_of(run(code, direct.stdout, direct.stderr), expect, 10)
    assert done.returncode == BISECT_EXIT[verdict], done.stdout


def test_a_failed_setup_or_a_timeout_is_a_skip(repo: Path) -> None:
    setup = bisect_step_script(["false"], 10, ["true"], 10, None)
    assert subprocess.run(["sh", "-c", setup], cwd=repo, check=False).returncode == 125
    slow = bisect_step_script(None, 10, ["sleep", "30"], 0.3, None)
    assert subprocess.run(["sh", "-c", slow], cwd=repo, check=False,
                          capture_output=True).returncode == 125


def test_expect_is_matched_as_plain_text_not_a_regex(repo: Path) -> None:
    step = bisect_step_script(None, 10, ["sh", "-c", "echo 'a.b'; exit 1"], 10, "a*b")
    assert subprocess.run(["sh", "-c", step], cwd=repo, check=False,
                          capture_output=True).returncode == 125
    assert verdict_of(run(1, "a.b"), "a*b", 10)[0] == Verdict.INCONCLUSIVE
