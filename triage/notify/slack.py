"""The investigation's Slack thread, posted from the `first_note` and `final_note` stages beside the
PagerDuty notes: a parent message (the alert, the service, the report link) and the first findings
as a reply; at the end the reconciled verdict, repro/bisect outcome and fix link as the final reply,
and the parent edited to show the verdict and the feedback buttons.

Exactly once across retries and crashes, like the notes: a message recorded in `slack_messages` is
never posted again; one not recorded is looked for in the channel by its metadata marker before
posting. Slack failing is an error step, never a failed investigation (nor a skipped PagerDuty note).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage import repository as repo
from triage.agent.tools import StepLog
from triage.failpoints import failpoint
from triage.models import Alert, StepKind, utcnow
from triage.notify import slack_blocks as blocks
from triage.notify import slack_channel
from triage.notify.content import NoteKind, final_note, first_note
from triage.notify.notes import _report
from triage.notify.slack_client import PostedMessage, SlackError, SlackPoster
from triage.report.links import links_for
from triage.runtime import Runtime
from triage.store import slack_messages

log = logging.getLogger(__name__)
STEP = "slack_message"
PARENT = "parent"
_FOUND = "found in the channel, posted by an earlier attempt; not posted again"


def marker(investigation_id: str, kind: str) -> str:
    """The metadata marker of one message of one investigation's thread."""
    return f"triage:{investigation_id}:{kind}"


def post_slack(runtime: Runtime, investigation_id: str, kind: NoteKind, steps: StepLog) -> None:
    """Post (or find, or skip) this stage's Slack messages; add the steps that say which."""
    started = utcnow()
    with runtime.store.read() as conn:
        row = repo.get_investigation(conn, investigation_id)
        if row is None:
            raise KeyError(f"no investigation {investigation_id}")
        alert, alert_row = repo.load_alert(conn, row["alert_id"])
        recorded = recorded_messages(conn, investigation_id)
    service = row["service"]
    choices = slack_channel.candidates(runtime.config, alert, alert_row["payload"], service)
    parent = recorded.get(PARENT)
    channel = str(parent["channel"]) if parent else (choices[0].channel if choices else None)
    arguments = {"kind": kind.value, "channel": channel}
    reason = runtime.settings.slack_disabled_because() or (
        None if channel else f"no Slack channel for service {service or '(unmapped)'} "
        "and no slack.default_channel in triage.yaml")
    if reason is not None:
        steps.add(StepKind.STAGE, STEP, arguments, "skipped",
                  f"no {kind.value} Slack message: {reason}", {}, started, 0.0)
        return
    poster = SlackPoster.from_settings(runtime.settings)
    try:
        done, where = _post(runtime, poster, investigation_id, kind, alert, service, choices,
                            recorded, row["created_at"])
    except SlackError as exc:
        steps.add(StepKind.STAGE, STEP, arguments, "error",
                  f"the {kind.value} Slack message was not posted: {exc.message}", {}, started,
                  (utcnow() - started).total_seconds() * 1000)
        return
    except Exception as exc:  # Slack must never fail the investigation
        log.exception("Slack %s message of %s", kind.value, investigation_id)
        steps.add(StepKind.STAGE, STEP, arguments, "error",
                  f"the {kind.value} Slack message was not posted: {type(exc).__name__}: {exc}",
                  {}, started, (utcnow() - started).total_seconds() * 1000)
        return
    finally:
        poster.close()
    how = ", ".join(f"{name} {_FOUND if m.recovered else 'posted'} as {m.ts}"
                    for name, m in done.items() if m is not None)
    edited = "; the parent now shows the verdict" if kind == NoteKind.FINAL else ""
    steps.add(StepKind.STAGE, STEP, arguments | {"channel": where}, "ok",
              f"Slack {kind.value} message in {where}: {how or 'already recorded'}{edited}",
              {name: {"ts": m.ts, "recovered": m.recovered} for name, m in done.items()
               if m is not None}, started, (utcnow() - started).total_seconds() * 1000)


