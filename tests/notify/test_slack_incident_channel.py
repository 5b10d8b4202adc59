"""A PagerDuty incident that links its own Slack channel gets the thread there; a channel the bot
was not invited to passes to the service's channel, and the step says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import staged_demo
from tests.fakes.slack import FakeSlack
from tests.notify.fixtures import stage_steps
from tests.notify.slack_fixtures import CHANNEL, DEFAULT, slack_settings, with_channel
from triage.config import TriageConfig
from triage.models import Alert, Severity, Source, utcnow
from triage.notify.slack_channel import candidates, incident_channel, slack_channel_in
from triage.replay import replay
from triage.runtime import Runtime

INCIDENT_CHANNEL = "C0INCIDENT9"


@pytest.mark.parametrize(("url", "channel"), [
    (f"https://acme.slack.com/archives/{INCIDENT_CHANNEL}", INCIDENT_CHANNEL),
    (f"https://acme.enterprise.slack.com/archives/{INCIDENT_CHANNEL}/p1700000000000100",
     INCIDENT_CHANNEL),
    (f"https://app.slack.com/client/T0ACME123/{INCIDENT_CHANNEL}", INCIDENT_CHANNEL),
    (f"slack://channel?team=T0ACME123&id={INCIDENT_CHANNEL}", INCIDENT_CHANNEL),
    ("https://zoom.us/j/123456789", None),
    (f"https://evil.example/acme.slack.com/archives/{INCIDENT_CHANNEL}", None),
    (f"https://acme.slack.com.evil.example/archives/{INCIDENT_CHANNEL}", None),
    ("https://acme.slack.com/archives/general", None),  # a name, not an ID
])
def test_slack_channel_links_are_read_and_nothing_else_is(url: str, channel: str | None) -> None:
    assert slack_channel_in(url) == channel


def test_candidates_put_the_incident_channel_first_unless_turned_off() -> None:
    config = TriageConfig.model_validate({
        "services": [{"name": "checkout", "slack_channel": CHANNEL}],
        "slack": {"default_channel": DEFAULT}})
    alert = Alert(source=Source.PAGERDUTY, dedup_key="P1", title="t", severity=Severity.ERROR,
                  started_at=utcnow())
    payload = {"event": {"data": {"conference_bridge": {
        "conference_url": f"https://acme.slack.com/archives/{INCIDENT_CHANNEL}"}}}}
    assert incident_channel(payload) == INCIDENT_CHANNEL
    assert [c.channel for c in candidates(config, alert, payload, "checkout")] == [
        INCIDENT_CHANNEL, CHANNEL, DEFAULT]
    off = config.model_copy(update={"slack": config.slack.model_copy(
        update={"incident_channels": False})})
    assert [c.channel for c in candidates(off, alert, payload, "checkout")] == [CHANNEL, DEFAULT]
    # Only PagerDuty's incidents carry the link; any other source's payload is not read for it.
    other = alert.model_copy(update={"source": Source.DATADOG})
    assert [c.channel for c in candidates(config, other, payload, "checkout")] == [CHANNEL, DEFAULT]
    assert incident_channel({"event": {"data": {"conference_bridge": None}}}) is None
    assert incident_channel(["not", "a", "dict"]) is None


def _alert_with_channel(workdir: Path) -> bytes:
    body = json.loads((workdir / "alert.json").read_text())
    body["event"]["data"]["conference_bridge"] = {
        "conference_number": "+1 555 0100",
        "conference_url": f"https://acme.slack.com/archives/{INCIDENT_CHANNEL}"}
    return json.dumps(body).encode()


def test_the_thread_goes_to_the_incident_channel(tmp_path: Path, slack: FakeSlack) -> None:
    slack.reset(CHANNEL, DEFAULT, INCIDENT_CHANNEL)
    workdir, config = staged_demo(tmp_path)
    settings = slack_settings(tmp_path, slack)
    outcome = replay(settings, with_channel(config, "checkout"), Source.PAGERDUTY,
                     _alert_with_channel(workdir))
    [parent] = slack.top_level(INCIDENT_CHANNEL)
    assert len(slack.thread(INCIDENT_CHANNEL, parent.ts)) == 3  # parent, first, final
    assert slack.channels[CHANNEL] == [] and slack.channels[DEFAULT] == []
    runtime = Runtime.from_settings(settings, config)
    summaries = stage_steps(runtime, outcome.investigation_id, "slack_message")
    runtime.close()
    assert summaries["first_note"][1].startswith(
        f"Slack first message in {INCIDENT_CHANNEL} (the PagerDuty incident's channel): parent "
        "posted as")


def test_an_incident_channel_the_bot_is_not_in_passes_to_the_services_channel(
        tmp_path: Path, slack: FakeSlack) -> None:
    slack.reset(CHANNEL, DEFAULT)
    slack.outside.add(INCIDENT_CHANNEL)
    workdir, config = staged_demo(tmp_path)
    settings = slack_settings(tmp_path, slack)
    outcome = replay(settings, with_channel(config, "checkout"), Source.PAGERDUTY,
                     _alert_with_channel(workdir))
    [parent] = slack.top_level(CHANNEL)
    assert len(slack.thread(CHANNEL, parent.ts)) == 3
    runtime = Runtime.from_settings(settings, config)
    found = stage_steps(runtime, outcome.investigation_id, "slack_message")
    runtime.close()
    first, final = found["first_note"][1], found["final_note"][1]
    assert first.startswith(f"Slack first message in {CHANNEL} (service checkout's channel); not "
                            f"{INCIDENT_CHANNEL} (the PagerDuty incident's channel): "
                            "not_in_channel: parent posted as")
    # The final stage finds the recorded parent and does not try the incident channel again.
    assert final.startswith(f"Slack final message in {CHANNEL}: final posted as")
