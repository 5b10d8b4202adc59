"""Reads and writes of the store's records, each on a caller's connection (one transaction)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage.models import Alert, AlertStatus, InvestigationState, StepRecord, utcnow
from triage.store import (
    alerts,
    deliveries,
    feedback,
    intake_pending,
    investigations,
    reports,
    stage_runs,
    steps,
)


def _can_exist(*keys: str, length: int = 512) -> bool:
    """Whether a looked-up key could be stored at all: no NUL (PostgreSQL refuses it in text, and
    in a query parameter) and no longer than its column. Lookups of other keys find nothing."""
    return all("\x00" not in key and len(key) <= length for key in keys)


def new_id(prefix: str) -> str:
    """A sortable-enough unique id with a readable prefix."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def seen_delivery(conn: Connection, source: str, keys: list[str]) -> dict[str, Any] | None:
    """The earlier delivery sharing any of these keys, if one was recorded."""
    if not keys or not _can_exist(source, *keys):
        return None
    row = conn.execute(
        sa.select(deliveries).where(
            deliveries.c.source == source, deliveries.c.delivery_key.in_(keys)
        )
    ).first()
    return dict(row._mapping) if row else None


def record_delivery(
    conn: Connection, source: str, keys: list[str], alert_id: str | None, outcome: str
) -> None:
    """Remember a delivery under every key it can be recognised by."""
    at = utcnow()
    for key in dict.fromkeys(keys):
        conn.execute(
            deliveries.insert().values(
                source=source, delivery_key=key, alert_id=alert_id, received_at=at, outcome=outcome
            )
        )


# An accepted alert, until the background step creates its investigation (intake_pending).
_PENDING_AS_QUEUED = (
    sa.select(intake_pending.c.investigation_id.label("id"), intake_pending.c.alert_id,
              alerts.c.service, intake_pending.c.received_at.label("created_at"))
    .join(alerts, alerts.c.id == intake_pending.c.alert_id)
    .where(intake_pending.c.investigation_id == sa.bindparam("id"))
)


def resolve_alerts(conn: Connection, source: str, *, dedup_key: str | None = None,
                   external_id: str | None = None) -> list[str]:
    """Mark matching firing alerts resolved; return their ids."""
    if not _can_exist(source, dedup_key or external_id or ""):
        return []
    clause = alerts.c.dedup_key == dedup_key if dedup_key else alerts.c.external_id == external_id
    ids = list(
        conn.execute(
            sa.select(alerts.c.id).where(alerts.c.source == source, clause,
                                         alerts.c.status == AlertStatus.FIRING.value)
        ).scalars()
    )
    if ids:
        conn.execute(
            alerts.update().where(alerts.c.id.in_(ids))
            .values(status=AlertStatus.RESOLVED.value, resolved_at=utcnow())
        )
    return ids


def load_alert(conn: Connection, alert_id: str) -> tuple[Alert, dict[str, Any]]:
    """The normalised alert and its raw row."""
    row = dict(conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one()._mapping)
    alert = Alert.model_validate(
        {key: row[key] for key in ("source", "dedup_key", "title", "severity", "status",
                                   "started_at", "labels", "links", "external_id", "service")}
    )
    return alert, row


def alert_of_investigation(conn: Connection, investigation_id: str) -> Alert:
    """The normalised alert an investigation is about."""
    row = get_investigation(conn, investigation_id)
    if row is None:
        raise KeyError(f"no investigation {investigation_id}")
    return load_alert(conn, row["alert_id"])[0]


def get_investigation(conn: Connection, investigation_id: str) -> dict[str, Any] | None:
    """One investigation row."""
    if not _can_exist(investigation_id, length=64):
        return None
    row = conn.execute(
        sa.select(investigations).where(investigations.c.id == investigation_id)
    ).first()
    if row:
        return dict(row._mapping)
    # Accepted and named in its 202, created by the background step a moment later: queued.
    pending = conn.execute(_PENDING_AS_QUEUED, {"id": investigation_id}).first()
    if pending is None:
        return None
    return {**pending._mapping, "state": InvestigationState.QUEUED.value, "brain": "",
            "started_at": None, "finished_at": None, "summary": None, "error": None}


