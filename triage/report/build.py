"""Assembles the report model from what the store holds (live, or final when done)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from triage import repository as repo
from triage.agent.base import Findings
from triage.analysis.redaction import Redactor, default_redactor
from triage.analysis.signals import Signal, SignalKind
from triage.fix.records import FixSection
from triage.follow.path import FollowPath
from triage.models import StepKind, StepRecord
from triage.report.charts_data import report_charts
from triage.report.charts_model import Chart
from triage.verdict import latest_findings


class ReportStep(BaseModel):
    """One step as the report shows it: what ran, exactly, and what came back."""

    id: str
    stage: str
    kind: str
    name: str
    status: str
    started_at: datetime
    duration_ms: float
    summary: str
    arguments: dict[str, Any]
    row_count: int | None = None
    link: str | None = Field(default=None, description="backend UI deep link")
    data_url: str


class TimelineEvent(BaseModel):
    """Something that happened, in production or in the investigation."""

    at: datetime
    what: str
    source: str


class StageTime(BaseModel):
    """One run of one stage of this investigation, in wall-clock time (not the incident's)."""

    stage: str
    worker: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(description="finished, running, re-run, in progress, did not finish")

    @property
    def seconds(self) -> float | None:
        """How long the run took, when it finished."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


class Report(BaseModel):
    """Everything an on-call engineer needs on one page."""

    investigation_id: str
    state: str
    brain: str
    service: str | None
    playbook: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    summary: str
    alert: dict[str, Any]
    findings: Findings | None
    signals: list[Signal]
    timeline: list[TimelineEvent]
    steps: list[ReportStep]
    report_url: str
    notes: list[str] = Field(default_factory=list)
    fix: FixSection | None = Field(default=None, description="reproduction and candidate fix")
    followed: FollowPath | None = Field(default=None, description="the failure followed into "
                                        "the services the alerted one calls")
    charts: list[Chart] = Field(default_factory=list, description="symptom series and drill-down")
    stages: list[StageTime] = Field(default_factory=list, description="this run's stage times")

    @property
    def queries(self) -> list[ReportStep]:
        """The steps that were read-only queries."""
        return [s for s in self.steps if s.kind == StepKind.QUERY.value]

    @property
    def incident_timeline(self) -> list[TimelineEvent]:
        """Times of the incident only (reports stored before `stages` mixed stage runs in)."""
        return [e for e in self.timeline if e.source != STAGE_SOURCE]

    @property
    def legacy_stage_events(self) -> list[TimelineEvent]:
        """The stage runs a report stored before `stages` existed kept in its timeline."""
        return [] if self.stages else [e for e in self.timeline if e.source == STAGE_SOURCE]


STAGE_SOURCE = "investigation"  # how stored reports before `stages` marked stage runs


def report_url(public_url: str, investigation_id: str) -> str:
    """Where the HTML report of an investigation lives."""
    return f"{public_url.rstrip('/')}/reports/{investigation_id}"


def build_report(conn: Connection, investigation_id: str, public_url: str,
                 redactor: Redactor | None = None) -> Report:
    """The report as of now, from the store, redacted (alert, steps, signals, findings, notes)."""
    row = repo.get_investigation(conn, investigation_id)
    if row is None:
        raise KeyError(investigation_id)
    alert, raw = repo.load_alert(conn, row["alert_id"])
    steps = repo.list_steps(conn, investigation_id)
    runs = repo.list_stage_runs(conn, investigation_id)
    findings = latest_findings(steps)
    signals = [Signal.model_validate(s) for st in steps if st.name == "signals"
               for s in st.detail.get("signals", [])]
    plan = next((s for s in steps if s.name == "plan"), None)
    base = public_url.rstrip("/")
    unplanned = plan is not None and (plan.status != "ok" or not plan.detail.get("service"))
    notes = [plan.summary] if plan and unplanned else []
    notes += findings.notes if findings else []
    report = Report(
        investigation_id=investigation_id,
        state=row["state"],
        brain=row["brain"],
        service=row["service"],
        playbook=plan.detail.get("playbook") if plan else None,
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        summary=row["summary"] or _pending_summary(row["state"]),
        alert={**alert.model_dump(mode="json"), "received_at": raw["received_at"].isoformat(),
               "resolved_at": raw["resolved_at"].isoformat() if raw["resolved_at"] else None},
        findings=findings,
        signals=signals,
        timeline=_timeline(alert.started_at, signals),
        steps=[_report_step(s, base) for s in steps],
        report_url=report_url(public_url, investigation_id),
        notes=notes,
        fix=FixSection.from_steps(steps),
        followed=FollowPath.from_steps(steps),
        charts=report_charts(steps, alert.started_at),
        stages=stage_times(runs, row["state"]),
    )
    # redaction: every text field (the alert's own title and labels included) is redacted here.
    return (redactor or default_redactor()).redact_model(report)


def _pending_summary(state: str) -> str:
    return {"queued": "Queued: the investigation has not started yet.",
            "running": "Running: findings appear here as stages complete.",
            "failed": "The investigation failed; see the error below."}.get(state, "")


def _report_step(step: StepRecord, base: str) -> ReportStep:
    return ReportStep(
        id=step.id, stage=step.stage, kind=step.kind.value, name=step.name, status=step.status,
        started_at=step.started_at, duration_ms=round(step.duration_ms, 1), summary=step.summary,
        arguments=step.arguments,
        row_count=step.detail.get("row_count") if step.kind == StepKind.QUERY else None,
        link=step.detail.get("link"),
        data_url=f"{base}/api/investigations/{step.investigation_id}/steps/{step.id}",
    )


def _timeline(alert_start: datetime, signals: list[Signal]) -> list[TimelineEvent]:
    events = [TimelineEvent(at=alert_start, what="Alert started", source="alert")]
    for signal in signals:
        if signal.onset is None:
            continue
        what = (signal.title if signal.kind == SignalKind.RECENT_DEPLOY
                else f"Onset: {signal.title}")
        events.append(TimelineEvent(at=signal.onset, what=what, source=signal.kind.value))
    return sorted(events, key=lambda e: e.at)


def stage_times(runs: list[dict[str, Any]], state: str) -> list[StageTime]:
    """Each stage run with what became of it. An unfinished run is "re-run" when a later run of
    its stage exists (its worker stopped), "in progress" when it is the report stage writing this
    very report, "running" while the investigation runs, and "did not finish" otherwise."""
    times = []
    for index, run in enumerate(runs):
        if run["finished_at"]:
            status = "finished"
        elif any(later["stage"] == run["stage"] for later in runs[index + 1:]):
            status = "re-run"
        elif run["stage"] == "report" and index == len(runs) - 1:
            status = "in progress (this report was written during it)"
        elif state in ("queued", "running"):
            status = "running"
        else:
            status = "did not finish"
        times.append(StageTime(stage=run["stage"], worker=run["worker_id"],
                               started_at=run["started_at"], finished_at=run["finished_at"],
                               status=status))
    return times
