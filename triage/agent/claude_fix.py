"""The model's forward fix, verified exactly like a revert (`triage.fix.verify`): its edits are
committed in the sandbox on the deployed commit (fixed dates, so the same edits make the same
commit anywhere), then the repro must pass and the repository's own tests must pass, each from a
clean checkout of that commit. Anything less stays a proposal, never a candidate.

`apply_forward` rebuilds the same commit from the proposal's diff in a fresh sandbox, for the
stage that publishes candidates.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.base import Sandbox, SandboxError
from triage.agent.base import Findings, FixProposal, InvestigationContext
from triage.agent.claude_findings import SubmittedFix
from triage.agent.claude_sandbox import SandboxSession
from triage.agent.claude_tools import ModelTool, ToolResult, cap_text
from triage.config import TriageConfig
from triage.fix.bisect import bisect
from triage.fix.plan import Plan, Skip, plan
from triage.fix.records import FixRecord
from triage.fix.repro import git, run_repro
from triage.fix.template import InputMissing, resolve_inputs
from triage.fix.verify import verify
from triage.playbook import PlaybookLibrary

MESSAGE_FILE = ".git/triage/forward-message.txt"
PATCH_FILE = ".git/triage/forward.patch"


@dataclass(frozen=True)
class ForwardCheck:
    """What verifying a forward fix needs (the repro plan and its values), or why it cannot be."""

    investigation_id: str
    when: datetime  # commit dates: the alert's start, as the revert uses
    plan: Plan | None = None
    values: dict[str, str] = field(default_factory=dict)
    skip: str = ""


def forward_check(config: TriageConfig, playbooks: PlaybookLibrary | None,
                  context: InvestigationContext, first: Findings) -> ForwardCheck:
    """The repro a forward fix must pass, planned as the reproduce stage plans it."""
    alert = context.alert
    base = ForwardCheck(context.investigation_id, alert.started_at)
    service = config.service_named(context.service)
    playbook = playbooks.playbooks.get(context.playbook) if playbooks else None
    evidence = [cited.evidence for cited in context.evidence]
    try:
        chosen = plan(config, service, playbook, first, evidence, alert.started_at)
        inputs = resolve_inputs(chosen.spec, evidence)
    except Skip as exc:
        return ForwardCheck(base.investigation_id, base.when, skip=str(exc))
    except InputMissing as exc:
        return ForwardCheck(base.investigation_id, base.when,
                            skip=f"the repro could not be templated: {exc}")
    values = {"commit": chosen.target.commit, "service": chosen.service.name,
              "alert_title": alert.title, "alert_started_at": alert.started_at.isoformat(),
              "investigation_id": context.investigation_id, **inputs}
    return ForwardCheck(base.investigation_id, base.when, chosen, values)


def forward_message(description: str, base: str, investigation_id: str) -> str:
    """The commit message of a forward fix."""
    subject = (description.strip().splitlines() or ["Forward fix"])[0][:72]
    return "\n".join([subject, "", description.strip(), "",
                      f"Proposed by the triage service's Claude brain for investigation "
                      f"{investigation_id}, on the deployed commit {base[:12]}.", "",
                      f"Triage-Investigation: {investigation_id}", ""])


def commit_staged(sandbox: Sandbox, description: str, investigation_id: str,
                  when: datetime) -> FixRecord:
    """Commit what is staged on the checkout's commit; `failed` when nothing is."""
    record = FixRecord(status="failed", reason="", kind="forward", base=sandbox.commit)
    if sandbox.exec(["git", "diff", "--cached", "--quiet"], timeout=60).exit_code == 0:
        record.reason = "the edits change nothing on the deployed commit"
        return record
    record.message = forward_message(description, sandbox.commit, investigation_id)
    sandbox.write_file(MESSAGE_FILE, record.message)
    stamp = when.isoformat()
    commit = sandbox.exec(["env", f"GIT_AUTHOR_DATE={stamp}", f"GIT_COMMITTER_DATE={stamp}",
                           "git", "commit", "-q", "--no-verify", "-F", MESSAGE_FILE], timeout=120)
    if not commit.ok:
        record.status = "error"
        record.reason = f"git commit failed in the sandbox: {commit.stderr.text.strip()[-500:]}"
        return record
    record.commit = git(sandbox, "rev-parse", "HEAD").strip()
    record.tree = git(sandbox, "rev-parse", "HEAD^{tree}").strip()
    record.diffstat = git(sandbox, "show", "--stat", "--format=", "HEAD").strip()
    return record


def verify_forward(sandbox: Sandbox, check: ForwardCheck, description: str) -> FixRecord:
    """Commit the model's edits and verify them like a revert."""
    if check.plan is None:
        return FixRecord(status="skipped", kind="forward", reason=f"not verified: {check.skip}")
    deployed = check.plan.target.commit
    if not (sandbox.commit.startswith(deployed) or deployed.startswith(sandbox.commit)):
        return FixRecord(status="failed", kind="forward", base=sandbox.commit,
                         reason=f"the sandbox is at {sandbox.commit[:12]}, not at the deployed "
                                f"commit {deployed[:12]}")
    try:  # the caller staged exactly the model's edits (staged_diff)
        record = commit_staged(sandbox, description, check.investigation_id, check.when)
        if record.commit is None:
            return record
        return verify(sandbox, record, check.plan.spec, check.plan.service.test, check.values)
    except SandboxError as exc:
        return FixRecord(status="error", kind="forward", reason=f"sandbox: {exc}")


