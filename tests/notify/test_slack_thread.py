"""The investigation's Slack thread, posted by the note stages through the real `slack_sdk`
WebClient to a loopback Slack: parent, first findings, final verdict, parent edited; exactly once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import make_settings, pd_headers, sample, staged_demo
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import TOKEN, FakeSlack
from tests.notify.fixtures import DEMO_INCIDENT, READ_KEY, notes_settings, stage_steps
from tests.notify.slack_fixtures import (
    CHANNEL,
    DEFAULT,
    slack_env,
    slack_settings,
    with_channel,
)
from tests.waiting import wait_for
from tests.workers import start_worker, state_of
from triage.agent.tools import StepLog
from triage.app import create_app
from triage.config import TriageConfig
from triage.failpoints import EXIT_CODE
from triage.models import Source
from triage.notify.content import NoteKind
from triage.notify.slack import post_slack
from triage.notify.slack_blocks import (
    MAX_BLOCKS,
    REPLY_BUDGET,
    SECTION_LIMIT,
    reply_blocks,
    sections,
)
from triage.replay import replay
from triage.runtime import Runtime
from triage.store import slack_messages, steps


def _recorded(runtime: Runtime, investigation_id: str) -> dict[str, tuple[str, bool]]:
    with runtime.store.read() as conn:
        rows = conn.execute(sa.select(slack_messages).where(
            slack_messages.c.investigation_id == investigation_id)).all()
    return {row.kind: (row.ts, row.recovered) for row in rows}


def _texts(blocks: list[dict[str, object]]) -> str:
    return "\n".join(json.dumps(b) for b in blocks)


def _markers(slack: FakeSlack) -> list[str]:
    return [m.metadata["event_payload"]["marker"] for m in slack.channels[CHANNEL]
            if m.metadata]


def test_the_thread_has_a_parent_first_findings_and_the_verdict_and_the_parent_shows_it(
        tmp_path: Path, slack: FakeSlack, pd: FakePagerDuty, pd_ca: Path) -> None:
    workdir, config = staged_demo(tmp_path)
    config = with_channel(config, "checkout")
    # PagerDuty refuses the notes (a read-only key): Slack is posted all the same.
    settings = notes_settings(tmp_path, pd, pd_ca, pagerduty_api_key=SecretStr(READ_KEY),
                              slack_bot_token=SecretStr(TOKEN), slack_base_url=slack.url)
    outcome = replay(settings, config, Source.PAGERDUTY, (workdir / "alert.json").read_bytes())
    inv = outcome.investigation_id

    parents = slack.top_level(CHANNEL)
    assert len(parents) == 1 and slack.channels[DEFAULT] == []  # the service's own channel
    parent = parents[0]
    thread = slack.thread(CHANNEL, parent.ts)
    assert [m.ts for m in thread] == [parent.ts, thread[1].ts, thread[2].ts]
    first, final = thread[1], thread[2]
    assert _markers(slack) == [f"triage:{inv}:parent", f"triage:{inv}:first",
                               f"triage:{inv}:final"]
    assert parent.blocks[0]["type"] == "header" and "checkout" in _texts(parent.blocks)
    assert "Strongest signals so far:" in _texts(first.blocks)
    assert "Hypotheses:" in _texts(final.blocks) and "[bad-deploy]" in _texts(final.blocks)
    # The headline chart, as the report's own signed PNG, above the button.
    [image] = [b for b in final.blocks if b["type"] == "image"]
    assert image["image_url"] == f"http://triage.test/reports/{inv}/chart.png"
    assert image["alt_text"] and final.blocks[-1]["type"] == "actions"
    # The parent was edited once, to the verdict and the feedback buttons.
    assert parent.edited == 1 and len(slack.calls("chat.update")) == 1
    assert "Verdict: [bad-deploy]" in _texts(parent.blocks)
    buttons = [e for b in parent.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [
        "Right cause", "Wrong cause…", "Investigate again", "Open report"]
    assert buttons[-1]["url"] == f"http://triage.test/reports/{inv}"
    assert {b["value"] for b in buttons} == {inv}
    assert len(slack.calls("chat.postMessage")) == 3

    runtime = Runtime.from_settings(settings, config)
    found = stage_steps(runtime, inv, "slack_message")
    assert found.keys() == {"first_note", "final_note"}
    assert all(status == "ok" for status, _ in found.values())
    assert _recorded(runtime, inv) == {"parent": (parent.ts, False), "first": (first.ts, False),
                                       "final": (final.ts, False)}
    with runtime.store.read() as conn:
        pd_steps = conn.execute(sa.select(steps.c.status).where(
            steps.c.investigation_id == inv, steps.c.name == "pagerduty_note")).scalars().all()
    runtime.close()
    assert pd_steps == ["error", "error"]
    assert outcome.report.state == "completed"
    assert DEMO_INCIDENT not in pd.notes or pd.notes[DEMO_INCIDENT] == []


def test_without_a_channel_or_a_token_slack_is_skipped_saying_why(
        tmp_path: Path, slack: FakeSlack) -> None:
    body = json.dumps(sample("alertmanager/firing.json")).encode()
    outcome = replay(slack_settings(tmp_path, slack), TriageConfig(), Source.ALERTMANAGER, body)
    runtime = Runtime.from_settings(make_settings(tmp_path), TriageConfig())
    status, summary = stage_steps(runtime, outcome.investigation_id, "slack_message")["first_note"]
    runtime.close()
    assert status == "skipped"
    assert summary.startswith("no first Slack message: no Slack channel for service")
    outcome = replay(make_settings(tmp_path / "b"), with_channel(TriageConfig(), "x"),
                     Source.ALERTMANAGER, body)
    runtime = Runtime.from_settings(make_settings(tmp_path / "b"), TriageConfig())
    assert stage_steps(runtime, outcome.investigation_id, "slack_message")["final_note"] == (
        "skipped", "no final Slack message: TRIAGE_SLACK_BOT_TOKEN is not set")
    runtime.close()
    assert slack.server.seen == []


def test_a_rate_limit_is_waited_out_and_the_message_posted_once(
        tmp_path: Path, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", retry_after=0)
    body = json.dumps(sample("alertmanager/firing.json")).encode()
    replay(slack_settings(tmp_path, slack), with_channel(TriageConfig(), "x"),
           Source.ALERTMANAGER, body)
    markers = [m.metadata["event_payload"]["marker"] for m in slack.channels[DEFAULT]
               if m.metadata]
    parents = slack.top_level(DEFAULT)  # unmapped alerts: the default channel
    assert parents and len(markers) == len(set(markers)) == 3 * len(parents)
    assert all(len(slack.thread(DEFAULT, p.ts)) == 3 for p in parents)
    # the 429 was answered by a wait and one more try; nothing was posted twice
    assert len(slack.calls("chat.postMessage")) == len(markers) + 1


def test_a_refused_message_is_an_error_step_not_a_failed_investigation(
        tmp_path: Path, slack: FakeSlack) -> None:
    slack.outside.add(DEFAULT)  # the bot was never invited
    body = json.dumps(sample("alertmanager/firing.json")).encode()
    settings = slack_settings(tmp_path, slack)
    outcome = replay(settings, with_channel(TriageConfig(), "x"), Source.ALERTMANAGER, body)
    assert outcome.report.state == "completed"
    runtime = Runtime.from_settings(settings, TriageConfig())
    status, summary = stage_steps(runtime, outcome.investigation_id, "slack_message")["final_note"]
    runtime.close()
    assert status == "error"
    assert summary == ("the final Slack message was not posted: Slack answered 200 not_in_channel "
                       "to chat.postMessage — invite the app to the channel (/invite @triage)")
    assert TOKEN not in summary


def test_a_message_posted_but_not_recorded_is_found_by_its_marker_not_posted_again(
        tmp_path: Path, slack: FakeSlack) -> None:
    """In process: the first run posts and records; its records are then lost (as a crash
    between post and record would leave them); the re-run finds every message by its marker."""
    body = json.dumps(sample("alertmanager/firing.json")).encode()
    settings = slack_settings(tmp_path, slack)
    config = with_channel(TriageConfig(), "x")
    slack.page_size = 1  # the lookup must follow history and replies across pages
    outcome = replay(settings, config, Source.ALERTMANAGER, body)
    runtime = Runtime.from_settings(settings, config)
    inv = outcome.investigation_id
    before = [(m.ts, m.text) for m in slack.channels[DEFAULT]]
    with runtime.store.transaction() as conn:
        conn.execute(slack_messages.delete())
    first, final = StepLog(inv, "first_note"), StepLog(inv, "final_note")
    post_slack(runtime, inv, NoteKind.FIRST, first)
    post_slack(runtime, inv, NoteKind.FINAL, final)
    assert [s.status for s in [*first.records, *final.records]] == ["ok", "ok"]
    assert "posted by an earlier attempt; not posted again" in first.records[0].summary
    assert [(m.ts, m.text) for m in slack.channels[DEFAULT]] == before
    # the channel is searched back to the investigation's start, not through all its history
    assert all(b"oldest=" in seen.body for seen in slack.calls("conversations.history"))
    assert {kind: recovered for kind, (_, recovered) in _recorded(runtime, inv).items()} == {
        "parent": True, "first": True, "final": True}
    runtime.close()


def test_long_content_is_cut_to_block_kit_limits() -> None:
    text = "\n".join(f"- line {n} " + "x" * 400 for n in range(400)) + "\n" + "y" * 9000
    blocks = sections(text, budget=10**6)
    assert len(blocks) == MAX_BLOCKS
    reply = reply_blocks(text, "http://triage.test/r", "inv_1")
    assert len(reply) <= MAX_BLOCKS and reply[-1]["type"] == "actions"
    assert sum(len(b["text"]["text"]) for b in sections(text)) <= REPLY_BUDGET
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks)
    assert blocks[-1]["text"]["text"].endswith("full report is behind “Open report”)")
    assert sections("a <b> & c") == [{"type": "section",
                                      "text": {"type": "mrkdwn", "text": "a &lt;b&gt; &amp; c"}}]


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", ["parent", "final"])
def test_the_thread_appears_once_when_the_worker_dies_between_posting_and_recording(
        tmp_path: Path, slack: FakeSlack, killed_after: str) -> None:
    workdir, config = staged_demo(tmp_path)
    config = with_channel(config, "checkout", workdir)
    settings = make_settings(tmp_path)
    runtime = Runtime.from_settings(settings, config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime)) as api:  # API only: the investigation waits in the queue
        answer = api.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    inv = answer["results"][0]["investigation_id"]

    env = {**os.environ, **slack_env(slack), "TRIAGE_DATA_DIR": str(settings.data_dir),
           "TRIAGE_CONFIG": str(workdir / "triage.yaml"),
           "TRIAGE_FAILPOINTS": f"slack_posted:{killed_after}"}
    doomed = start_worker(env, workdir)
    assert doomed.wait(timeout=60) == EXIT_CODE, doomed.stdout.read() if doomed.stdout else ""
    assert _markers(slack)[-1] == f"triage:{inv}:{killed_after}"  # posted ...
    assert killed_after not in _recorded(runtime, inv)  # ... but not recorded

    env.pop("TRIAGE_FAILPOINTS")
    survivor = start_worker(env, workdir)
    try:
        wait_for(lambda: state_of(runtime, inv) == "completed")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    assert _markers(slack) == [f"triage:{inv}:{kind}" for kind in ("parent", "first", "final")]
    assert len(slack.calls("chat.postMessage")) == 3  # each exactly once
    assert slack.top_level(CHANNEL)[0].edited >= 1
    recorded = _recorded(runtime, inv)
    assert recorded[killed_after][1] is True  # found in the channel, not posted again
    assert [recorded[k][0] for k in ("parent", "first", "final")] == [
        m.ts for m in slack.channels[CHANNEL]]
    runtime.close()


def test_a_chart_slack_cannot_download_leaves_the_reply_without_it(
        tmp_path: Path, slack: FakeSlack) -> None:
    slack.images_reachable = False  # the report's URL is private: Slack refuses the message
    workdir, config = staged_demo(tmp_path)
    outcome = replay(slack_settings(tmp_path, slack), with_channel(config, "checkout"),
                     Source.PAGERDUTY, (workdir / "alert.json").read_bytes())
    [parent] = slack.top_level(CHANNEL)
    _, _first, final = slack.thread(CHANNEL, parent.ts)
    assert [b["type"] for b in final.blocks if b["type"] == "image"] == []
    assert "[bad-deploy]" in _texts(final.blocks)
    refused = [c for c in slack.calls("chat.postMessage") if any(
        b.get("type") == "image" for b in c.json().get("blocks") or [])]
    assert len(refused) == 1  # tried once with the chart, then posted without it
    runtime = Runtime.from_settings(slack_settings(tmp_path, slack), config)
    assert stage_steps(runtime, outcome.investigation_id, "slack_message")["final_note"][0] == "ok"
    runtime.close()
