"""The forward fix end to end: the scripted model reads the deployed code in the sandbox, runs the
repro, edits the file, sees the repro pass, and submits a forward fix; the brain verifies it like
a revert (committed on the deployed commit, repro passes, tests pass)."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.base import Limits, RepoSpec, SandboxUnavailable
from sandbox.local import LocalBackend
from sandbox.workspace import Workspace
from tests.agent.claude_fixtures import claude_demo, claude_settings, evidence_steps, investigation_of
from tests.fakes.anthropic import FakeAnthropic, last_results, message, text, tool_use
from triage.agent.claude_fix import apply_forward
from triage.fix.backends import make_backend, sandbox_root
from triage.models import Source
from triage.replay import replay

DEPLOYED = "6457c33dee760e578c329b355b6976c54c793fee"
REQUEST = json.dumps({"method": "POST", "path": "/api/checkout", "body": {
    "order": 656707, "items": [{"sku": "MUG-01", "price": "12.50", "qty": 2}],
    "shipping": "express"}})
REPRO = ["python3", "repro.py", "--request", REQUEST]
OLD, NEW = '"express": 9.5', '"express": Decimal("9.50")'


def _read(request: dict[str, Any]) -> dict[str, Any]:
    return message(
        text("The TypeError mixes Decimal and float in cart.total(): reading the code."),
        tool_use("get_rows", {"step_id": evidence_steps(request)["logs"], "contains": "TypeError",
                              "limit": 1}),
        tool_use("search_code", {"pattern": "SHIPPING_FEES"}),
        tool_use("read_file", {"path": "checkout/cart.py"}))


def _fix(_request: dict[str, Any]) -> dict[str, Any]:
    return message(
        text("Reproducing, fixing the float fee, reproducing again."),
        tool_use("run_command", {"argv": REPRO}),
        tool_use("replace_in_file", {"path": "checkout/cart.py", "old": OLD, "new": NEW}),
        tool_use("run_command", {"argv": REPRO}),  # the same call after an edit: allowed
        tool_use("run_command", {"argv": ["python3", "-m", "unittest", "-q"]}),
        tool_use("run_repro", {}))  # the service's own repro, templated from the evidence


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    inv, steps = investigation_of(request), evidence_steps(request)
    return message(tool_use("submit_findings", {
        "summary": "The express shipping fee is a float since the Decimal switch: every express "
                   "checkout fails with a TypeError.",
        "hypotheses": [{"category": "bad-deploy", "confidence": 0.95, "suspect_commit": DEPLOYED,
                        "title": "Decimal totals plus a float express fee raise TypeError",
                        "evidence": [steps["logs"], f"{inv}:brain:t001.00", f"{inv}:brain:t001.02"]}],
        "fix_proposal": {"kind": "forward",
                         "description": "Make the express shipping fee a Decimal"}}))


@pytest.fixture(scope="module")
def sandbox_ok() -> None:
    try:
        LocalBackend(Workspace(Path(tempfile.gettempdir()))).check()
    except SandboxUnavailable as exc:
        pytest.skip(f"local sandbox unavailable: {exc}")


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox_ok")
def test_a_forward_fix_is_verified_like_a_revert(tmp_path: Path) -> None:
    workdir, config = claude_demo(tmp_path)
    settings = claude_settings(tmp_path, fake := FakeAnthropic([_read, _fix, _submit]))
    with fake:
        outcome = replay(settings, config, Source.PAGERDUTY, (workdir / "alert.json").read_bytes())
    findings = outcome.report.findings
    assert findings is not None and findings.brain == "claude", outcome.report.error
    assert fake.answered == [0, 1, 2]

    read = last_results(fake.requests[1])
    assert '"shipping":"express"' in read[0]["content"]  # the logged request, via get_rows
    assert "checkout/cart.py:5:SHIPPING_FEES" in read[1]["content"]
    assert '    5  SHIPPING_FEES = {"standard": 0, "express": 9.5}' in read[2]["content"]
    before, edit, after, tests, repro = last_results(fake.requests[2])
    assert before.get("is_error") and "exit 1" in before["content"]
    assert "TypeError" in before["content"]
    assert "replaced 1 occurrence in checkout/cart.py" in edit["content"]
    assert "exit 0" in after["content"] and "-> 200" in after["content"]
    assert "exit 0" in tests["content"]
    assert "verdict: not_reproduced — the repro passed (exit 0)" in repro["content"]

    fix = findings.fix
    assert fix is not None and fix.kind == "forward"
    assert fix.verified is True, fix.verification
    assert f'+SHIPPING_FEES = {{"standard": 0, {NEW}}}' in fix.diff
    assert "__pycache__" not in fix.diff  # only the edited file, not what commands left behind
    assert fix.record["status"] == "verified" and fix.record["verdict_after"] == "not_reproduced"
    assert any(line.startswith("tests: ") for line in fix.verification)
    assert "Forward fix" in outcome.markdown_path.read_text()

    # The fix stage can make the very same commit from the diff, in a fresh sandbox.
    root = sandbox_root(settings.sandbox_dir, settings.data_dir)
    sandbox = make_backend("local", root).prepare(RepoSpec(str(workdir / "repo.bundle"), DEPLOYED),
                                                  Limits(timeout_seconds=60))
    try:
        again = apply_forward(sandbox, fix, outcome.investigation_id,
                              datetime.fromisoformat(outcome.report.alert["started_at"]))
    finally:
        sandbox.close()
    assert again.commit == fix.candidate_commit
