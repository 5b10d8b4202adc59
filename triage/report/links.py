"""Signed, expiring report links: `/reports/{id}?t=<expires>.<signature>`.

The signature is an HMAC-SHA256, under the first of `TRIAGE_REPORT_SIGNING_KEYS`, of the
investigation id and the expiry (Unix seconds); every configured key verifies, so keys rotate by
putting the new one first and dropping the old one once its links have expired. A token opens one
investigation: its page, its Markdown, its JSON and its steps' data.

Without any key, links are plain URLs and every report is open (embedded and demo mode).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from triage.models import utcnow
from triage.report.access_settings import AccessSettings
from triage.report.build import Report

_TOKEN = re.compile(r"^(?P<expires>\d{1,12})\.(?P<mac>[A-Za-z0-9_-]{43})$")
_CONTEXT = b"triage-report-link:v1:"  # domain separation: these keys sign nothing else


class LinkState(StrEnum):
    """What a link's token turned out to be."""

    VALID = "valid"
    UNSIGNED = "unsigned"
    TAMPERED = "tampered"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a token, with what the 403 page tells the reader."""

    state: LinkState
    expires: datetime | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the token opens the report."""
        return self.state == LinkState.VALID


class LinkSigner:
    """Mints and checks report tokens; `enabled` only when at least one key is configured."""

    def __init__(self, keys: Sequence[SecretStr], ttl: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._keys = [key.get_secret_value().encode() for key in keys]
        self.ttl = ttl
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether links are signed (and reports closed to unsigned requests)."""
        return bool(self._keys)

    def token(self, investigation_id: str, expires: datetime | None = None) -> str:
        """A token for one investigation, valid until `expires` (default: now + ttl)."""
        if not self._keys:
            raise RuntimeError("no report signing key is configured")
        when = int((expires or self._clock() + self.ttl).timestamp())
        return f"{when}.{_mac(self._keys[0], investigation_id, when)}"

    def verify(self, investigation_id: str, token: str | None) -> Verdict:
        """Check a token against every key; the signature first, so nothing is learnt from expiry."""
        if not token:
            return Verdict(LinkState.UNSIGNED, detail="the link carries no signature (no ?t=...)")
        match = _TOKEN.match(token)
        if match is None:
            return Verdict(LinkState.TAMPERED, detail="the link's signature is malformed "
                                                      "(cut short or altered)")
        when = int(match["expires"])
        given = match["mac"].encode()
        # compare_digest against every key, without stopping at the first match: constant work.
        matches = [hmac.compare_digest(_mac(key, investigation_id, when).encode(), given)
                   for key in self._keys]
        if not any(matches):
            return Verdict(LinkState.TAMPERED, detail=(
                "the signature does not match this report (the link was altered, or it was "
                "signed with a key that is no longer configured)"))
        expires = datetime.fromtimestamp(when, UTC)
        if self._clock() >= expires:
            return Verdict(LinkState.EXPIRED, expires,
                           f"the link expired at {expires:%Y-%m-%d %H:%M} UTC")
        return Verdict(LinkState.VALID, expires)


def _mac(key: bytes, investigation_id: str, expires: int) -> str:
    """The URL-safe HMAC-SHA256 of one investigation and expiry under one key."""
    message = _CONTEXT + f"{investigation_id}:{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ReportLinks:
    """Where an investigation's report and data live, signed when signing is enabled."""

    def __init__(self, public_url: str, signer: LinkSigner) -> None:
        self.base = public_url.rstrip("/")
        self.signer = signer

    def report(self, investigation_id: str, token: str | None = None) -> str:
        """The HTML report's URL (freshly signed unless a token is given)."""
        return self._signed(f"{self.base}/reports/{quote(investigation_id)}", investigation_id,
                            token)

    def step_data(self, investigation_id: str, step_id: str, token: str | None = None) -> str:
        """One step's full-data JSON URL (opened by the investigation's token)."""
        url = (f"{self.base}/api/investigations/{quote(investigation_id)}/steps/"
               f"{quote(step_id, safe=':')}")
        return self._signed(url, investigation_id, token)

    def chart_png(self, investigation_id: str, token: str | None = None) -> str:
        """The headline chart's PNG URL (opened by the investigation's token, like its data)."""
        return self._signed(f"{self.base}/reports/{quote(investigation_id)}/chart.png",
                            investigation_id, token)

    def token_for(self, investigation_id: str, expires: datetime | None = None) -> str | None:
        """A fresh token, or None when links are unsigned."""
        return self.signer.token(investigation_id, expires) if self.signer.enabled else None

    def _signed(self, url: str, investigation_id: str, token: str | None) -> str:
        """`url` with `token` (or a fresh one) when links are signed."""
        token = token or self.token_for(investigation_id)
        return f"{url}?t={token}" if token else url

    def sign_report(self, report: Report, token: str | None = None,
                    expires: datetime | None = None) -> Report:
        """A copy of `report` whose every URL opens: its own with `token` (or a fresh one), its
        related investigations' with tokens expiring no later than `expires`."""
        investigation_id = report.investigation_id
        token = token or self.token_for(investigation_id)
        # Rebuilt from ids on this process's public URL: a stored report keeps the URLs of the
        # worker that wrote it, which may not know where the API is served.
        steps = [step.model_copy(update={"data_url": self.step_data(investigation_id, step.id,
                                                                      token)})
                 for step in report.steps]
        findings = report.findings
        if findings is not None and findings.related:
            related: list[dict[str, Any]] = [
                {**rel, "report_url": self.report(
                    str(rel["investigation_id"]),
                    self.token_for(str(rel["investigation_id"]), expires))}
                for rel in findings.related]
            findings = findings.model_copy(update={"related": related})
        return report.model_copy(update={
            "report_url": self.report(investigation_id, token), "steps": steps,
            "findings": findings})


def links_for(settings: AccessSettings, public_url: str,
              clock: Callable[[], datetime] = utcnow) -> ReportLinks:
    """The links a process hands out, from its settings."""
    return ReportLinks(public_url,
                       LinkSigner(settings.report_signing_keys, settings.report_link_ttl, clock))
