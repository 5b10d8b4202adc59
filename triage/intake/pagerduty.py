"""PagerDuty Webhooks V3: `POST /webhooks/pagerduty`.

Signature: `X-PagerDuty-Signature` holds one or more comma-separated `v1=<hex>` values, each the
HMAC-SHA256 of the raw body under one of the subscription's secrets. Any match passes, so secrets
can be rotated by configuring the old and the new one side by side.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, SecretStr

from triage.feedback_notes import record_note
from triage.intake.common import (
    IntakeError,
    IntakeResponse,
    IntakeResult,
    accept,
    ignored,
    parse_json,
    persist,
    read_body,
    resolve_alert,
    validate,
)
from triage.intake.parsing import MAX_ID_LENGTH, AlertTime, Id, Timestamp
from triage.models import Alert, Link, Severity, Source
from triage.runtime import Runtime

router = APIRouter()
_SIGNATURE = re.compile(r"^v1=([0-9a-fA-F]{64})$")
_URGENCY = {"high": Severity.CRITICAL, "low": Severity.WARNING}


class PagerDutyReference(BaseModel):
    """A reference object (`service`, `priority`, ...)."""

    id: Id
    type: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PagerDutyIncident(BaseModel):
    """The `event.data` of an incident event, as much as triage needs."""

    id: Id
    type: str
    title: str
    status: str
    service: PagerDutyReference
    created_at: AlertTime
    html_url: str | None = None
    number: int | None = None
    urgency: str | None = None
    incident_key: str | None = None
    priority: PagerDutyReference | None = None


class PagerDutyEvent(BaseModel):
    """The V3 event envelope."""

    model_config = ConfigDict(extra="allow")

    id: Id
    event_type: str
    resource_type: str
    occurred_at: Timestamp
    data: dict[str, Any]


class PagerDutyIncidentRef(BaseModel):
    """The `event.data` of a resolve: only the incident's id is read."""

    id: Id


class PagerDutyNote(BaseModel):
    """The `event.data` of `incident.annotated` (an `incident_note`): its incident and text."""

    incident: PagerDutyIncidentRef
    content: str  # bounded by the body limit; only the first MAX_NOTE characters are kept


class PagerDutyWebhook(BaseModel):
    """The whole V3 body."""

    event: PagerDutyEvent


def verify_signature(body: bytes, header: str | None, secrets: list[SecretStr]) -> None:
    """Pass if any `v1=` signature matches the HMAC of `body` under any configured secret."""
    if not header:
        raise IntakeError(400, "missing X-PagerDuty-Signature header")
    given = []
    for part in header.split(","):
        match = _SIGNATURE.match(part.strip())
        if not match:
            raise IntakeError(400, f"malformed X-PagerDuty-Signature entry {part.strip()[:80]!r}; "
                                   "expected v1=<64 hex digits>")
        given.append(match.group(1).lower().encode())
    for secret in secrets:
        expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
        # Compare against every given value without short-circuiting on the first mismatch.
        if any(hmac.compare_digest(expected.encode(), sig) for sig in given):
            return
    raise IntakeError(401, "X-PagerDuty-Signature does not match the body under any configured "
                           "secret (wrong secret, or the body was altered)")


def sign(body: bytes, secret: str) -> str:
    """The header value PagerDuty would send for `body` (used by replays and benchmarks)."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def normalize(incident: PagerDutyIncident, event: PagerDutyEvent) -> Alert:
    """An `Alert` from a triggered incident."""
    labels = {
        "pagerduty_service_id": incident.service.id,
        "pagerduty_service": incident.service.summary or "",
        "urgency": incident.urgency or "",
        "event_type": event.event_type,
    }
    if incident.priority and incident.priority.summary:
        labels["priority"] = incident.priority.summary
    links = [Link(title=f"PagerDuty incident #{incident.number or incident.id}",
                  url=incident.html_url)] if incident.html_url else []
    return Alert(
        source=Source.PAGERDUTY, dedup_key=incident.id, external_id=incident.id,
        title=incident.title, severity=_URGENCY.get(incident.urgency or "", Severity.ERROR),
        started_at=incident.created_at, labels={k: v for k, v in labels.items() if v},
        links=links,
    )


@router.post("/webhooks/pagerduty", status_code=202, response_model=IntakeResponse)
async def pagerduty_webhook(request: Request) -> IntakeResponse:
    """Verify, dedupe, normalise and persist a PagerDuty V3 delivery; start triage on trigger."""
    runtime = request.app.state.runtime
    secrets = runtime.settings.pagerduty_webhook_secrets
    if not secrets:
        raise IntakeError(503, "PagerDuty intake is disabled: set TRIAGE_PAGERDUTY_WEBHOOK_SECRETS")
    body = await read_body(request, runtime.settings.max_body_bytes)
    verify_signature(body, request.headers.get("x-pagerduty-signature"), secrets)
    payload = parse_json(body)
    webhook = validate(PagerDutyWebhook, payload)
    event = webhook.event
    keys = [f"event:{event.id}"]
    if webhook_id := request.headers.get("x-webhook-id", "").strip():
        if len(webhook_id) > MAX_ID_LENGTH:
            raise IntakeError(400, f"X-Webhook-Id is longer than {MAX_ID_LENGTH} characters",
                              "X-Webhook-Id")
        keys.append(f"webhook:{webhook_id}")
    if event.event_type == "incident.resolved":
        ref = validate(PagerDutyIncidentRef, event.data, at="event.data")
        result = await persist(resolve_alert, runtime, Source.PAGERDUTY.value, keys,
                               external_id=ref.id)
        return IntakeResponse(results=[result])
    if event.event_type == "incident.annotated":
        return IntakeResponse(results=[await _note(runtime, keys, payload, event)])
    if event.event_type not in runtime.config.intake.pagerduty_event_types:
        kind = runtime.redactor.redact_text(event.event_type[:80])
        return ignored(f"event type {kind} does not start triage (configured: "
                       f"{', '.join(runtime.config.intake.pagerduty_event_types)})")
    incident = validate(PagerDutyIncident, event.data, at="event.data")
    alert = normalize(incident, event)
    results = await accept(runtime, Source.PAGERDUTY.value, keys, [alert], payload,
                           len(body))
    return IntakeResponse(results=results)


async def _note(runtime: Runtime, keys: list[str], payload: dict[str, Any],
                event: PagerDutyEvent) -> IntakeResult:
    """A note on an incident: feedback when it names the cause (`triage.feedback_notes`)."""
    note = validate(PagerDutyNote, event.data, at="event.data")
    agent = payload["event"].get("agent")
    author = str(agent.get("summary") or agent.get("id") or "") if isinstance(agent, dict) else ""
    outcome = await persist(record_note, runtime, Source.PAGERDUTY.value, keys, note.incident.id,
                            note.content, author or "PagerDuty")
    return IntakeResult(status=outcome.status, reason=outcome.reason,
                        investigation_id=outcome.investigation_id)
