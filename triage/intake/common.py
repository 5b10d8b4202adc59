"""What every webhook route shares: bounded body reading, strict parsing, authentication,
and the one transaction that persists an alert and enqueues its investigation."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.exc import IntegrityError

from triage import repository as repo
from triage.models import Alert
from triage.report.links import links_for
from triage.runtime import Runtime, enqueue_options

ModelT = TypeVar("ModelT", bound=BaseModel)
ResultT = TypeVar("ResultT")


class IntakeError(Exception):
    """A delivery was refused; carries the HTTP status and a precise message."""

    def __init__(self, status_code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field


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
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise IntakeError(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise IntakeError(413, f"body exceeds the {limit}-byte limit")
    return bytes(body)


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object, or a 400 that says where the JSON broke."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise IntakeError(400, f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise IntakeError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise IntakeError(400, f"expected a JSON object, got {type(data).__name__}")
    return data


def validate(model: type[ModelT], data: Any, at: str = "") -> ModelT:
    """Validate a payload (found at path `at`), or a 400 naming the first offending field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([*filter(None, [at]), *(str(part) for part in first["loc"])]) or "(body)"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise IntakeError(400, f"invalid payload: {where}: {first['msg']}{more}", where) from exc


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


def accept_alerts(runtime: Runtime, source: str, delivery_keys: list[str],
                  alerts: list[Alert], payload: dict[str, Any]) -> list[IntakeResult]:
    """Persist a delivery's new alerts and enqueue their investigations, all in one transaction.

    A delivery seen before (by any of its keys) changes nothing. A concurrent twin that wins
    the race makes our commit fail on the unique keys; we then answer `duplicate` too.
    """
    for attempt in range(2):
        try:
            return _accept_once(runtime, source, delivery_keys, alerts, payload)
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
            service = runtime.config.service_for(alert)
            alert = alert.model_copy(update={"service": service.name if service else None})
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
