"""The durable investigation: a DBOS workflow whose stages are checkpointed DBOS steps.

A worker that dies mid-investigation is replaced (or restarted) and DBOS resumes the workflow
at the first stage that had not completed; finished stages are not run again. Each stage also
writes its own rows under deterministic ids, so a stage cut short and re-run replaces, never
duplicates, what it had written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from dbos import DBOS

from connectors import Connector, Evidence
from triage import repository as repo
from triage.agent.base import Findings, InvestigationContext
from triage.agent.claude_settings import budget_from
from triage.agent.tools import StepLog, ToolCall, ToolRegistry
from triage.analysis.runner import analyze_window
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal
from triage.analysis.similar import similar_investigations, templates_of
from triage.calls import query_calls
from triage.config import ServiceConfig
from triage.failpoints import failpoint
from triage.fix import stages as fix_stages
from triage.fix.records import FixSection
from triage.follow import stage as follow_stage
from triage.models import Alert, InvestigationState, StepKind, StepRecord, utcnow
from triage.notify.content import NoteKind
from triage.notify.notes import post_note
from triage.notify.slack import post_slack
from triage.playbook import Playbook, PlaybookError
from triage.report.build import build_report
from triage.report.render import render_markdown
from triage.runtime import Runtime, current
from triage.verdict import latest_findings, reconcile

ANALYZERS = ["change points", "logs", "templates", "drill-down", "metrics", "saturation",
             "database", "deploys"]


@contextmanager
def _stage(investigation_id: str, stage: str) -> Iterator[Runtime]:
    runtime = current()
    clock = time.perf_counter()
    with runtime.store.transaction() as conn:
        run_id = repo.start_stage(conn, investigation_id, stage, runtime.settings.worker_id)
    yield runtime
    with runtime.store.transaction() as conn:
        repo.finish_stage(conn, run_id)
    runtime.metrics.observe_stage(stage, time.perf_counter() - clock)
    failpoint(f"inside:{stage}")  # committed, but not yet checkpointed by DBOS


@DBOS.step(name="triage.gather")
def gather(investigation_id: str) -> None:
    """Pick the playbook and run its read-only queries on the service's connectors in parallel."""
    with _stage(investigation_id, "gather") as runtime:
        with runtime.store.read() as conn:
            alert = repo.alert_of_investigation(conn, investigation_id)
        service = runtime.config.service_named(alert.service)
        log, started = StepLog(investigation_id, "gather"), utcnow()
        try:
            playbook = (runtime.playbooks.named(service.playbook) if service and service.playbook
                        else runtime.playbooks.select(alert))
        except PlaybookError as exc:
            log.add(StepKind.STAGE, "plan", {}, "error", str(exc), {}, started, 0.0)
            _save(runtime, log.records, state=InvestigationState.RUNNING, started_at=started)
            return
        connectors = runtime.connectors_for(service)
        types = {name: str(entry.get("type")) for name, entry in runtime.config.connectors.items()}
        calls = _plan(log, alert, service, playbook, connectors, types, started)
        tools = ToolRegistry(connectors, redactor=runtime.redactor)
        try:
            tools.call_many(calls, log)
        finally:
            tools.close()
        _save(runtime, log.records, state=InvestigationState.RUNNING, started_at=started)


def _plan(log: StepLog, alert: Alert, service: ServiceConfig | None, playbook: Playbook,
          connectors: list[Connector], types: dict[str, str], started: datetime) -> list[ToolCall]:
    """Record the plan step and turn every query spec into calls on the matching connectors."""
    start, onset, end = playbook.window.bounds(alert.started_at)
    plan = {"playbook": playbook.name, "service": service.name if service else None,
            "window": {"start": start.isoformat(), "onset": onset.isoformat(),
                       "end": end.isoformat()},
            "connectors": [c.name for c in connectors]}
    note = ("" if service else
            f"no service in triage.yaml matches this alert (labels: {alert.labels}); "
            "no connectors to query")
    log.add(StepKind.STAGE, "plan", plan, "ok", note or f"playbook {playbook.name}", plan,
            started, 0.0)
    specs = [*playbook.queries, *(service.queries if service else [])]
    return query_calls(log, specs, alert, service.name if service else None, connectors, types,
                       start, end, lambda spec, connector: f"{spec.id} on {connector.name}")