def apply_forward(sandbox: Sandbox, proposal: FixProposal, investigation_id: str,
                  when: datetime) -> FixRecord:
    """The proposal's commit again, in a fresh sandbox at the same deployed commit."""
    sandbox.write_file(PATCH_FILE, proposal.diff)
    # A fresh checkout's index holds stale stat data (the files were handed to the sandbox user).
    sandbox.exec(["git", "update-index", "-q", "--refresh"], timeout=120)
    applied = sandbox.exec(["git", "apply", "--index", "--whitespace=nowarn", PATCH_FILE],
                           timeout=120)
    if not applied.ok:
        return FixRecord(status="failed", kind="forward", base=sandbox.commit,
                         reason=f"the forward fix does not apply: {applied.stderr.text.strip()[-300:]}")
    return commit_staged(sandbox, proposal.description, investigation_id, when)


def proposal_of(record: FixRecord, description: str, diff: str) -> FixProposal:
    """The findings' view of a verified (or not) forward fix."""
    lines = [record.reason]
    for name, run in (("repro with the fix", record.repro_after), ("tests", record.tests)):
        if run is not None:
            lines.append(f"{name}: {run.outcome()}")
    return FixProposal(kind="forward", description=description, diff=diff,
                       verified=record.status == "verified", verification=lines,
                       candidate_commit=record.commit, record=record.model_dump(mode="json"))


def fix_tools(session: SandboxSession, check: ForwardCheck, tokens: int,
              redact: Callable[[str], str]) -> list[ModelTool]:
    """`run_repro` and `bisect`, with the service's repro (offered only when one is planned)."""
    chosen = check.plan
    if chosen is None:
        return []

    def repro(_arguments: dict[str, Any]) -> ToolResult:
        try:
            run = run_repro(session.get(), chosen.spec, check.values)
        except SandboxError as exc:
            return ToolResult(f"error: {exc}", "error", str(exc))
        shown = run.run or run.setup
        text = (f"verdict: {run.verdict.value} — {run.reason}\n$ {shlex.join(run.command)}\n"
                + (f"{shown.outcome()}\n{redact(shown.excerpt())}" if shown else ""))
        return ToolResult(cap_text(text, tokens), "ok", f"{run.verdict.value}: {run.reason}",
                          {"verdict": run.verdict.value, "output": text})

    def bisect_tool(arguments: dict[str, Any]) -> ToolResult:
        if session.edited:
            return ToolResult("error: bisect checks out other commits and would discard your "
                              "edits; bisect before editing", "error", "refused: edits present")
        good = str(arguments.get("good") or chosen.target.good or "")
        if not good:
            return ToolResult("error: no last good deploy is known: pass `good`", "error",
                              "no good commit")
        try:
            sandbox = session.get()
            found = bisect(sandbox, chosen.spec, check.values, good, sandbox.commit)
        except SandboxError as exc:
            return ToolResult(f"error: {exc}", "error", str(exc))
        lines = [f"{found.status}: {found.reason}"]
        lines += [f"culprit {c.sha} {c.subject} ({c.author}, {c.date})" for c in found.culprits]
        lines += [f"{step.result} {step.sha[:12]} {step.subject}" for step in found.steps]
        text = cap_text(redact("\n".join(lines)), tokens)
        return ToolResult(text, "ok" if found.status in ("found", "ambiguous") else "error",
                          lines[0], {"bisect": found.model_dump(mode="json")})

    described = f"the service's repro ({shlex.join(chosen.spec.command)})"
    return [
        ModelTool("run_repro", f"Run {described} on the checkout as it is now (with your edits): "
                  "verdict reproduced / not_reproduced / inconclusive, and the output.",
                  {"type": "object", "properties": {}, "additionalProperties": False}, repro,
                  sandbox=True),
        ModelTool("bisect", f"git bisect between the last good deploy "
                  f"({(chosen.target.good or 'unknown')[:12]}) and the deployed commit, with "
                  f"{described} as the test. Only before any edit.",
                  {"type": "object", "properties": {"good": {
                      "type": "string", "description": "a known good commit (default: the last "
                      "good deploy)"}}, "additionalProperties": False}, bisect_tool, sandbox=True),
    ]


def submitted_fix(proposal: SubmittedFix | None, session: SandboxSession | None,
                  forward: ForwardCheck | None, redact: Callable[[str], str]
                  ) -> FixProposal | str | None:
    """The fix a submission proposes, with the sandbox's diff for a forward fix (verified like
    a revert when a repro is planned); or what is wrong with it, for the model."""
    if proposal is None or proposal.kind == "none":
        return None
    if proposal.kind == "revert":
        if not proposal.commit:
            return "fix_proposal of kind revert needs the commit to revert"
        return FixProposal(kind="revert", description=proposal.description,
                           commit=proposal.commit)
    if session is None or not session.edited:
        return ("fix_proposal of kind forward needs edits in the sandbox checkout "
                "(replace_in_file / write_file); there are none")
    try:
        diff = session.diff()  # stages exactly the edited files: the commit's content
    except SandboxError as exc:
        return f"could not take the diff of your edits: {exc}"
    if not diff.strip():
        return "your edits change nothing on the deployed commit"
    diff = redact(diff)
    if forward is None:
        return FixProposal(kind="forward", description=proposal.description, diff=diff,
                           verification=["not verified: no repro is planned"])
    # The same verification as a revert: committed on the deployed commit, then the repro
    # must pass and the tests must pass. Only then is it a candidate.
    record = verify_forward(session.get(), forward, proposal.description)
    return proposal_of(record, proposal.description, diff)
