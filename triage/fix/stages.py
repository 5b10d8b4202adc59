"""The `reproduce` and `fix` stages of the investigation (DBOS steps in triage/workflow.py).

reproduce: the repro at the deployed commit, in a sandbox          -> step `repro`
fix:       only after `reproduced`: bisect from the last good deploy -> step `bisect`
           revert the culprit, verify (repro passes, tests pass)     -> step `fix`
           host side: a draft pull request, or a local branch + patch -> step `publish`
A scenario that does not reproduce gets no fix, and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from connectors import Evidence
from sandbox.base import Limits, RepoSpec, Sandbox, SandboxError
from sandbox.git import redact
from triage import repository as repo
from triage.agent.base import Findings
from triage.agent.tools import StepLog
from triage.config import ServiceConfig
from triage.fix.backends import make_backend, sandbox_root
from triage.fix.bisect import STEP_SCRIPT, bisect
from triage.fix.forward import apply_forward
from triage.fix.plan import Plan, Skip, plan
from triage.fix.publish_stage import publish
from triage.fix.records import BisectRecord, FixRecord, PublishRecord, ReproRecord
from triage.fix.repro import run_repro
from triage.fix.revert import export_patch, make_revert
from triage.fix.summary import fix_skipped, step_summary
from triage.fix.template import InputMissing, resolve_inputs
from triage.fix.verdict import Verdict
from triage.fix.verify import verify
from triage.models import Alert, StepKind, StepRecord, utcnow
from triage.playbook import Playbook
from triage.runtime import Runtime


@dataclass
class Facts:
    """What the earlier stages established, read back from the store."""

    alert: Alert  # redacted: the repro is templated from what the report shows
    service: ServiceConfig | None
    playbook: Playbook | None
    findings: Findings | None
    evidence: list[Evidence]
    steps: list[StepRecord]


def reproduce(runtime: Runtime, investigation_id: str) -> list[StepRecord]:
    """Run the repro at the deployed commit and record the verdict (or why there is none)."""
    log, started, clock = StepLog(investigation_id, "reproduce"), utcnow(), time.perf_counter()
    facts = load_facts(runtime, investigation_id)
    record = _reproduce(runtime, investigation_id, facts)
    log.add(StepKind.STAGE, "repro", {"command": record.command, "commit": record.commit,
                                      "repository": record.repository, "sandbox": record.sandbox},
            record.status, step_summary(record), record.model_dump(mode="json"), started,
            (time.perf_counter() - clock) * 1000)
    return log.records


def fix(runtime: Runtime, investigation_id: str) -> list[StepRecord]:
    """After a reproduction: bisect, revert, verify, publish; each recorded as its own step."""
    log = StepLog(investigation_id, "fix")
    facts = load_facts(runtime, investigation_id)
    step = next((s for s in facts.steps if s.stage == "reproduce" and s.name == "repro"), None)
    repro = ReproRecord.model_validate(step.detail) if step else None
    started, clock = utcnow(), time.perf_counter()
    if repro is None or repro.verdict != Verdict.REPRODUCED or repro.commit is None:
        _add(log, "fix", FixRecord(status="skipped", reason=fix_skipped(repro)), started, clock)
        return log.records
    try:
        chosen = plan(runtime.config, facts.service, facts.playbook, facts.findings, facts.evidence,
                      facts.alert.started_at)
    except Skip as exc:
        _add(log, "fix", FixRecord(status="skipped", reason=str(exc)), started, clock)
        return log.records
    _candidate(runtime, investigation_id, facts, chosen, repro, log)
    return log.records


def _reproduce(runtime: Runtime, investigation_id: str, facts: Facts) -> ReproRecord:
    """The repro record: skipped, error, or a verdict with its output."""
    try:
        chosen = plan(runtime.config, facts.service, facts.playbook, facts.findings, facts.evidence,
                      facts.alert.started_at)
    except Skip as exc:
        return ReproRecord(status="skipped", reason=str(exc))
    record = ReproRecord(status="error", reason="", source=chosen.spec_source,
                         repository=redact(chosen.source), commit=chosen.target.commit,
                         good_commit=chosen.target.good, deploy=chosen.target.deploy,
                         sandbox=runtime.config.sandbox)
    try:
        record.inputs = resolve_inputs(chosen.spec, facts.evidence)
    except InputMissing as exc:
        record.status, record.verdict = "inconclusive", Verdict.INCONCLUSIVE
        record.reason = f"the repro could not be templated: {exc}"
        return record
    try:
        sandbox = _prepare(runtime, chosen, chosen.target.commit)
    except (SandboxError, ValueError) as exc:
        record.reason = f"no sandbox: {exc}"
        return record
    try:
        record.commit = sandbox.commit
        run = run_repro(sandbox, chosen.spec, _values(facts, chosen, record, investigation_id))
    except SandboxError as exc:
        record.reason = f"sandbox: {exc}"
        return record
    finally:
        sandbox.close()
    record.status, record.verdict, record.reason = run.verdict.value, run.verdict, run.reason
    record.command, record.setup, record.run = run.command, run.setup, run.run
    return record


def _candidate(runtime: Runtime, investigation_id: str, facts: Facts, chosen: Plan,
               repro: ReproRecord, log: StepLog) -> None:
    """Bisect, revert and verify in one sandbox; a brain's forward fix that passes the same
    verification is preferred; publish on the host what was verified."""
    started, clock = utcnow(), time.perf_counter()
    values = _values(facts, chosen, repro, investigation_id)
    assert repro.commit is not None
    current = "bisect"
    try:
        sandbox = _prepare(runtime, chosen, repro.commit)
    except (SandboxError, ValueError) as exc:
        _add(log, "bisect", BisectRecord(status="error", reason=f"no sandbox: {exc}"), started, clock)
        return
    try:
        found = _bisect(sandbox, chosen, repro, values)
        _add(log, "bisect", found, started, clock)
        current, started, clock = "fix", utcnow(), time.perf_counter()
        candidate = FixRecord(status="skipped", reason=f"no culprit to revert: {found.reason}")
        if found.status in ("found", "ambiguous"):
            candidate = make_revert(sandbox, sandbox.commit, found.culprits, investigation_id,
                                    facts.alert.started_at)
            if candidate.commit is not None:
                candidate = verify(sandbox, candidate, chosen.spec, chosen.service.test, values)
        patch = export_patch(sandbox) if candidate.status == "verified" else ""
        proposal = facts.findings.fix if facts.findings else None
        if proposal and proposal.kind == "forward":
            # A brain's forward fix becomes the candidate only if it passes the same checks;
            # otherwise the verified revert (its patch exported above) stays.
            forward = apply_forward(sandbox, proposal, sandbox.commit, investigation_id,
                                    facts.alert.started_at)
            if forward.commit is not None:
                forward = verify(sandbox, forward, chosen.spec, chosen.service.test, values)
            if forward.status == "verified":
                forward.reason = f"{forward.reason} (preferred over the revert: {candidate.reason})"
                candidate, patch = forward, export_patch(sandbox)
            else:
                candidate.reason = f"{candidate.reason} (the forward fix: {forward.reason})"
        _add(log, "fix", candidate, started, clock)
    except SandboxError as exc:
        failed = (BisectRecord(status="error", reason=f"sandbox: {exc}") if current == "bisect"
                  else FixRecord(status="error", reason=f"sandbox: {exc}"))
        _add(log, current, failed, started, clock)
        return
    finally:
        sandbox.close()
    if candidate.status == "verified":
        started, clock = utcnow(), time.perf_counter()
        record = publish(runtime, investigation_id, facts.findings, chosen, repro, found,
                         candidate, patch)
        _add(log, "publish", record, started, clock)


def _bisect(sandbox: Sandbox, chosen: Plan, repro: ReproRecord,
            values: dict[str, str]) -> BisectRecord:
    """Bisect from the last good deploy, or say why there is none."""
    if repro.good_commit is None:
        return BisectRecord(status="skipped", bad=sandbox.commit, reason=(
            "no last good deploy is known (the deploy names no previous_commit and no earlier "
            "deploy is in the evidence)"))
    resolved = sandbox.exec(["git", "rev-parse", "--verify", "--quiet",
                             f"{repro.good_commit}^{{commit}}"], timeout=60)
    if not resolved.ok:
        return BisectRecord(status="failed", bad=sandbox.commit, reason=(
            f"the last good deploy's commit {repro.good_commit[:12]} is not in the repository"))
    return bisect(sandbox, chosen.spec, values, resolved.stdout.text.strip(), sandbox.commit)


def _prepare(runtime: Runtime, chosen: Plan, commit: str) -> Sandbox:
    """A fresh sandbox of the service's repository at `commit`."""
    backend = make_backend(runtime.config.sandbox,
                           sandbox_root(runtime.settings.sandbox_dir, runtime.settings.data_dir))
    limits = Limits(timeout_seconds=chosen.spec.timeout)
    return backend.prepare(RepoSpec(chosen.source, commit, env=dict(chosen.spec.env)), limits)


