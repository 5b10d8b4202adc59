"""A loopback Slack (see tests/fakes/slack.py), settings and a config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.conftest import make_settings
from tests.fakes.slack import TOKEN, FakeSlack
from triage.config import Settings, SlackConfig, TriageConfig

CHANNEL = "C0CHECKOUT1"
DEFAULT = "C0DEFAULT01"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    """One fake Slack per module, emptied (with two channels the bot is in) before each test."""
    fake = FakeSlack()
    yield fake
    fake.server.stop()


@pytest.fixture(autouse=True)
def _fresh_slack(request: pytest.FixtureRequest) -> None:
    if "slack" in request.fixturenames:
        fake: FakeSlack = request.getfixturevalue("slack")
        fake.reset(CHANNEL, DEFAULT)


def slack_settings(tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Settings:
    """Settings whose Slack messages go to the fake."""
    values: dict[str, Any] = {"slack_bot_token": SecretStr(TOKEN), "slack_base_url": slack.url,
                              "slack_signing_secret": SecretStr(SIGNING_SECRET)}
    return make_settings(tmp_path, **(values | overrides))


def slack_env(slack: FakeSlack) -> dict[str, str]:
    """The same, as a worker process's environment."""
    return {"TRIAGE_SLACK_BOT_TOKEN": TOKEN, "TRIAGE_SLACK_BASE_URL": slack.url,
            "TRIAGE_SLACK_SIGNING_SECRET": SIGNING_SECRET}


def with_channel(config: TriageConfig, service: str, workdir: Path | None = None) -> TriageConfig:
    """`config` with `service`'s own Slack channel and a default one (in its triage.yaml too)."""
    if workdir is not None:
        path = workdir / "triage.yaml"
        raw = yaml.safe_load(path.read_text())
        for entry in raw.get("services", []):
            if entry["name"] == service:
                entry["slack_channel"] = CHANNEL
        raw["slack"] = {"default_channel": DEFAULT}
        path.write_text(yaml.safe_dump(raw))
    return config.model_copy(update={
        "services": [s.model_copy(update={"slack_channel": CHANNEL}) if s.name == service else s
                     for s in config.services],
        "slack": SlackConfig(default_channel=DEFAULT)})
