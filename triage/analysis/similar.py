""""Seen before": earlier investigations of the same service whose new error templates overlap."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage.store import investigations, steps

MIN_OVERLAP = 0.3
LOOK_BACK = 50


def templates_of(signals: list[dict[str, Any]]) -> set[str]:
    """The new-error templates among serialized signals."""
    return {str(t.get("template")) for s in signals if s.get("kind") == "new_errors"
            for t in s.get("detail", {}).get("templates", [])}


def similar_investigations(conn: Connection, investigation_id: str, service: str | None,
                           templates: set[str], limit: int = 5) -> list[dict[str, Any]]:
    """Up to `limit` earlier investigations of `service`, most overlapping first (Jaccard of
    their new-error templates at least MIN_OVERLAP)."""
    if not service or not templates:
        return []
    earlier = conn.execute(
        sa.select(investigations.c.id, investigations.c.created_at, investigations.c.summary)
        .where(investigations.c.service == service, investigations.c.id != investigation_id)
        .order_by(investigations.c.created_at.desc()).limit(LOOK_BACK)
    ).all()
    if not earlier:
        return []
    signal_rows = conn.execute(
        sa.select(steps.c.investigation_id, steps.c.detail)
        .where(steps.c.investigation_id.in_([row.id for row in earlier]), steps.c.name == "signals")
    ).all()
    theirs = {row.investigation_id: templates_of(row.detail.get("signals", [])) for row in signal_rows}
    related = []
    for row in earlier:
        other = theirs.get(row.id, set())
        overlap = len(templates & other) / len(templates | other) if other else 0.0
        if overlap >= MIN_OVERLAP:
            related.append({"investigation_id": row.id, "created_at": row.created_at.isoformat(),
                            "summary": row.summary or "", "overlap": round(overlap, 2),
                            "shared_templates": sorted(templates & other)[:3]})
    return sorted(related, key=lambda r: -r["overlap"])[:limit]
