"""What Slack's buttons, modal and `/triage` command do to the store: record feedback, start an
investigation again or without an alert (through intake's own transaction), and say a service's
latest verdict. Each runs on a store writer thread (see `triage.intake.common.persist`)."""

from __future__ import annotations

from triage import repository as repo
from triage.feedback import Feedback, FeedbackError, record
from triage.intake.common import IntakeResult, accept_alerts
from triage.models import Alert, AlertStatus, Severity, Source, utcnow
from triage.report.links import links_for
from triage.runtime import Runtime

MAX_FIELD = 2_000


class ActionError(Exception):
    """A request Slack delivered that cannot be carried out; the message is shown to the user."""


def record_feedback(runtime: Runtime, investigation_id: str, author: str, *, right: bool,
                    category: str | None = None, culprit: str | None = None,
                    note: str | None = None) -> None:
    """Store feedback through `triage.feedback.record`, the one validation every source shares."""
    given = Feedback(right=right, author=author, category=category, culprit=culprit,
                     note=note[:MAX_FIELD] if note else None)
    try:
        record(runtime.store, runtime.redactor, investigation_id, given, source=Source.SLACK.value)
    except FeedbackError as exc:
        raise ActionError(str(exc)) from exc


def investigate_again(runtime: Runtime, investigation_id: str, click: str,
                      author: str) -> IntakeResult:
    """A new investigation of the same alert (a copy under a new identity: one per click)."""
    with runtime.store.read() as conn:
        row = repo.get_investigation(conn, investigation_id)
        if row is None:
            raise ActionError(f"no investigation {investigation_id}")
        alert, _ = repo.load_alert(conn, row["alert_id"])
    again = alert.model_copy(update={"dedup_key": f"{alert.dedup_key}#again:{click}",
                                     "status": AlertStatus.FIRING})
    results = accept_alerts(runtime, alert.source.value, [f"slack-again:{click}"], [again],
                            {"again": investigation_id, "by": author})
    return results[0]


def investigate(runtime: Runtime, service: str, what: str, author: str,
                trigger: str) -> IntakeResult:
    """`/triage investigate <service> <what>`: a synthetic alert through the intake path."""
    configured = runtime.config.service_named(service)
    if configured is None:
        names = ", ".join(s.name for s in runtime.config.services) or "none"
        raise ActionError(f"no service {service!r} in triage.yaml (configured: {names})")
    # The service's own match labels, so that intake maps the alert to it like a real one.
    labels = {"service": service, **configured.match.labels, "requested_by": author}
    alert = Alert(source=Source.SLACK, dedup_key=f"slash:{trigger}", title=what[:500],
                  severity=Severity.ERROR, started_at=utcnow(), labels=labels)
    results = accept_alerts(runtime, Source.SLACK.value, [f"slash:{trigger}"], [alert],
                            {"command": "/triage investigate", "service": service, "text": what,
                             "by": author})
    return results[0]


def status(runtime: Runtime, service: str) -> str:
    """`/triage status <service>`: the latest investigation's state, verdict and report link."""
    with runtime.store.read() as conn:
        row = repo.latest_investigation_of(conn, service)
    if row is None:
        return f"No investigation of {service} yet."
    link = links_for(runtime.settings, runtime.settings.public_url).report(row["id"])
    verdict = row["summary"] or ("(no verdict yet)" if row["state"] != "failed"
                                 else f"failed: {row['error']}")
    return (f"{service}: {row['id']} ({row['state']}, started "
            f"{row['created_at']:%Y-%m-%d %H:%M} UTC)\nVerdict: {verdict}\nReport: {link}")
