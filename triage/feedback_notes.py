"""Feedback from PagerDuty notes: a responder's note on the incident (often the resolution note)
that names the cause, delivered as an `incident.annotated` webhook, becomes feedback on the
incident's latest investigation, like a Slack button or `triage feedback`.

What a note must say (one line anywhere in it, case-insensitive):

    Root cause: db-contention            (or a line starting `Cause: …`; a category of
                                          `triage.feedback.CATEGORIES`)
    Culprit: 9f3a1c2                     (optional: the commit that caused it)
    Triage: right | wrong                (optional: judge the verdict without naming a cause)

A named cause is compared with the verdict: the same category is "right", another is "wrong" with
the true category. Notes triage posted itself (they carry its marker) are never read as feedback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage import repository as repo
from triage.feedback import CATEGORIES, MAX_NOTE, Feedback, FeedbackError
from triage.runtime import Runtime
from triage.stats import verdict_category
from triage.store import alerts, investigations

SOURCE = "pagerduty"
# "Root cause:" anywhere in a line; a bare "Cause:" only where a line starts with it.
_CAUSE = re.compile(r"(?:^\W*|\broot[ _-]?)cause\s*[:=]\s*(.+)$", re.I | re.M)
_CULPRIT = re.compile(r"^\W*culprit\s*[:=]\s*([0-9a-f]{7,40})\b", re.I | re.M)
_VERDICT = re.compile(r"^\W*triage\s*[:=]\s*(right|correct|wrong|incorrect)\b", re.I | re.M)
_OUR_MARKER = re.compile(r"triage:inv_[0-9a-z]+:(?:first|final)")
# Longest first, so that `false alarm` is not read as something shorter that prefixes it.
_NAMES = sorted(CATEGORIES, key=len, reverse=True)


@dataclass(frozen=True)
class SaidInNote:
    """What a note says about the verdict: right/wrong outright, and/or the true cause."""

    right: bool | None
    category: str | None
    culprit: str | None


@dataclass(frozen=True)
class NoteOutcome:
    """What became of a note, in the webhook reply's words: `feedback` (recorded), `duplicate`
    (the delivery was seen before) or `ignored`."""

    status: Literal["feedback", "duplicate", "ignored"]
    reason: str
    investigation_id: str | None = None


def read_note(content: str) -> SaidInNote | None:
    """What the note says, or None when it judges nothing (most notes are just conversation)."""
    if _OUR_MARKER.search(content):
        return None
    category = None
    if cause := _CAUSE.search(content):
        text = re.sub(r"[\s_]+", "-", cause.group(1).strip().lower())
        category = next((name for name in _NAMES if text == name or text.startswith(name + "-")
                         or text.startswith(name + ".") or text.startswith(name + ",")), None)
    verdict = _VERDICT.search(content)
    right = None if verdict is None else verdict.group(1).lower() in ("right", "correct")
    culprit = culprit_match.group(1).lower() if (culprit_match := _CULPRIT.search(content)) else None
    if category is None and right is None:
        return None
    return SaidInNote(right=right, category=category, culprit=culprit)


def judge(said: SaidInNote, verdict: str, author: str, note: str) -> Feedback:
    """Feedback on a verdict of category `verdict` from what a note said."""
    right = said.right if said.right is not None else said.category == verdict
    category = None if right else (said.category or None)
    return Feedback(right=right, author=author, category=category, culprit=said.culprit,
                    note=note[:MAX_NOTE])


def record_note(runtime: Runtime, source: str, delivery_keys: list[str], incident_id: str,
                content: str, author: str) -> NoteOutcome:
    """Store what an `incident.annotated` note says about the incident's latest investigation;
    the delivery is recorded either way, so a re-sent webhook changes nothing."""
    from triage.intake.common import key_at_rest  # intake imports the runtime; keep this lazy

    redactor = runtime.redactor
    keys = [key_at_rest(redactor, key) for key in delivery_keys]
    external_id = key_at_rest(redactor, incident_id)
    with runtime.store.transaction() as conn:
        if earlier := repo.seen_delivery(conn, source, keys):
            return NoteOutcome("duplicate", f"delivery {earlier['delivery_key']} was already "
                                            "received")
        outcome = _outcome(conn, runtime, external_id, incident_id, content, author)
        repo.record_delivery(conn, source, keys, None, f"note:{outcome.status}")
        return outcome


def _outcome(conn: Connection, runtime: Runtime, external_id: str, incident_id: str,
             content: str, author: str) -> NoteOutcome:
    said = read_note(content)
    shown = runtime.redactor.redact_text(incident_id[:80])
    if said is None:
        return NoteOutcome("ignored", "the note names no cause (write `Root cause: <category>` "
                                      "or `Triage: right|wrong` to give feedback)")
    investigation_id = _latest_investigation(conn, external_id)
    if investigation_id is None:
        return NoteOutcome("ignored", f"no investigation of PagerDuty incident {shown}")
    report = repo.get_report(conn, investigation_id)
    if report is None:
        return NoteOutcome("ignored", f"{investigation_id} has no verdict yet to judge",
                           investigation_id)
    given = judge(said, verdict_category(report["body"]), author, content)
    try:
        given.validate()
    except FeedbackError as exc:
        return NoteOutcome("ignored", f"not recorded: {exc} (`Root cause: <category>`)",
                           investigation_id)
    repo.add_feedback(conn, investigation_id, "right" if given.right else "wrong", SOURCE,
                      given.author[:256], category=given.category, culprit=given.culprit,
                      note=runtime.redactor.redact_text(given.note) if given.note else None)
    said_what = "right" if given.right else f"wrong; the cause was {given.category}"
    return NoteOutcome("feedback", f"feedback on {investigation_id}: {said_what}",
                       investigation_id)


def _latest_investigation(conn: Connection, external_id: str) -> str | None:
    """The newest investigation of the PagerDuty incident stored as `external_id`."""
    return conn.execute(
        sa.select(investigations.c.id)
        .join(alerts, alerts.c.id == investigations.c.alert_id)
        .where(alerts.c.source == SOURCE, alerts.c.external_id == external_id)
        .order_by(investigations.c.created_at.desc()).limit(1)).scalar_one_or_none()
