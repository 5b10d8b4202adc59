"""What every webhook route shares: bounded body reading, authentication, and the ack path:
redact, pre-assign ids, hand the delivery to the group commit (`triage.intake.commit`) and answer
once it is durable. Investigations follow in the background (`triage.intake.promote`). Parsing
and validation live in `triage.intake.parsing`."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, SecretStr
from starlette.requests import ClientDisconnect

from triage import repository as repo
from triage.analysis.redaction import Redactor
from triage.intake.commit import Arrival, Decision
from triage.intake.parsing import IntakeError, parse_json, validate
from triage.intake.promote import promote_now
from triage.models import Alert, utcnow
from triage.report.links import links_for
from triage.runtime import Runtime

__all__ = ["IntakeError", "parse_json", "validate"]  # re-exported: routes import them from here

ResultT = TypeVar("ResultT")
log = logging.getLogger(__name__)
# Domain separation for identifiers stored as a hash (see `key_at_rest`).
_KEY_HASH = b"triage/intake/key-at-rest/v1"
_INLINE_BODY = 64 * 1024  # bodies up to this size are redacted on the event loop (~0.1 ms)


class IntakeResult(BaseModel):
    """What happened to one alert of a delivery."""

    status: Literal["accepted", "duplicate", "ignored", "resolved", "feedback"]
    reason: str
    investigation_id: str | None = None
    report_url: str | None = None


class IntakeResponse(BaseModel):
    """The 202 body: one result per alert in the delivery."""

    results: list[IntakeResult]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length", "")
    # isascii: str.isdigit() also accepts digits int() refuses ("²"); the length bounds int().
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise IntakeError(413, f"body of {declared[:20]} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise IntakeError(413, f"body exceeds the {limit}-byte limit")
    except ClientDisconnect:
        # Nobody is left to answer; one line instead of a traceback.
        log.warning("%s: the client hung up after %d bytes of the body", request.url.path,
                    len(body))
        raise IntakeError(400, f"the client hung up after {len(body)} bytes of the body") from None
    return bytes(body)


def check_bearer(header: str | None, expected: SecretStr, scheme: str = "Bearer") -> None:
    """Constant-time check of an `Authorization: <scheme> <credential>` header."""
    if not header:
        raise IntakeError(401, "missing Authorization header")
    given_scheme, _, credential = header.partition(" ")
    if given_scheme.lower() != scheme.lower() or not credential:
        raise IntakeError(401, f"Authorization header must use the {scheme} scheme")
    if not hmac.compare_digest(credential.strip().encode(), expected.get_secret_value().encode()):
        raise IntakeError(401, "credentials do not match")


async def persist(write: Callable[..., ResultT], runtime: Runtime, *args: Any,
                  **kwargs: Any) -> ResultT:
    """Run `write(runtime, ...)` on the store's writer threads, off the event loop."""
    call = functools.partial(write, runtime, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(runtime.store.writers, call)


def key_at_rest(redactor: Redactor, key: str) -> str:
    """An identifier as stored and compared: itself, or (when the redactor finds a secret in it)
    a hash of it, so that dedupe still matches while the secret is not kept."""
    if redactor.redact_text(key) == key:
        return key
    return "sha256:" + hmac.new(_KEY_HASH, key.encode(), hashlib.sha256).hexdigest()


def alert_at_rest(runtime: Runtime, alert: Alert, redactor: Redactor | None = None) -> Alert:
    """The alert as stored: mapped to its service (on the raw labels), title, labels and links
    redacted, identifiers kept as `key_at_rest` makes them."""
    service = runtime.config.service_for(alert)
    redactor = redactor or runtime.redactor
    redacted = redactor.redact_model(alert.model_copy(update={"dedup_key": "-",
                                                              "external_id": None}))
    return redacted.model_copy(update={
        "service": service.name if service else None,
        "dedup_key": key_at_rest(redactor, alert.dedup_key),
        "external_id": key_at_rest(redactor, alert.external_id) if alert.external_id else None})


def arrival(runtime: Runtime, source: str, delivery_keys: list[str], alerts: list[Alert],
            payload: dict[str, Any]) -> Arrival:
    """A delivery as it will be stored: redacted (no secret rests in the store), its alerts'
    and investigations' ids assigned now, so that the 202 can name them."""
    redactor = runtime.intake.redactor
    return Arrival(
        source=source,
        delivery_keys=tuple(key_at_rest(redactor, key) for key in delivery_keys),
        alerts=tuple((alert_at_rest(runtime, alert, redactor), repo.new_id("alt"),
                      repo.new_id("inv")) for alert in alerts),
        payload=redactor.redact_value(payload),
        received_at=utcnow())


async def accept(runtime: Runtime, source: str, delivery_keys: list[str], alerts: list[Alert],
                 payload: dict[str, Any], body_size: int = 0) -> list[IntakeResult]:
    """Make a delivery durable (group commit) and answer for each alert; its investigations
    are created and enqueued in the background (`triage.intake.promote`)."""
    if body_size > _INLINE_BODY:  # redacting a large body would stall every other request
        prepared = await asyncio.get_running_loop().run_in_executor(
            None, arrival, runtime, source, delivery_keys, alerts, payload)
    else:
        prepared = arrival(runtime, source, delivery_keys, alerts, payload)
    decisions = await asyncio.wrap_future(runtime.intake.committer.submit(prepared))
    return answer(runtime, prepared, decisions)


def accept_alerts(runtime: Runtime, source: str, delivery_keys: list[str],
                  alerts: list[Alert], payload: dict[str, Any]) -> list[IntakeResult]:
    """`accept` for callers on a thread of their own (Slack's actions), returning once the
    investigations it started exist (those callers read them back at once)."""
    prepared = arrival(runtime, source, delivery_keys, alerts, payload)
    decisions = runtime.intake.committer.submit(prepared).result()
    promote_now(runtime, [d.investigation_id for d in decisions
                          if d.status == "accepted" and d.investigation_id])
    return answer(runtime, prepared, decisions)


def answer(runtime: Runtime, prepared: Arrival, decisions: list[Decision]) -> list[IntakeResult]:
    """The 202's results: every investigation named with its report link, a repeat's too."""
    links = links_for(runtime.settings, runtime.settings.public_url)  # signed when keys are set

    def link(investigation_id: str | None) -> str | None:
        return links.report(investigation_id) if investigation_id else None

    results = []
    for i, decision in enumerate(decisions):
        inv = decision.investigation_id
        if decision.status == "duplicate-delivery":  # one decision for the whole delivery
            at = decision.earlier_at.isoformat() if decision.earlier_at else "?"
            reason = f"delivery {decision.earlier_key} was already received at {at}"
        else:
            alert = prepared.alerts[i][0]
            reason = (f"alert {alert.dedup_key} is already being triaged"
                      if decision.status == "duplicate-alert" else
                      f"investigating {alert.title!r} for service {alert.service or '(unmapped)'}")
        status: Literal["accepted", "duplicate"] = (
            "accepted" if decision.status == "accepted" else "duplicate")
        results.append(IntakeResult(status=status, reason=reason, investigation_id=inv,
                                    report_url=link(inv)))
    return results


def resolve_alert(runtime: Runtime, source: str, delivery_keys: list[str], *,
                  dedup_key: str | None = None, external_id: str | None = None) -> IntakeResult:
    """Mark the matching alert resolved (its investigation keeps running to its report)."""
    redactor = runtime.redactor
    delivery_keys = [key_at_rest(redactor, key) for key in delivery_keys]
    dedup_key = key_at_rest(redactor, dedup_key) if dedup_key else None
    external_id = key_at_rest(redactor, external_id) if external_id else None
    with runtime.store.transaction() as conn:
        if repo.seen_delivery(conn, source, delivery_keys):
            return IntakeResult(status="duplicate", reason="delivery already received")
        ids = repo.resolve_alerts(conn, source, dedup_key=dedup_key, external_id=external_id)
        repo.record_delivery(conn, source, delivery_keys, ids[0] if ids else None, "resolved")
    key = dedup_key or external_id
    if not ids:
        return IntakeResult(status="ignored", reason=f"no firing alert {key} is known")
    return IntakeResult(status="resolved", reason=f"alert {key} marked resolved")


def ignored(delivery_reason: str) -> IntakeResponse:
    """A 202 body for a delivery we deliberately do nothing with."""
    return IntakeResponse(results=[IntakeResult(status="ignored", reason=delivery_reason)])
