"""Datadog monitor webhook: `POST /webhooks/datadog`, with the JSON payload template in the
README (`tests/samples/datadog/payload_template.json`). Datadog does not sign webhooks, so the
integration sends `Authorization: Bearer <TRIAGE_DATADOG_WEBHOOK_TOKEN>` as a custom header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from triage.intake.common import (
    IntakeError,
    IntakeResponse,
    accept,
    check_bearer,
    ignored,
    parse_json,
    persist,
    read_body,
    resolve_alert,
    validate,
)
from triage.intake.parsing import MAX_ID_LENGTH, EpochTime, Id
from triage.models import Alert, Link, Severity, Source

router = APIRouter()
START_TRANSITIONS = {"triggered", "re-triggered", "warn", "re-warn", "renotify", "no data",
                     "re-no data"}
_SEVERITY = {"error": Severity.CRITICAL, "warning": Severity.WARNING, "info": Severity.INFO,
             "success": Severity.INFO}


class DatadogWebhook(BaseModel):
    """The fields of our payload template that triage reads (the rest is kept as delivered).

    A template variable left unquoted arrives as a JSON number: every field takes both forms."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: Annotated[Id, StringConstraints(pattern=r"^\d+$")]
    title: str
    date: EpochTime = Field(description="epoch milliseconds (or seconds), number or string")
    last_updated: EpochTime | None = None
    alert_id: str = Field("", max_length=MAX_ID_LENGTH)
    alert_cycle_key: str = Field("", max_length=MAX_ID_LENGTH)
    alert_transition: str
    alert_type: str = "error"
    alert_priority: str = ""
    alert_title: str = ""
    alert_query: str = ""
    alert_scope: str = ""
    tags: str = ""
    link: str = ""


def parse_tags(text: str) -> dict[str, str]:
    """`"monitor, service:checkout, env:prod"` to labels; bare tags map to an empty value."""
    labels = {}
    for tag in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = tag.partition(":")
        labels[key.strip()] = value.strip()
    return labels


def dedup_key(webhook: DatadogWebhook) -> str:
    """One alert cycle of one monitor (stable from trigger to recovery)."""
    if webhook.alert_id and webhook.alert_cycle_key:
        return f"{webhook.alert_id}:{webhook.alert_cycle_key}"
    return f"event:{webhook.id}"


def normalize(webhook: DatadogWebhook) -> Alert:
    """An `Alert` from a triggering monitor notification."""
    labels = {**parse_tags(webhook.tags), **parse_tags(webhook.alert_scope)}
    labels.update({k: v for k, v in {"monitor_id": webhook.alert_id,
                                     "priority": webhook.alert_priority,
                                     "monitor_query": webhook.alert_query}.items() if v})
    links = [Link(title="Datadog event", url=webhook.link)] if webhook.link else []
    return Alert(
        source=Source.DATADOG, dedup_key=dedup_key(webhook), external_id=webhook.alert_id or None,
        title=webhook.alert_title or webhook.title,
        severity=_SEVERITY.get(webhook.alert_type.lower(), Severity.ERROR),
        started_at=webhook.date, labels=labels, links=links,
    )


@router.post("/webhooks/datadog", status_code=202, response_model=IntakeResponse)
async def datadog_webhook(request: Request) -> IntakeResponse:
    """Start triage on a triggering transition; mark the alert resolved on recovery."""
    runtime = request.app.state.runtime
    token = runtime.settings.datadog_webhook_token
    if token is None:
        raise IntakeError(503, "Datadog intake is disabled: set TRIAGE_DATADOG_WEBHOOK_TOKEN")
    check_bearer(request.headers.get("authorization"), token)
    body = await read_body(request, runtime.settings.max_body_bytes)
    payload = parse_json(body)
    webhook = validate(DatadogWebhook, payload)
    keys = [f"event:{webhook.id}"]
    transition = webhook.alert_transition.strip().lower()
    if transition == "recovered":
        result = await persist(resolve_alert, runtime, Source.DATADOG.value, keys,
                                         dedup_key=dedup_key(webhook))
        return IntakeResponse(results=[result])
    if transition not in START_TRANSITIONS:
        transition = runtime.redactor.redact_text(repr(webhook.alert_transition[:80]))
        return ignored(f"transition {transition} does not start triage")
    results = await accept(runtime, Source.DATADOG.value, keys, [normalize(webhook)], payload,
                           len(body))
    return IntakeResponse(results=results)