@DBOS.step(name="triage.analyze")
def analyze_evidence(investigation_id: str) -> None:
    """Run the analyzers over the gathered evidence and record the signals they found."""
    with _stage(investigation_id, "analyze") as runtime:
        context = _context(runtime, investigation_id, with_signals=False)
        started, log = utcnow(), StepLog(investigation_id, "analyze")
        playbook = runtime.playbooks.playbooks.get(context.playbook)
        thresholds = playbook.signals if playbook else None
        onset, signals = (analyze_window(context.evidence, context.window, thresholds,
                                         runtime.redactor.redact_text)
                          if context.evidence else (None, []))
        when = (f"onset {onset.at:%H:%M} UTC ({onset.series} changed first)" if onset
                else "no change point: the playbook's fixed onset was used")
        log.add(StepKind.ANALYSIS, "signals", {"analyzers": ANALYZERS}, "ok",
                f"{len(signals)} signal(s); {when}" + "".join(f"; {s.title}" for s in signals[:3]),
                {"signals": [s.model_dump(mode="json") for s in signals],
                 "onset": ({"at": onset.at.isoformat(), "series": onset.series,
                            "shape": onset.change.shape} if onset else None)},
                started, (utcnow() - started).total_seconds() * 1000)
        _save(runtime, log.records)


@DBOS.step(name="triage.follow")
def follow_failure(investigation_id: str) -> None:
    """Follow the failure into the services the alerted one's errors name (or it depends on),
    one hop at a time within the budget, and record the path."""
    with _stage(investigation_id, "follow") as runtime:
        _save(runtime, follow_stage.follow(runtime, investigation_id))


@DBOS.step(name="triage.brain")
def run_brain(investigation_id: str) -> None:
    """Let the configured brain rank hypotheses."""
    with _stage(investigation_id, "brain") as runtime:
        context = _context(runtime, investigation_id, with_signals=True)
        brain = runtime.brain()
        started, log = utcnow(), StepLog(investigation_id, "brain")
        # The rules brain reads the gathered evidence only; a model brain may query again.
        connectors = ([] if brain.name == "rules"
                      else runtime.connectors_for(runtime.config.service_named(context.service)))
        tools = ToolRegistry(connectors, redactor=runtime.redactor)
        try:
            findings = brain.investigate(context, tools, budget_from(runtime.settings))
        finally:
            tools.close()
        with runtime.store.read() as conn:
            findings.related = similar_investigations(
                conn, investigation_id, context.service,
                templates_of([s.model_dump(mode="json") for s in context.signals]))
        log.add(StepKind.STAGE, "findings", {"brain": brain.name}, "ok", findings.summary,
                findings.model_dump(mode="json"), started,
                (utcnow() - started).total_seconds() * 1000)
        _save(runtime, log.records, summary=findings.summary)


@DBOS.step(name="triage.report")
def write_report(investigation_id: str) -> None:
    """Assemble, render and store the final report (complete once its final note is posted)."""
    with _stage(investigation_id, "report") as runtime, runtime.store.transaction() as conn:
        repo.update_investigation(conn, investigation_id, finished_at=utcnow())
        report = build_report(conn, investigation_id, runtime.settings.public_url, runtime.redactor)
        report = report.model_copy(update={"state": InvestigationState.COMPLETED.value})
        repo.save_report(conn, investigation_id, report.model_dump(mode="json"),
                         render_markdown(report))


@DBOS.step(name="triage.first_note")
def post_first_note(investigation_id: str) -> None:
    """Post the first-response note (top signals, live report link) to the PagerDuty incident,
    and start the Slack thread (parent message, first findings)."""
    with _stage(investigation_id, "first_note") as runtime:
        steps = StepLog(investigation_id, "first_note")
        steps.records.extend(post_note(runtime, investigation_id, NoteKind.FIRST))
        post_slack(runtime, investigation_id, NoteKind.FIRST, steps)  # whatever PagerDuty said
        _save(runtime, steps.records)


@DBOS.step(name="triage.final_note")
def post_final_note(investigation_id: str) -> None:
    """Post the final note (hypotheses, repro, pull request) and the Slack thread's final reply;
    the investigation is then complete."""
    with _stage(investigation_id, "final_note") as runtime:
        steps = StepLog(investigation_id, "final_note")
        steps.records.extend(post_note(runtime, investigation_id, NoteKind.FINAL))
        post_slack(runtime, investigation_id, NoteKind.FINAL, steps)  # whatever PagerDuty said
        _save(runtime, steps.records, state=InvestigationState.COMPLETED.value)


@DBOS.step(name="triage.fail")
def mark_failed(investigation_id: str, error: str) -> None:
    """Record that the investigation failed, with the reason, so the report page says so."""
    runtime = current()
    with runtime.store.transaction() as conn:
        repo.update_investigation(conn, investigation_id, state=InvestigationState.FAILED.value,
                                  finished_at=utcnow(),
                                  error=runtime.redactor.redact_text(error[:4000]))