def _post(runtime: Runtime, poster: SlackPoster, investigation_id: str, kind: NoteKind,
          alert: Alert, service: str | None, choices: list[slack_channel.Candidate],
          recorded: dict[str, dict[str, object]],
          created: datetime) -> tuple[dict[str, PostedMessage | None], str]:
    """Parent (unless recorded), then this stage's reply, then (final) the parent's edit; returns
    what was posted and where (the channel, and why there when it was not the first choice)."""
    link = links_for(runtime.settings, runtime.settings.public_url).report(investigation_id)
    done: dict[str, PostedMessage | None] = {}
    alert = runtime.redactor.redact_model(alert)
    parent = recorded.get(PARENT)
    where = str(parent["channel"]) if parent else ""
    if parent is None:
        posted, where = _post_parent(poster, investigation_id, alert, service, link, choices,
                                     created)
        _record(runtime, investigation_id, PARENT, posted)
        done[PARENT] = posted
        parent = {"channel": posted.channel, "ts": posted.ts}
    parent_channel, parent_ts = str(parent["channel"]), str(parent["ts"])
    with runtime.store.read() as conn:
        report = _report(conn, runtime, investigation_id, kind)
        history = repo.list_steps(conn, investigation_id) if kind == NoteKind.FINAL else []
    body, _ = first_note(report, link) if kind == NoteKind.FIRST else final_note(report, history, link)
    body = runtime.redactor.redact_text(body)
    if kind.value not in recorded:
        image = (blocks.chart_block(report, links_for(runtime.settings, runtime.settings.public_url)
                                    .chart_png(investigation_id))
                 if kind == NoteKind.FINAL else None)
        reply = _post_reply(poster, parent_channel, parent_ts, marker(investigation_id, kind.value),
                            body, link, investigation_id, image)
        _record(runtime, investigation_id, kind.value, reply)
        done[kind.value] = reply
    if kind == NoteKind.FINAL:
        verdict = runtime.redactor.redact_text(blocks.verdict_line(report))
        poster.update(parent_channel, parent_ts, f"Triage: {alert.title} — {verdict}",
                      blocks.parent_blocks(alert, service, link, verdict, investigation_id))
    return done, where


def _post_reply(poster: SlackPoster, channel: str, thread_ts: str, tag: str, body: str, link: str,
                investigation_id: str, image: blocks.Block | None) -> PostedMessage:
    """The reply, with the headline chart when there is one. Slack downloads the chart while
    posting and refuses the whole message when it cannot (`invalid_blocks`: the report's URL is
    not reachable from Slack, or Slack's fetch failed): the reply then goes without it."""
    title = body.split("\n", 1)[0]
    if image is not None:
        try:
            return poster.post_once(channel, tag, title,
                                    blocks.reply_blocks(body, link, investigation_id, image=image),
                                    thread_ts=thread_ts)
        except SlackError as exc:
            if exc.code != "invalid_blocks":
                raise
            log.warning("Slack refused the chart of %s (%s); posting the reply without it",
                        investigation_id, exc.message)
    return poster.post_once(channel, tag, title, blocks.reply_blocks(body, link, investigation_id),
                            thread_ts=thread_ts)


def _post_parent(poster: SlackPoster, investigation_id: str, alert: Alert, service: str | None,
                 link: str, choices: list[slack_channel.Candidate],
                 created: datetime) -> tuple[PostedMessage, str]:
    """The parent in the first channel that takes it: a channel the bot cannot use (not invited
    to the incident's channel, archived) passes to the next. Deterministic, so a retry after a
    crash tries the same channels in the same order and finds the parent where it went."""
    skipped: list[str] = []
    for number, choice in enumerate(choices, 1):
        try:
            # The parent cannot predate its investigation: search back to then (less a minute
            # for clock skew), not the channel's whole history.
            posted = poster.post_once(
                choice.channel, marker(investigation_id, PARENT),
                f"Triage: {alert.title} ({service})",
                blocks.parent_blocks(alert, service, link, None, investigation_id),
                oldest=created.timestamp() - 60)
        except SlackError as exc:
            if exc.code not in slack_channel.FALLBACK_CODES or number == len(choices):
                raise
            skipped.append(f"{choice.channel} ({choice.origin}): {exc.code}")
            continue
        where = f"{posted.channel} ({choice.origin})"
        return posted, where + (f"; not {', '.join(skipped)}" if skipped else "")
    raise SlackError("no Slack channel to post in")


def _record(runtime: Runtime, investigation_id: str, kind: str, posted: PostedMessage) -> None:
    failpoint(f"slack_posted:{kind}")  # posted, not yet recorded: the crash exactly once survives
    with runtime.store.transaction() as conn:
        conn.execute(slack_messages.insert().values(
            investigation_id=investigation_id, kind=kind, channel=posted.channel, ts=posted.ts,
            posted_at=utcnow(), recovered=posted.recovered))


def recorded_messages(conn: Connection, investigation_id: str) -> dict[str, dict[str, object]]:
    """The investigation's recorded Slack messages, by kind (parent, first, final)."""
    rows = conn.execute(sa.select(slack_messages).where(
        slack_messages.c.investigation_id == investigation_id)).all()
    return {row.kind: dict(row._mapping) for row in rows}