def _values(facts: Facts, chosen: Plan, repro: ReproRecord,
            investigation_id: str) -> dict[str, str]:
    """Every placeholder's value: the built-ins, then the inputs taken from the evidence."""
    return {"commit": repro.commit or chosen.target.commit, "service": chosen.service.name,
            "alert_title": facts.alert.title, "alert_started_at": facts.alert.started_at.isoformat(),
            "investigation_id": investigation_id, **repro.inputs}


def _add(log: StepLog, name: str, record: BisectRecord | FixRecord | PublishRecord,
         started: datetime, clock: float) -> None:
    """Record one step of the fix stage."""
    log.add(StepKind.STAGE, name, _arguments(record), record.status, step_summary(record),
            record.model_dump(mode="json"), started, (time.perf_counter() - clock) * 1000)


def _arguments(record: BisectRecord | FixRecord | PublishRecord) -> dict[str, object]:
    """What the step ran, as the report's step list shows it."""
    if isinstance(record, BisectRecord):
        return ({"command": ["git", "bisect", "run", "sh", STEP_SCRIPT], "good": record.good,
                 "bad": record.bad} if record.good else {})
    if isinstance(record, FixRecord):
        return {"revert": record.reverted, "base": record.base} if record.base else {}
    return {"mode": record.mode, "branch": record.branch}


def load_facts(runtime: Runtime, investigation_id: str) -> Facts:
    """The alert, service, playbook, findings and evidence of an investigation."""
    with runtime.store.read() as conn:
        alert = repo.alert_of_investigation(conn, investigation_id)
        steps = repo.list_steps(conn, investigation_id)
    plan_step = next((s for s in steps if s.stage == "gather" and s.name == "plan"), None)
    name = str(plan_step.detail.get("playbook", "")) if plan_step else ""
    findings = next((Findings.model_validate(s.detail) for s in steps
                     if s.stage == "brain" and s.name == "findings"), None)
    evidence = [Evidence.model_validate(s.detail) for s in steps
                if s.stage == "gather" and s.kind == StepKind.QUERY and s.detail]
    return Facts(alert=runtime.redactor.redact_model(alert),
                 service=runtime.config.service_named(alert.service),
                 playbook=runtime.playbooks.playbooks.get(name), findings=findings,
                 evidence=evidence, steps=steps)
