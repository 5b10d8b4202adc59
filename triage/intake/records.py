"""The intake's batch reads and writes, each on a caller's connection (one transaction): what
the group commit dedupes against and stores, and what the background step claims and creates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage.models import Alert, InvestigationState
from triage.repository import _can_exist
from triage.store import alerts, deliveries, intake_pending, investigations

# Built once: the group commit and the background step run them for every batch.
_KNOWN_DELIVERIES = (
    sa.select(deliveries.c.source, deliveries.c.delivery_key, deliveries.c.received_at,
              deliveries.c.alert_id, alerts.c.investigation_id)
    .select_from(deliveries.outerjoin(alerts, alerts.c.id == deliveries.c.alert_id))
    .where(deliveries.c.source.in_(sa.bindparam("sources", expanding=True)),
           deliveries.c.delivery_key.in_(sa.bindparam("keys", expanding=True)))
)
_KNOWN_ALERTS = sa.select(alerts.c.source, alerts.c.dedup_key, alerts.c.id,
                          alerts.c.investigation_id).where(
    alerts.c.source.in_(sa.bindparam("sources", expanding=True)),
    alerts.c.dedup_key.in_(sa.bindparam("keys", expanding=True)))
# PostgreSQL: both lookups in one round trip, and every insert of a batch in one statement
# (round trips, not rows, are what a batch costs there); constant texts, so psycopg prepares them.
_PG_KNOWN = sa.text("""
    SELECT 'delivery' AS kind, d.source, d.delivery_key AS key, d.received_at,
           d.alert_id AS id, a.investigation_id
      FROM unnest(CAST(:delivery_sources AS text[]), CAST(:delivery_keys AS text[]))
           AS wanted(source, key)
      JOIN deliveries d ON d.source = wanted.source AND d.delivery_key = wanted.key
      LEFT JOIN alerts a ON a.id = d.alert_id
    UNION ALL
    SELECT 'alert', a.source, a.dedup_key, a.received_at, a.id, a.investigation_id
      FROM unnest(CAST(:alert_sources AS text[]), CAST(:alert_keys AS text[]))
           AS wanted(source, key)
      JOIN alerts a ON a.source = wanted.source AND a.dedup_key = wanted.key""")
_PG_INSERT = sa.text("""
    WITH new_deliveries AS (
        INSERT INTO deliveries (source, delivery_key, alert_id, received_at, outcome)
        SELECT source, delivery_key, alert_id, received_at, outcome
          FROM json_populate_recordset(NULL::deliveries, CAST(:deliveries AS json))),
    new_alerts AS (
        INSERT INTO alerts (id, source, dedup_key, external_id, service, title, severity, status,
                            labels, links, started_at, received_at, resolved_at, payload,
                            investigation_id)
        SELECT id, source, dedup_key, external_id, service, title, severity, status, labels,
               links, started_at, received_at, resolved_at, payload, investigation_id
          FROM json_populate_recordset(NULL::alerts, CAST(:alerts AS json)))
    INSERT INTO intake_pending (investigation_id, alert_id, received_at)
    SELECT investigation_id, alert_id, received_at
      FROM json_populate_recordset(NULL::intake_pending, CAST(:pending AS json))""")
_CLAIM_PENDING = (
    sa.select(intake_pending.c.investigation_id, intake_pending.c.alert_id,
              intake_pending.c.received_at, alerts.c.service)
    .join(alerts, alerts.c.id == intake_pending.c.alert_id)
    .where(intake_pending.c.received_at <= sa.bindparam("before"))
    .order_by(intake_pending.c.received_at).limit(sa.bindparam("limit"))
    # Promoters in several processes each take different rows (PostgreSQL; SQLite's
    # write transactions are serial anyway and ignore this).
    .with_for_update(of=intake_pending, skip_locked=True)
)
_DELETE_PENDING = intake_pending.delete().where(
    intake_pending.c.investigation_id.in_(sa.bindparam("ids", expanding=True)))


Seen = dict[tuple[str, str], dict[str, Any]]  # (source, delivery key): the delivery's row
Stored = dict[tuple[str, str], tuple[str, str | None]]  # (source, dedup key): alert, investigation


def known(conn: Connection, delivery_pairs: set[tuple[str, str]],
          alert_pairs: set[tuple[str, str]]) -> tuple[Seen, Stored]:
    """What the store already holds among these (source, delivery key) and (source, dedup key)
    pairs: each recorded delivery (with the investigation of its first alert), and the
    (alert id, investigation id) of each stored alert."""
    delivery_pairs = {p for p in delivery_pairs if _can_exist(*p)}
    alert_pairs = {p for p in alert_pairs if _can_exist(*p)}
    if conn.dialect.name != "postgresql":
        return _known_deliveries(conn, delivery_pairs), _known_alerts(conn, alert_pairs)
    if not delivery_pairs and not alert_pairs:
        return {}, {}
    # Pairs as two parallel arrays: a join on them uses each table's (source, key) index
    # whatever plan PostgreSQL settles on for the prepared statement.
    rows = conn.execute(_PG_KNOWN, {
        "delivery_sources": [s for s, _ in delivery_pairs],
        "delivery_keys": [k for _, k in delivery_pairs],
        "alert_sources": [s for s, _ in alert_pairs], "alert_keys": [k for _, k in alert_pairs]})
    seen: Seen = {}
    stored: Stored = {}
    for row in rows:
        pair = (row.source, row.key)
        if row.kind == "alert":
            if pair in alert_pairs:
                stored[pair] = (row.id, row.investigation_id)
        elif pair in delivery_pairs:
            seen[pair] = {"source": row.source, "delivery_key": row.key,
                          "received_at": row.received_at, "alert_id": row.id,
                          "investigation_id": row.investigation_id}
    return seen, stored


def _known_deliveries(conn: Connection, pairs: set[tuple[str, str]]) -> Seen:
    if not pairs:
        return {}
    rows = conn.execute(_KNOWN_DELIVERIES, {"sources": sorted({s for s, _ in pairs}),
                                            "keys": sorted({k for _, k in pairs})})
    return {key: dict(row._mapping) for row in rows
            if (key := (row.source, row.delivery_key)) in pairs}


def _known_alerts(conn: Connection, pairs: set[tuple[str, str]]) -> Stored:
    if not pairs:
        return {}
    rows = conn.execute(_KNOWN_ALERTS, {"sources": sorted({s for s, _ in pairs}),
                                        "keys": sorted({k for _, k in pairs})})
    return {key: (row.id, row.investigation_id) for row in rows
            if (key := (row.source, row.dedup_key)) in pairs}


def alert_row(alert: Alert, alert_id: str, investigation_id: str, payload: Any,
              received_at: datetime) -> dict[str, Any]:
    """The `alerts` row of a newly accepted alert (payload exactly as given)."""
    return {"id": alert_id, "source": alert.source.value, "dedup_key": alert.dedup_key,
            "external_id": alert.external_id, "service": alert.service, "title": alert.title,
            "severity": alert.severity.value, "status": alert.status.value,
            "labels": alert.labels, "links": [link.model_dump() for link in alert.links],
            "started_at": alert.started_at, "received_at": received_at, "resolved_at": None,
            "payload": payload, "investigation_id": investigation_id}


def insert_accepted(conn: Connection, delivery_rows: list[dict[str, Any]],
                    alert_rows: list[dict[str, Any]]) -> None:
    """Record deliveries and accepted alerts, each alert waiting in `intake_pending` for its
    investigation (PostgreSQL: one statement; SQLite: one per table, whatever the rows)."""
    pending = [{"investigation_id": row["investigation_id"], "alert_id": row["id"],
                "received_at": row["received_at"]} for row in alert_rows]
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_INSERT, {"deliveries": _json(delivery_rows),
                                  "alerts": _json(alert_rows), "pending": _json(pending)})
        return
    if delivery_rows:
        conn.execute(deliveries.insert(), delivery_rows)
    if alert_rows:
        conn.execute(alerts.insert(), alert_rows)
        conn.execute(intake_pending.insert(), pending)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_time)


def _time(value: Any) -> str:
    # Times as ISO 8601 with their UTC offset, which PostgreSQL reads back exactly.
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return value.astimezone(UTC).isoformat()


def claim_pending(conn: Connection, limit: int, before: datetime) -> list[dict[str, Any]]:
    """The oldest accepted alerts, received before `before`, still waiting for their
    investigation (locked against other promoters until this transaction ends)."""
    rows = conn.execute(_CLAIM_PENDING, {"limit": limit, "before": before})
    return [dict(row._mapping) for row in rows]


def create_investigations(conn: Connection, claimed: list[dict[str, Any]], brain: str) -> None:
    """Queued investigations for claimed pending alerts, under their pre-assigned ids; the
    pending rows go in the same transaction."""
    conn.execute(investigations.insert(), [
        {"id": row["investigation_id"], "alert_id": row["alert_id"], "service": row["service"],
         "state": InvestigationState.QUEUED.value, "brain": brain,
         "created_at": row["received_at"], "started_at": None, "finished_at": None,
         "summary": None, "error": None} for row in claimed])
    conn.execute(_DELETE_PENDING, {"ids": [row["investigation_id"] for row in claimed]})


def still_pending(conn: Connection, investigation_ids: list[str]) -> bool:
    """Whether any of these investigations is still waiting to be created."""
    if not investigation_ids:
        return False
    query = sa.select(intake_pending.c.investigation_id).where(
        intake_pending.c.investigation_id.in_(investigation_ids)).limit(1)
    return conn.execute(query).first() is not None


def oldest_pending(conn: Connection) -> datetime | None:
    """When the longest-waiting accepted alert without an investigation was received."""
    oldest: datetime | None = conn.execute(
        sa.select(sa.func.min(intake_pending.c.received_at))).scalar_one()
    return oldest
