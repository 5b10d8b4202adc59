"""The `first_note` and `final_note` stages: post an investigation's note to its PagerDuty incident
exactly once, and record what happened as a step.

Exactly once across retries and crashes: a note recorded in the store is never posted again; one
not recorded is looked for on the incident (by its marker) before posting, so a worker killed
between PagerDuty's answer and the store write is followed by one that finds the note instead of
posting a second. A note that cannot be posted is an error step, never a failed investigation.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage import repository as repo
from triage.agent.tools import StepLog
from triage.failpoints import failpoint
from triage.models import Alert, Source, StepKind, StepRecord, utcnow
from triage.notify.content import NoteKind, compose, final_note, first_note, marker
from triage.notify.pagerduty import NoteError, NotesClient, PostedNote
from triage.report.build import Report, build_report
from triage.report.links import links_for
from triage.runtime import Runtime
from triage.store import incident_notes

log = logging.getLogger(__name__)
STEP = "pagerduty_note"


def post_note(runtime: Runtime, investigation_id: str, kind: NoteKind) -> list[StepRecord]:
    """Post (or find, or skip) one note; return the step that says which."""
    stage = f"{kind.value}_note"
    steps, started = StepLog(investigation_id, stage), utcnow()
    with runtime.store.read() as conn:
        alert = repo.alert_of_investigation(conn, investigation_id)
        recorded = recorded_note(conn, investigation_id, kind)
    arguments = {"kind": kind.value, "incident": alert.external_id}
    reason = skip_reason(runtime, alert)
    if reason is not None:
        runtime.metrics.record_note(kind.value, "skipped")
        steps.add(StepKind.STAGE, STEP, arguments, "skipped", f"no {kind.value} note: {reason}",
                  {}, started, 0.0)
        return steps.records
    if recorded is not None:  # this stage ran to the store write before; DBOS had not noted it
        steps.add(StepKind.STAGE, STEP, arguments, "ok",
                  f"{kind.value} note {recorded['note_id']} was already posted", dict(recorded),
                  started, 0.0)
        return steps.records
    assert alert.external_id is not None  # skip_reason checked
    content = note_text(runtime, investigation_id, kind)
    client = NotesClient.from_settings(runtime.settings)
    try:
        posted = client.post_once(alert.external_id, content, marker(investigation_id, kind))
    except NoteError as exc:
        runtime.metrics.record_note(kind.value, "error")
        elapsed = (utcnow() - started).total_seconds() * 1000
        steps.add(StepKind.STAGE, STEP, arguments, "error",
                  f"the {kind.value} note was not posted: {exc.message}",
                  {"content": content}, started, elapsed)
        return steps.records
    finally:
        client.close()
    failpoint(f"posted:{stage}")  # posted, not yet recorded: the crash exactly once must survive
    with runtime.store.transaction() as conn:
        record_note(conn, investigation_id, kind, alert.external_id, posted)
    runtime.metrics.record_note(kind.value, "recovered" if posted.recovered else "posted")
    how = ("found on the incident, posted by an earlier attempt; not posted again"
           if posted.recovered else "posted")
    steps.add(StepKind.STAGE, STEP, arguments, "ok",
              f"{kind.value} note {posted.note_id} {how} (incident {alert.external_id})",
              {"note_id": posted.note_id, "recovered": posted.recovered, "content": content,
               "chars": len(content)}, started, (utcnow() - started).total_seconds() * 1000)
    return steps.records


def skip_reason(runtime: Runtime, alert: Alert) -> str | None:
    """Why this investigation gets no PagerDuty notes, or None when it does."""
    if alert.source != Source.PAGERDUTY:
        return f"the alert came from {alert.source.value}, not a PagerDuty incident"
    if not alert.external_id:
        return "the alert names no PagerDuty incident id"
    return runtime.settings.notes_disabled_because()


def note_text(runtime: Runtime, investigation_id: str, kind: NoteKind) -> str:
    """The note as it will be posted: redacted body, signed report link, marker."""
    with runtime.store.read() as conn:
        report = _report(conn, runtime, investigation_id, kind)
        steps = repo.list_steps(conn, investigation_id) if kind == NoteKind.FINAL else []
    link = links_for(runtime.settings, runtime.settings.public_url).report(investigation_id)
    body, footer = (first_note(report, link) if kind == NoteKind.FIRST
                    else final_note(report, steps, link))
    # redaction: the body quotes alert, log and model text; the link's token is ours, not a leak.
    return compose(runtime.redactor.redact_text(body), footer, marker(investigation_id, kind))


def _report(conn: Connection, runtime: Runtime, investigation_id: str, kind: NoteKind) -> Report:
    """The stored final report for the final note; the live one for the first."""
    stored = repo.get_report(conn, investigation_id) if kind == NoteKind.FINAL else None
    if stored is not None:
        return Report.model_validate(stored["body"])
    return build_report(conn, investigation_id, runtime.settings.public_url, runtime.redactor)


def recorded_note(conn: Connection, investigation_id: str,
                  kind: NoteKind) -> dict[str, object] | None:
    """The note of this kind recorded for the investigation, if any."""
    row = conn.execute(sa.select(incident_notes).where(
        incident_notes.c.investigation_id == investigation_id,
        incident_notes.c.kind == kind.value)).first()
    if row is None:
        return None
    found = dict(row._mapping)
    found["posted_at"] = found["posted_at"].isoformat()
    return found


def record_note(conn: Connection, investigation_id: str, kind: NoteKind, incident_id: str,
                posted: PostedNote) -> None:
    """Remember the posted note (replacing nothing: a second record of one kind is a bug)."""
    conn.execute(incident_notes.insert().values(
        investigation_id=investigation_id, kind=kind.value, incident_id=incident_id,
        note_id=posted.note_id, posted_at=utcnow(), recovered=posted.recovered))