@DBOS.step(name="triage.reproduce")
def reproduce(investigation_id: str) -> None:
    """Run the repro in a sandbox at the deployed commit: reproduced, not_reproduced or
    inconclusive (or skipped, saying why: no repository, repro or sandbox; the brain abstained)."""
    with _stage(investigation_id, "reproduce") as runtime:
        _save(runtime, fix_stages.reproduce(runtime, investigation_id))


@DBOS.step(name="triage.fix")
def propose_fix(investigation_id: str) -> None:
    """After a reproduction only: bisect to the culprit, revert it, verify, publish the draft."""
    with _stage(investigation_id, "fix") as runtime:
        _save(runtime, fix_stages.fix(runtime, investigation_id))


@DBOS.step(name="triage.verdict")
def reconcile_verdict(investigation_id: str) -> None:
    """Re-rank the brain's hypotheses by what reproduction and bisect established: one verdict
    that the summary, the report, the notes and the JSON all carry."""
    with _stage(investigation_id, "verdict") as runtime:
        with runtime.store.read() as conn:
            steps = repo.list_steps(conn, investigation_id)
        brain_findings = findings_of([s for s in steps if s.stage == "brain"])
        if brain_findings is None:
            return
        started, log = utcnow(), StepLog(investigation_id, "verdict")
        findings = reconcile(brain_findings, FixSection.from_steps(steps))
        log.add(StepKind.STAGE, "findings", {"from": "brain, reproduce, fix"}, "ok",
                findings.summary, findings.model_dump(mode="json"), started,
                (utcnow() - started).total_seconds() * 1000)
        _save(runtime, log.records, summary=findings.summary)


STAGES = {"gather": gather, "analyze": analyze_evidence, "follow": follow_failure,
          "first_note": post_first_note,
          "brain": run_brain, "reproduce": reproduce, "fix": propose_fix,
          "verdict": reconcile_verdict, "report": write_report, "final_note": post_final_note}


@DBOS.workflow(name="triage.investigate")
def investigate(investigation_id: str) -> str:
    """Gather, analyze, reason, report: each a checkpoint a resumed worker skips."""
    try:
        for stage, run in STAGES.items():
            run(investigation_id)
            failpoint(f"after:{stage}")  # checkpointed: a resumed worker skips this stage
    except Exception as exc:
        mark_failed(investigation_id, f"{type(exc).__name__}: {exc}")
        raise
    return investigation_id


def _save(runtime: Runtime, records: list[StepRecord], **investigation: object) -> None:
    # redaction: every stored step (plan notes quote alert labels; errors quote queries).
    records = [runtime.redactor.redact_step(record) for record in records]
    investigation = runtime.redactor.redact_value(investigation)
    with runtime.store.transaction() as conn:
        repo.save_steps(conn, records)
        if investigation:
            investigation_id = records[0].investigation_id
            repo.update_investigation(conn, investigation_id, **investigation)


def _context(runtime: Runtime, investigation_id: str, *,
             with_signals: bool) -> InvestigationContext:
    with runtime.store.read() as conn:
        row = repo.get_investigation(conn, investigation_id)
        assert row is not None
        alert, _ = repo.load_alert(conn, row["alert_id"])
        alert = runtime.redactor.redact_model(alert)  # redaction: the brain sees no raw alert
        gathered = repo.list_steps(conn, investigation_id, "gather")
        # With signals: the brain's view, which includes what the follow stage read and found.
        analysis, followed = ((repo.list_steps(conn, investigation_id, "analyze"),
                               repo.list_steps(conn, investigation_id, "follow"))
                              if with_signals else ([], []))
    plan = next((s for s in gathered if s.name == "plan"), None)
    window = plan.detail.get("window") if plan else None
    if window:
        bounds = AnalysisWindow(*(datetime.fromisoformat(window[key])
                                  for key in ("start", "onset", "end")))
    else:
        bounds = AnalysisWindow(alert.started_at, alert.started_at, alert.started_at)
    cited = [CitedEvidence(s.id, Evidence.model_validate(s.detail))
             for s in [*gathered, *followed] if s.kind == StepKind.QUERY and s.detail]
    signals = [Signal.model_validate(raw) for s in [*analysis, *followed] if s.name == "signals"
               for raw in s.detail.get("signals", [])]
    playbook = str(plan.detail.get("playbook", "")) if plan else ""
    known = runtime.playbooks.playbooks.get(playbook) or runtime.playbooks.playbooks.get("default")
    return InvestigationContext(
        investigation_id=investigation_id, alert=alert, service=row["service"],
        playbook=playbook, window=bounds, evidence=cited, signals=signals,
        rules=runtime.playbooks.rules_for(known) if known else [],
    )


def findings_of(steps: list[StepRecord]) -> Findings | None:
    """The latest findings among an investigation's steps: the reconciled verdict once it
    exists, else the brain's."""
    return latest_findings(steps)