def list_investigations(conn: Connection, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Newest investigations first, joined with their alert's title and status."""
    query = (
        sa.select(investigations, alerts.c.title, alerts.c.source, alerts.c.severity,
                  alerts.c.status.label("alert_status"))
        .join(alerts, alerts.c.id == investigations.c.alert_id)
        .order_by(investigations.c.created_at.desc(), investigations.c.id)
        .limit(limit).offset(offset)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def investigations_in_state(conn: Connection, state: InvestigationState) -> list[dict[str, Any]]:
    """Every investigation in one state, oldest first."""
    query = sa.select(investigations).where(investigations.c.state == state.value)
    return [dict(r._mapping) for r in conn.execute(query.order_by(investigations.c.created_at))]


def update_investigation(conn: Connection, investigation_id: str, **values: Any) -> None:
    """Set columns of one investigation."""
    conn.execute(
        investigations.update().where(investigations.c.id == investigation_id).values(**values)
    )


def start_stage(conn: Connection, investigation_id: str, stage: str, worker_id: str) -> int:
    """Log that a stage began executing (every execution, so resumes are visible)."""
    result = conn.execute(
        stage_runs.insert().values(
            investigation_id=investigation_id, stage=stage, worker_id=worker_id,
            started_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_stage(conn: Connection, run_id: int) -> None:
    """Log that a stage execution finished."""
    conn.execute(stage_runs.update().where(stage_runs.c.id == run_id).values(finished_at=utcnow()))


def list_stage_runs(conn: Connection, investigation_id: str) -> list[dict[str, Any]]:
    """Every stage execution of an investigation, in order."""
    query = sa.select(stage_runs).where(stage_runs.c.investigation_id == investigation_id)
    return [dict(r._mapping) for r in conn.execute(query.order_by(stage_runs.c.id))]


def save_steps(conn: Connection, records: list[StepRecord]) -> None:
    """Write steps; ids are deterministic, so a re-executed stage replaces rather than adds."""
    if not records:
        return
    conn.execute(steps.delete().where(steps.c.id.in_([r.id for r in records])))
    conn.execute(steps.insert(), [r.model_dump(mode="python") for r in records])


def list_steps(conn: Connection, investigation_id: str, stage: str | None = None) -> list[StepRecord]:
    """Recorded steps, in execution order."""
    query = sa.select(steps).where(steps.c.investigation_id == investigation_id)
    if stage:
        query = query.where(steps.c.stage == stage)
    rows = conn.execute(query.order_by(steps.c.started_at, steps.c.seq))
    return [StepRecord.model_validate(dict(r._mapping)) for r in rows]


def get_step(conn: Connection, step_id: str) -> StepRecord | None:
    """One recorded step with its full data."""
    if not _can_exist(step_id, length=160):
        return None
    row = conn.execute(sa.select(steps).where(steps.c.id == step_id)).first()
    return StepRecord.model_validate(dict(row._mapping)) if row else None


def save_report(conn: Connection, investigation_id: str, body: dict[str, Any], markdown: str) -> None:
    """Store the final report (replacing an earlier rendering of the same investigation)."""
    conn.execute(reports.delete().where(reports.c.investigation_id == investigation_id))
    conn.execute(
        reports.insert().values(
            investigation_id=investigation_id, created_at=utcnow(), body=body, markdown=markdown
        )
    )


def get_report(conn: Connection, investigation_id: str) -> dict[str, Any] | None:
    """The stored report row."""
    if not _can_exist(investigation_id, length=64):
        return None
    row = conn.execute(
        sa.select(reports).where(reports.c.investigation_id == investigation_id)
    ).first()
    return dict(row._mapping) if row else None


def latest_investigation_of(conn: Connection, service: str) -> dict[str, Any] | None:
    """The newest investigation of a service."""
    if not _can_exist(service, length=256):
        return None
    row = conn.execute(
        sa.select(investigations).where(investigations.c.service == service)
        .order_by(investigations.c.created_at.desc(), investigations.c.id.desc()).limit(1)
    ).first()
    return dict(row._mapping) if row else None


def add_feedback(conn: Connection, investigation_id: str, verdict: str, source: str, author: str,
                 *, category: str | None = None, culprit: str | None = None,
                 note: str | None = None) -> None:
    """Record what someone said about an investigation's verdict (`right` or `wrong`)."""
    conn.execute(feedback.insert().values(
        investigation_id=investigation_id, verdict=verdict, category=category, culprit=culprit,
        note=note, source=source, author=author, created_at=utcnow()))


def list_feedback(conn: Connection, investigation_id: str) -> list[dict[str, Any]]:
    """An investigation's feedback, oldest first."""
    rows = conn.execute(sa.select(feedback).where(feedback.c.investigation_id == investigation_id)
                        .order_by(feedback.c.id))
    return [dict(row._mapping) for row in rows]
