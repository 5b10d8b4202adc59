"""Note settings: PagerDuty's (`TRIAGE_PAGERDUTY_*`: the write key, who notes are posted as, where
the REST API lives) and Slack's (`TRIAGE_SLACK_*`: the bot token, the signing secret, the API).

`triage.config.Settings` inherits these fields, so they come from the environment (or secret
files) like every other setting.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator


class NotifySettings(BaseModel):
    """Where first-response and final notes go."""

    pagerduty_api_key: SecretStr | None = Field(
        default=None, description="REST API key allowed to add incident notes; without it: no notes")
    pagerduty_from: str | None = Field(
        default=None, description="e-mail of the PagerDuty user notes are posted as (From header)")
    pagerduty_base_url: str = Field(default="https://api.pagerduty.com",
                                    description="EU service region: https://api.eu.pagerduty.com")
    pagerduty_ca_bundle: Path | None = Field(default=None,
                                             description="PEM CA bundle (TLS-inspecting proxy)")

    slack_bot_token: SecretStr | None = Field(
        default=None, description="the Slack app's bot token (xoxb-…); without it: no Slack thread")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="the Slack app's signing secret; without it /slack/* answers 401")
    slack_base_url: str = Field(default="https://slack.com/api/",
                                description="Slack Web API root (tests: a loopback fake)")

    @field_validator("slack_base_url")
    @classmethod
    def _slack_https(cls, value: str) -> str:
        """https://, or http:// to the loopback interface only (a local fake)."""
        parts = urlsplit(value)
        if parts.scheme != "https" and not (parts.scheme == "http"
                                            and parts.hostname in ("127.0.0.1", "localhost")):
            raise ValueError(f"must be an https:// URL, not {value!r}")
        return value.rstrip("/") + "/"

    @field_validator("pagerduty_base_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        """Refuse anything but https:// (the library refuses it too, later and less clearly)."""
        if not value.startswith("https://"):
            raise ValueError(f"must be an https:// URL, not {value!r}")
        return value.rstrip("/")

    @field_validator("pagerduty_from")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        """An e-mail address, as PagerDuty's From header requires."""
        if value is not None and (value.count("@") != 1 or value.strip() != value or "@" in (
                value[0], value[-1])):
            raise ValueError(f"must be the e-mail address of a PagerDuty user, not {value!r}")
        return value

    def notes_disabled_because(self) -> str | None:
        """Why notes are off, or None when both the key and the sender are set."""
        if self.pagerduty_api_key is None:
            return "TRIAGE_PAGERDUTY_API_KEY is not set"
        if not self.pagerduty_from:
            return ("TRIAGE_PAGERDUTY_FROM is not set (PagerDuty needs the e-mail of the user "
                    "a note is posted as)")
        return None

    def slack_disabled_because(self) -> str | None:
        """Why Slack threads are off, or None when the bot token is set."""
        if self.slack_bot_token is None:
            return "TRIAGE_SLACK_BOT_TOKEN is not set"
        return None
