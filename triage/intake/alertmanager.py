"""Prometheus Alertmanager webhook (payload version 4): `POST /webhooks/alertmanager`.

One delivery carries a group of alerts; each firing alert is its own triage, identified by
fingerprint + startsAt, so Alertmanager's repeat notifications do not start it again.
Authentication is optional: a bearer token or basic auth, as Alertmanager's `http_config` sends.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from triage.config import Settings
from triage.intake.common import (
    IntakeError,
    IntakeResponse,
    IntakeResult,
    accept,
    check_bearer,
    parse_json,
    persist,
    read_body,
    resolve_alert,
    validate,
)
from triage.intake.parsing import AlertTime, Id, Timestamp
from triage.models import Alert, AlertStatus, Link, Severity, Source

router = APIRouter()
_SEVERITY = {"critical": Severity.CRITICAL, "page": Severity.CRITICAL, "error": Severity.ERROR,
             "warning": Severity.WARNING, "warn": Severity.WARNING, "info": Severity.INFO,
             "none": Severity.INFO}


class AlertmanagerAlert(BaseModel):
    """One alert of the group."""

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AlertTime
    endsAt: Timestamp | None = None  # firing alerts carry Go's zero time, 0001-01-01T00:00:00Z
    generatorURL: str = ""
    fingerprint: Id


class AlertmanagerWebhook(BaseModel):
    """The version 4 body."""

    version: str
    status: AlertStatus
    receiver: str = ""
    groupKey: str = ""
    externalURL: str = ""
    alerts: list[AlertmanagerAlert]


def auth_status(settings: Settings) -> str:
    """How this intake authenticates, for `triage config check`."""
    if settings.alertmanager_bearer_token is not None:
        return "Alertmanager intake: enabled (bearer token)"
    if settings.alertmanager_basic_auth is not None:
        return "Alertmanager intake: enabled (basic auth)"
    if settings.alertmanager_open:
        return ("Alertmanager intake: enabled, OPEN — anyone who reaches the webhook can start "
                "an investigation (TRIAGE_ALERTMANAGER_OPEN=true)")
    return ("Alertmanager intake: disabled — set TRIAGE_ALERTMANAGER_BEARER_TOKEN (or _BASIC_AUTH), "
            "or TRIAGE_ALERTMANAGER_OPEN=true to accept it unauthenticated")


def authenticate(header: str | None, settings: Settings) -> None:
    """Check the configured bearer token or basic credentials; refuse every delivery when neither
    is set, unless the intake was explicitly opened (`TRIAGE_ALERTMANAGER_OPEN`)."""
    if settings.alertmanager_bearer_token is not None:
        check_bearer(header, settings.alertmanager_bearer_token)
    elif settings.alertmanager_basic_auth is not None:
        if not header or not header.lower().startswith("basic "):
            raise IntakeError(401, "missing Authorization: Basic header")
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise IntakeError(401, "Authorization: Basic value is not base64") from None
        expected = settings.alertmanager_basic_auth.get_secret_value().encode()
        if not hmac.compare_digest(given, expected):
            raise IntakeError(401, "credentials do not match")
    elif not settings.alertmanager_open:
        # Unauthenticated intake would let anyone who reaches the webhook plant alerts (titles,
        # links) in reports: it has to be chosen, not fallen into.
        raise IntakeError(401, "Alertmanager intake needs credentials: the server has no "
                               "TRIAGE_ALERTMANAGER_BEARER_TOKEN or _BASIC_AUTH (or set "
                               "TRIAGE_ALERTMANAGER_OPEN=true)")


def dedup_key(alert: AlertmanagerAlert) -> str:
    """Identity of one firing episode of an alert."""
    return f"{alert.fingerprint}@{alert.startsAt.isoformat()}"


def normalize(alert: AlertmanagerAlert, webhook: AlertmanagerWebhook) -> Alert:
    """An `Alert` from one firing alert of the group."""
    name = alert.labels.get("alertname", "alert")
    title = alert.annotations.get("summary") or alert.annotations.get("description") or name
    links = [Link(title="Prometheus expression", url=alert.generatorURL)] if alert.generatorURL else []
    if runbook := alert.annotations.get("runbook_url"):
        links.append(Link(title="Runbook", url=runbook))
    if webhook.externalURL:
        links.append(Link(title="Alertmanager", url=webhook.externalURL))
    return Alert(
        source=Source.ALERTMANAGER, dedup_key=dedup_key(alert), external_id=alert.fingerprint,
        title=title if title == name else f"{name}: {title}",
        severity=_SEVERITY.get(alert.labels.get("severity", "").lower(), Severity.ERROR),
        status=alert.status, started_at=alert.startsAt, labels=alert.labels, links=links,
    )


@router.post("/webhooks/alertmanager", status_code=202, response_model=IntakeResponse)
async def alertmanager_webhook(request: Request) -> IntakeResponse:
    """Persist each firing alert and start its triage; mark resolved ones resolved."""
    runtime = request.app.state.runtime
    authenticate(request.headers.get("authorization"), runtime.settings)
    body = await read_body(request, runtime.settings.max_body_bytes)
    payload = parse_json(body)
    webhook = validate(AlertmanagerWebhook, payload)
    if webhook.version != "4":
        raise IntakeError(400, f"unsupported Alertmanager payload version {webhook.version!r}; "
                               "expected \"4\"", "version")
    firing = [normalize(a, webhook) for a in webhook.alerts if a.status == AlertStatus.FIRING]
    results: list[IntakeResult] = []
    if firing:
        results += await accept(runtime, Source.ALERTMANAGER.value, [], firing, payload,
                                len(body))
    for alert in webhook.alerts:
        if alert.status == AlertStatus.RESOLVED:
            results.append(await persist(
                resolve_alert, runtime, Source.ALERTMANAGER.value, [], dedup_key=dedup_key(alert)))
    return IntakeResponse(results=results)
