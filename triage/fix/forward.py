"""A brain's forward fix (`Findings.fix`, kind `forward`): its diff applied on the deployed commit
in the fix stage's sandbox and committed like a revert (fixed identity and date), then verified by
the same checks (`verify`). The brain's own verification is not taken on trust."""

from __future__ import annotations

from datetime import datetime

from sandbox.base import Sandbox
from triage.agent.base import FixProposal
from triage.fix.records import FixRecord
from triage.fix.repro import clean, git
from triage.fix.revert import IDENTITY, MESSAGE_FILE, described

DIFF_FILE = ".git/triage/forward.diff"


def forward_message(description: str, base: str, investigation_id: str) -> str:
    """The subject (the description's first line), the description, and where it came from."""
    text = description.strip() or "Forward fix"
    return "\n".join([text.splitlines()[0][:72], "", text, "",
                      f"Proposed by the triage service's brain for investigation "
                      f"{investigation_id}, on the deployed commit {base[:12]}.", "",
                      f"Triage-Investigation: {investigation_id}", ""])


def apply_forward(sandbox: Sandbox, proposal: FixProposal, base: str, investigation_id: str,
                  when: datetime) -> FixRecord:
    """Apply the proposal's diff on `base` and commit it; `failed` when it does not apply."""
    record = FixRecord(status="failed", reason="", kind="forward", base=base)
    if not proposal.diff.strip():
        record.reason = "the brain's forward fix has no diff"
        return record
    git(sandbox, "checkout", "-q", "--detach", base)
    clean(sandbox)
    sandbox.write_file(DIFF_FILE, proposal.diff)
    # A fresh checkout's index has stale stat data (the files were handed to the sandbox user).
    sandbox.exec(["git", "update-index", "-q", "--refresh"], timeout=120)
    applied = sandbox.exec(["git", "apply", "--index", "--whitespace=nowarn", DIFF_FILE],
                           timeout=120)
    if not applied.ok:
        record.reason = (f"the brain's forward fix does not apply on {base[:12]}: "
                         f"{applied.stderr.text.strip()[-300:]}")
        return record
    if sandbox.exec(["git", "diff", "--cached", "--quiet"], timeout=60).exit_code == 0:
        record.reason = "the brain's forward fix changes nothing on the deployed commit"
        return record
    record.message = forward_message(proposal.description, base, investigation_id)
    sandbox.write_file(MESSAGE_FILE, record.message)
    stamp = when.isoformat()
    commit = sandbox.exec(["env", *(f"{k}={v}" for k, v in IDENTITY.items()),
                           f"GIT_AUTHOR_DATE={stamp}", f"GIT_COMMITTER_DATE={stamp}", "git",
                           "commit", "-q", "--no-verify", "-F", MESSAGE_FILE], timeout=120)
    if not commit.ok:
        record.status = "error"
        record.reason = f"git commit failed in the sandbox: {commit.stderr.text.strip()[-500:]}"
        return record
    record.commit, record.tree, record.diffstat = described(sandbox)
    return record
