"""What every webhook route shares: bounded body reading, authentication, and the one
transaction that persists an alert (redacted) and enqueues its investigation. Parsing and
validation live in `triage.intake.parsing`."""

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
from sqlalchemy.exc import IntegrityError
from starlette.requests import ClientDisconnect

from triage import repository as repo
from triage.analysis.redaction import Redactor
from triage.intake.parsing import IntakeError, parse_json, validate
from triage.models import Alert
from triage.report.links import links_for
from triage.runtime import Runtime, enqueue_options

__all__ = ["IntakeError", "parse_json", "validate"]  # re-exported: routes import them from here

ResultT = TypeVar("ResultT")
log = logging.getLogger(__name__)
# Domain separation for identifiers stored as a hash (see `key_at_rest`).
_KEY_HASH = b"triage/intake/key-at-rest/v1"


class IntakeResult(BaseModel):
    """What happened to one alert of a delivery."""

    status: Literal["accepted", "duplicate", "ignored", "resolved"]
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


def alert_at_rest(runtime: Runtime, alert: Alert) -> Alert:
    """The alert as stored: mapped to its service (on the raw labels), title, labels and links
    redacted, identifiers kept as `key_at_rest` makes them."""
    service = runtime.config.service_for(alert)
    redactor = runtime.redactor
    redacted = redactor.redact_model(alert.model_copy(update={"dedup_key": "-",
                                                              "external_id": None}))
    return redacted.model_copy(update={
        "service": service.name if service else None,
        "dedup_key": key_at_rest(redactor, alert.dedup_key),
        "external_id": key_at_rest(redactor, alert.external_id) if alert.external_id else None})


def accept_alerts(runtime: Runtime, source: str, delivery_keys: list[str],
                  alerts: list[Alert], payload: dict[str, Any]) -> list[IntakeResult]:
    """Persist a delivery's new alerts and enqueue their investigations, all in one transaction.

    What is stored is redacted (`alert_at_rest`, the payload too): no secret rests in the store.
    A delivery seen before (by any of its keys) changes nothing. A concurrent twin that wins
    the race makes our commit fail on the unique keys; we then answer `duplicate` too.
    """
    stored = [alert_at_rest(runtime, alert) for alert in alerts]
    keys = [key_at_rest(runtime.redactor, key) for key in delivery_keys]
    redacted_payload = runtime.redactor.redact_value(payload)
    for attempt in range(2):
        try:
            return _accept_once(runtime, source, keys, stored, redacted_payload)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _accept_once(runtime: Runtime, source: str, delivery_keys: list[str],
                 alerts: list[Alert], payload: dict[str, Any]) -> list[IntakeResult]:
    links = links_for(runtime.settings, runtime.settings.public_url)  # signed when keys are set
    with runtime.store.transaction() as conn:
        if earlier := repo.seen_delivery(conn, source, delivery_keys):
            return [IntakeResult(status="duplicate", reason=(
                f"delivery {earlier['delivery_key']} was already received at "
                f"{earlier['received_at'].isoformat()}"))]
        results = []
        for alert in alerts:
            existing = repo.find_alert(conn, source, alert.dedup_key)
            if existing:
                inv = repo.investigation_for_alert(conn, existing["id"])
                results.append(IntakeResult(
                    status="duplicate", reason=f"alert {alert.dedup_key} is already being triaged",
                    investigation_id=inv, report_url=links.report(inv) if inv else None))
                continue
            alert_id = repo.insert_alert(conn, alert, payload)
            inv = repo.create_investigation(conn, alert_id, alert.service, runtime.config.brain)
            runtime.client.enqueue_in_transaction(conn, enqueue_options(inv, alert.service), inv)
            results.append(IntakeResult(
                status="accepted",
                reason=f"investigating {alert.title!r} for service {alert.service or '(unmapped)'}",
                investigation_id=inv, report_url=links.report(inv)))
        outcome = ",".join(r.status for r in results) or "empty"
        repo.record_delivery(conn, source, delivery_keys, None, outcome)
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
