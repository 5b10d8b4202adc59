"""Where an investigation's Slack thread goes, in order of preference: the PagerDuty incident's own
channel (when the incident links one as its conference bridge and `slack.incident_channels` is on),
then the service's `slack_channel`, then `slack.default_channel`.

An incident channel is where the responders already are, but the bot may not have been invited to
it: the poster then falls back to the next channel (see `FALLBACK_CODES`) and says so in its step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from triage.config import TriageConfig
from triage.models import Alert, Source

# Slack answers these when the bot cannot use a channel; the next candidate is tried.
FALLBACK_CODES = frozenset({"not_in_channel", "channel_not_found", "is_archived",
                            "missing_scope", "restricted_action"})
_CHANNEL = r"([CG][A-Z0-9]{6,})"
# The forms a Slack channel link takes: a workspace archive link, the web client, the app's scheme.
_LINKS = (re.compile(rf"^https://[a-z0-9-]+(?:\.enterprise)?\.slack\.com/archives/{_CHANNEL}(?:[/?#].*)?$"),
          re.compile(rf"^https://app\.slack\.com/client/T[A-Z0-9]+/{_CHANNEL}(?:[/?#].*)?$"),
          re.compile(rf"^slack://channel\?(?:[^#]*&)?id={_CHANNEL}(?:&.*)?$"))


@dataclass(frozen=True)
class Candidate:
    """A channel the thread may go to, and why (said in the step when it is used)."""

    channel: str
    origin: str


def slack_channel_in(url: str) -> str | None:
    """The channel ID a Slack channel link points to, or None for any other URL."""
    for pattern in _LINKS:
        if match := pattern.match(url.strip()):
            return match.group(1)
    return None


def incident_channel(payload: Any) -> str | None:
    """The Slack channel a PagerDuty V3 delivery's incident links as its conference bridge."""
    if not isinstance(payload, dict):
        return None
    event = payload.get("event")
    data = event.get("data") if isinstance(event, dict) else None
    bridge = data.get("conference_bridge") if isinstance(data, dict) else None
    url = bridge.get("conference_url") if isinstance(bridge, dict) else None
    return slack_channel_in(url) if isinstance(url, str) else None


def candidates(config: TriageConfig, alert: Alert, payload: Any,
               service: str | None) -> list[Candidate]:
    """The channels to try, best first, without repeats (empty: no channel anywhere)."""
    found: list[Candidate] = []
    if (config.slack.incident_channels and alert.source == Source.PAGERDUTY
            and (channel := incident_channel(payload))):
        found.append(Candidate(channel, "the PagerDuty incident's channel"))
    configured = config.service_named(service)
    if configured and configured.slack_channel:
        found.append(Candidate(configured.slack_channel, f"service {service}'s channel"))
    if config.slack.default_channel:
        found.append(Candidate(config.slack.default_channel, "slack.default_channel"))
    unique: dict[str, Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.channel, candidate)
    return list(unique.values())
