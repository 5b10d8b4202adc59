"""Slack Web API calls of the triage thread (`slack_sdk.WebClient`): post a message at most once,
edit one, open the feedback modal.

Exactly once: every message carries Slack message metadata naming the investigation and the
message kind (`{"event_type": "triage_message", "event_payload": {"marker": "triage:inv_…:first"}}`).
Before each attempt to post, the channel (for a parent) or the thread (for a reply) is read with
`include_all_metadata` and a message carrying the marker is taken as already posted: by an
attempt whose answer was lost, or by a worker that died before recording it.

Errors::

    SlackError    a call failed; `message` is Slack's `error` code (token scrubbed) and what was asked
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from triage.notify.settings import NotifySettings

EVENT_TYPE = "triage_message"
T = TypeVar("T")
_HINTS = {"not_in_channel": "invite the app to the channel (/invite @triage)",
          "channel_not_found": "the channel ID in triage.yaml is wrong, or the app cannot see it",
          "missing_scope": "the app lacks a scope: see docs/integrations.md for the manifest",
          "invalid_auth": "TRIAGE_SLACK_BOT_TOKEN was rejected",
          "ratelimited": "rate limited; gave up after the retries Retry-After allowed"}


class SlackError(Exception):
    """A Slack call failed; the message says what Slack answered."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # Slack's own error code (`not_in_channel`, ...), "" when none


@dataclass(frozen=True)
class PostedMessage:
    """A message in the channel, and whether an earlier attempt had already posted it."""

    channel: str
    ts: str
    recovered: bool


class SlackPoster:
    """Posts the triage thread's messages as the bot, each at most once."""

    def __init__(self, token: SecretStr, *, base_url: str = "https://slack.com/api/",
                 timeout: int = 10, attempts: int = 3, rate_limit_retries: int = 2) -> None:
        self._secret = token.get_secret_value()
        self.attempts = attempts
        # No connection-error retries in the SDK: a POST whose answer was lost must be looked for
        # (by its marker) before it is sent again. A 429 was not processed; retrying it is safe.
        self.client = WebClient(token=self._secret, base_url=base_url, timeout=timeout,
                                retry_handlers=[RateLimitErrorRetryHandler(
                                    max_retry_count=rate_limit_retries)])

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> SlackPoster:
        """A poster for `TRIAGE_SLACK_*` (the caller checked the token is set)."""
        if settings.slack_bot_token is None:
            raise ValueError(f"Slack is disabled: {settings.slack_disabled_because()}")
        return cls(settings.slack_bot_token, base_url=settings.slack_base_url)

    def post_once(self, channel: str, marker: str, text: str, blocks: list[dict[str, Any]],
                  thread_ts: str | None = None, oldest: float | None = None) -> PostedMessage:
        """Post unless a message carrying `marker` is already in the channel (or the thread);
        a channel is searched back to `oldest` (Unix seconds) only."""

        def attempt() -> PostedMessage:
            found = self.find(channel, marker, thread_ts, oldest)
            if found is not None:
                return PostedMessage(channel, found, recovered=True)
            answer = self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                unfurl_links=False, metadata={"event_type": EVENT_TYPE,
                                              "event_payload": {"marker": marker}})
            return PostedMessage(str(answer["channel"]), str(answer["ts"]), recovered=False)

        return self._call(attempt, "chat.postMessage")

    def find(self, channel: str, marker: str, thread_ts: str | None = None,
             oldest: float | None = None) -> str | None:
        """The ts of the message carrying `marker`, if one is in the channel (or the thread)."""
        for message in self._messages(channel, thread_ts, oldest):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if message.get("metadata", {}).get("event_type") == EVENT_TYPE and payload.get(
                    "marker") == marker:
                return str(message["ts"])
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace a message's text and blocks (editing twice to the same content is harmless)."""
        self._call(lambda: self.client.chat_update(channel=channel, ts=ts, text=text,
                                                   blocks=blocks), "chat.update")

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal for the user whose click gave `trigger_id` (valid for 3 seconds)."""
        self._call(lambda: self.client.views_open(trigger_id=trigger_id, view=view), "views.open",
                   attempts=1)

    def _messages(self, channel: str, thread_ts: str | None,
                  oldest: float | None) -> Iterator[dict[str, Any]]:
        """The channel's recent history, or a thread's replies, page by page."""
        cursor: str | None = None
        for _ in range(20):  # 20 pages of 200: a busy channel's last few thousand messages
            if thread_ts is None:
                page = self.client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=200, cursor=cursor,
                    oldest=f"{oldest:.6f}" if oldest is not None else None)
            else:
                page = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200,
                    cursor=cursor)
            yield from (m for m in page.get("messages") or [] if isinstance(m, dict))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return

    def _call(self, call: Callable[[], T], what: str, attempts: int | None = None) -> T:
        """Run `call`, again (each time from the top) after a lost connection or a 5xx."""
        tries = attempts or self.attempts
        for attempt in range(1, tries + 1):
            try:
                return call()
            except SlackApiError as exc:
                status = exc.response.status_code
                if status < 500 or attempt == tries:
                    raise SlackError(self._describe(what, exc), _code(exc)) from exc
            except (SlackClientError, OSError) as exc:
                if attempt == tries:
                    raise SlackError(self._scrub(
                        f"cannot reach Slack ({what}, {tries} attempts): "
                        f"{type(exc).__name__}: {exc}")) from exc
        raise AssertionError("unreachable")

    def _describe(self, what: str, exc: SlackApiError) -> str:
        """Slack's own error code for a failed call, with a hint, never the token."""
        code = _code(exc)
        hint = _HINTS.get(code, "")
        return self._scrub(f"Slack answered {exc.response.status_code} {code or '(no error code)'} "
                           f"to {what}" + (f" — {hint}" if hint else ""))

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text

    def close(self) -> None:
        """Nothing pooled: WebClient opens a connection per call."""


def _code(exc: SlackApiError) -> str:
    """Slack's error code of a failed call (`error` in its JSON answer)."""
    return str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
