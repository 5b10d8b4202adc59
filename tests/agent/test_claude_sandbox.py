"""Sandbox tools as the model uses them, on the demo repository at the deployed commit (local
bubblewrap backend): reads, edits, refusals, and edits replayed when a worker resumes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from sandbox.base import SandboxUnavailable
from sandbox.local import LocalBackend
from sandbox.workspace import Workspace
from tests.agent.claude_fixtures import direct, evidence_steps
from tests.fakes.anthropic import FakeAnthropic, last_results, message, tool_use

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _bubblewrap() -> None:
    try:
        LocalBackend(Workspace(Path(tempfile.gettempdir()))).check()
    except SandboxUnavailable as exc:
        pytest.skip(f"local sandbox unavailable: {exc}")


def _submit(request: dict[str, Any], kind: str = "none") -> dict[str, Any]:
    return message(tool_use("submit_findings", {
        "summary": "s", "hypotheses": [{"category": "bad-deploy", "title": "t", "confidence": 0.8,
                                        "evidence": [evidence_steps(request)["logs"]]}],
        "fix_proposal": {"kind": kind, "description": "d"}}))


def test_sandbox_calls_run_in_order_and_repeat_only_after_an_edit(tmp_path: Path) -> None:
    tests = {"argv": ["python3", "-m", "unittest", "-q"]}
    script: list[Any] = [
        message(tool_use("run_command", tests), tool_use("read_file", {"path": "../../etc/passwd"}),
                tool_use("list_files", {"path": "checkout"}),
                tool_use("run_command", {"argv": "python3 -m unittest"}),
                tool_use("write_file", {"path": "./.git/hooks/post-checkout", "content": "x"})),
        message(tool_use("run_command", tests),
                tool_use("write_file", {"path": "NOTES.md", "content": "triage was here\n"}),
                tool_use("run_command", tests), tool_use("show_diff", {})),
        lambda request: _submit(request, kind="forward"),
    ]
    with direct(tmp_path, sandbox="local") as case, FakeAnthropic(script) as fake:
        findings = case.investigate(fake)
    run, escape, listing, bad_argv, hook = last_results(fake.requests[1])
    assert hook["is_error"] and "is git's own data" in hook["content"]
    assert "exit 0" in run["content"]
    assert escape["is_error"] and "error:" in escape["content"]
    assert "checkout/cart.py" in listing["content"]
    assert bad_argv["is_error"] and "argv must be a non-empty array of strings" in bad_argv["content"]
    again, wrote, after_edit, diff = last_results(fake.requests[2])
    assert again["is_error"] and "refused: this exact call was already made" in again["content"]
    assert "wrote NOTES.md (16 bytes)" in wrote["content"]
    assert not after_edit.get("is_error")  # an edit came in between: a new call
    assert "+triage was here" in diff["content"]
    # A forward fix is verified like a revert: this one does not fix the repro, so it fails
    # (and is recorded as such, never a candidate).
    assert fake.answered == [0, 1, 2]
    assert findings.fix is not None and findings.fix.kind == "forward"
    assert findings.fix.verified is False
    assert "the repro still does not pass" in findings.fix.verification[0]


def test_a_resumed_brain_applies_the_recorded_edits_to_its_new_sandbox(tmp_path: Path) -> None:
    edit = {"path": "checkout/shipping.py", "content": "LABELS = {}\n"}
    script: list[Any] = [message(tool_use("write_file", edit))]
    with direct(tmp_path, sandbox="local") as case, FakeAnthropic(script) as fake:
        first = case.investigate(fake, anthropic_max_retries=0)  # turn 1 has no answer: stops
        assert first.incomplete
        fake.script += [message(tool_use("show_diff", {})), _submit]
        case.investigate(fake)
    assert fake.answered == [0, 1, 2]
    (diff,) = last_results(fake.requests[-1])
    assert "+LABELS = {}" in diff["content"]


def test_bisect_finds_the_culprit_before_any_edit_and_refuses_after(tmp_path: Path) -> None:
    edit = {"path": "checkout/cart.py", "old": '"express": 9.5', "new": '"express": 9'}
    script: list[Any] = [
        message(tool_use("bisect", {}), tool_use("run_repro", {})),
        message(tool_use("replace_in_file", edit), tool_use("bisect", {"good": "HEAD~3"})),
        _submit]
    with direct(tmp_path, sandbox="local") as case, FakeAnthropic(script) as fake:
        case.investigate(fake)
    found, repro = last_results(fake.requests[1])
    assert found["content"].splitlines()[1].startswith("found: first bad commit 8d41ce5b1eb8")
    culprit = "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"
    assert f"culprit {culprit} Switch cart totals to Decimal" in found["content"]
    assert "verdict: reproduced" in repro["content"]
    _edit, refused = last_results(fake.requests[2])
    assert refused["is_error"] and "would discard your edits" in refused["content"]
