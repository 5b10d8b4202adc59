"""PagerDuty incident notes (REST API v2, `pagerduty` library): list an incident's notes, add one.

Exactly once: every note ends with a marker line naming the investigation and the note kind
(`[triage:inv_…:first]`). Before each attempt to post, the incident's notes are listed and a note
carrying the marker is taken as already posted (by an attempt whose answer was lost, or by a
worker that died before recording it). The client can only send GET and POST, and only to
`/incidents/{id}/notes`: it cannot acknowledge, resolve or reassign anything.

Errors::

    NoteError            the note could not be posted or listed; `message` is PagerDuty's answer
                         (key scrubbed) with what was being asked
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Any

import pagerduty
from pydantic import SecretStr

from connectors.pagerduty.connector import is_transient, pagerduty_error_text, retry_after_of
from connectors.retry import call_with_retries
from triage.notify.settings import NotifySettings

_INCIDENT_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")  # nothing that could change the URL path


class NoteError(Exception):
    """A note could not be posted; the message says what PagerDuty answered."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PostedNote:
    """The note on the incident, and whether an earlier attempt had already posted it."""

    note_id: str
    recovered: bool


class _NotesOnlyClient(pagerduty.RestApiV2Client):
    """The library's REST client, allowed to read and add incident notes and nothing else."""

    @property
    def permitted_methods(self) -> tuple[str, ...]:
        """GET and POST only: a PUT or DELETE raises `pagerduty.Error` before anything is sent."""
        return ("GET", "POST")


class NotesClient:
    """Posts notes to PagerDuty incidents as the configured user, each at most once."""

    def __init__(self, api_key: SecretStr, sender: str, *,
                 base_url: str = "https://api.pagerduty.com", verify: ssl.SSLContext | bool = True,
                 timeout: float = 10.0, attempts: int = 4) -> None:
        self._secret = api_key.get_secret_value()
        self.base_url = base_url
        self.attempts = attempts
        self._client = _NotesOnlyClient(self._secret, default_from=sender, base_url=base_url,
                                        verify=verify)
        self._client.timeout = timeout  # type: ignore[assignment]  # typed int, used as httpx timeout
        # Retries are ours, each preceded by a fresh look for the marker: the library's own would
        # re-send a POST whose first answer was lost, and post the note twice.
        self._client.retry = {429: 1}
        self._client.max_http_attempts = -1
        self._client.max_network_attempts = 0

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> NotesClient:
        """A client for `TRIAGE_PAGERDUTY_*` (the caller checked notes are enabled)."""
        if settings.pagerduty_api_key is None or not settings.pagerduty_from:
            raise ValueError(f"PagerDuty notes are disabled: {settings.notes_disabled_because()}")
        verify: ssl.SSLContext | bool = True
        if settings.pagerduty_ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(settings.pagerduty_ca_bundle))
        return cls(settings.pagerduty_api_key, settings.pagerduty_from,
                   base_url=settings.pagerduty_base_url, verify=verify)

    def list_notes(self, incident_id: str) -> list[dict[str, Any]]:
        """Every note on the incident (`GET /incidents/{id}/notes`, not paginated)."""
        path = _notes_path(incident_id)
        try:
            notes = call_with_retries(lambda: self._client.rget(path), is_transient=is_transient,
                                      retry_after=retry_after_of, attempts=self.attempts)
        except pagerduty.Error as exc:
            raise NoteError(self._describe(exc, f"GET {path}")) from exc
        return [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []

    def post_once(self, incident_id: str, content: str, marker: str) -> PostedNote:
        """Post `content` unless a note carrying `marker` is already on the incident."""
        path = _notes_path(incident_id)
        if marker not in content:
            raise ValueError("the note must carry its marker, or a retry could post it twice")

        def attempt() -> PostedNote:
            for note in self._client.rget(path):
                if isinstance(note, dict) and marker in str(note.get("content", "")):
                    return PostedNote(str(note.get("id", "")), recovered=True)
            created = self._client.rpost(path, json={"content": content})
            return PostedNote(str(created.get("id", "")) if isinstance(created, dict) else "",
                              recovered=False)

        try:
            return call_with_retries(attempt, is_transient=is_transient,
                                     retry_after=retry_after_of, attempts=self.attempts)
        except pagerduty.Error as exc:
            raise NoteError(self._describe(exc, f"POST {path}")) from exc

    def _describe(self, exc: pagerduty.Error, what: str) -> str:
        """PagerDuty's own words for a failed call, never the key."""
        response = exc.response
        if response is None:
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
            text = (f"cannot reach PagerDuty at {self.base_url} ({what}, {self.attempts} "
                    f"attempts): {reason}")
        else:
            hint = {400: "check TRIAGE_PAGERDUTY_FROM: it must be a PagerDuty user's e-mail",
                    401: "the API key was rejected (invalid, revoked, or another service region)",
                    403: "the key may not add notes (a read-only key, or a restricted user)",
                    404: "no such incident, or the key cannot see it",
                    429: f"rate limited; gave up after {self.attempts} attempts"}.get(
                        response.status_code, "")
            text = (f"PagerDuty answered {response.status_code} to {what}: "
                    f"{pagerduty_error_text(response)}" + (f" — {hint}" if hint else ""))
        return text.replace(self._secret, "[redacted]") if self._secret else text

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _notes_path(incident_id: str) -> str:
    """The notes collection of one incident; refuse an id that could change the path."""
    if not _INCIDENT_ID.match(incident_id):
        raise NoteError(f"{incident_id!r} is not a PagerDuty incident id (letters and digits)")
    return f"/incidents/{incident_id}/notes"


