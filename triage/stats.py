"""`triage stats` and `/api/stats`: what a team needs to decide whether to trust the verdicts.

Investigations by state; verdicts confirmed right or wrong by feedback (the latest word on each
investigation counts), per verdict category and per brain; median seconds from the alert's
acceptance to the first note and to the reconciled verdict (the stages' first finished runs).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from statistics import median
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from triage.store import feedback, investigations, reports, stage_runs

ABSTAIN = "abstain"  # the verdict category of a report that named no cause (as in scenarios)


class Confirmed(BaseModel):
    """Verdicts someone judged."""

    right: int = 0
    wrong: int = 0


class Stats(BaseModel):
    """The figures `triage stats` prints and `/api/stats` returns."""

    investigations: int
    by_state: dict[str, int]
    confirmed: Confirmed = Field(description="verdicts with feedback, right or wrong")
    by_category: dict[str, Confirmed] = Field(description="by the verdict's top category")
    by_brain: dict[str, Confirmed]
    median_seconds_to_first_note: float | None
    median_seconds_to_verdict: float | None


def verdict_category(body: dict[str, Any]) -> str:
    """A stored report's top category, or `abstain`."""
    findings = body.get("findings") or {}
    hypotheses = findings.get("hypotheses") or []
    if findings.get("abstained") or not hypotheses:
        return ABSTAIN
    return str(hypotheses[0].get("category") or ABSTAIN)


def compute(conn: Connection) -> Stats:
    """Every figure, read in one transaction."""
    rows = conn.execute(sa.select(investigations.c.id, investigations.c.state,
                                  investigations.c.brain, investigations.c.created_at)).all()
    created = {row.id: row.created_at for row in rows}
    brain = {row.id: row.brain for row in rows}
    latest: dict[str, str] = {}  # investigation -> its latest feedback's verdict
    for row in conn.execute(sa.select(feedback.c.investigation_id, feedback.c.verdict)
                            .order_by(feedback.c.id)):
        latest[row.investigation_id] = row.verdict
    categories = {row.investigation_id: verdict_category(row.body) for row in conn.execute(
        sa.select(reports.c.investigation_id, reports.c.body)
        .where(reports.c.investigation_id.in_(list(latest))))} if latest else {}
    total = Confirmed()
    by_category: defaultdict[str, Confirmed] = defaultdict(Confirmed)
    by_brain: defaultdict[str, Confirmed] = defaultdict(Confirmed)
    for investigation_id, verdict in latest.items():
        if investigation_id not in brain or verdict not in ("right", "wrong"):
            continue
        for tally in (total, by_category[categories.get(investigation_id, ABSTAIN)],
                      by_brain[brain[investigation_id]]):
            setattr(tally, verdict, getattr(tally, verdict) + 1)
    return Stats(investigations=len(rows), by_state=dict(Counter(row.state for row in rows)),
                 confirmed=total, by_category=dict(by_category), by_brain=dict(by_brain),
                 median_seconds_to_first_note=_median_until(conn, "first_note", created),
                 median_seconds_to_verdict=_median_until(conn, "verdict", created))


def _median_until(conn: Connection, stage: str, created: dict[str, datetime]) -> float | None:
    """Median seconds from creation to the first finished run of `stage`."""
    done = conn.execute(
        sa.select(stage_runs.c.investigation_id, sa.func.min(stage_runs.c.finished_at).label("at"))
        .where(stage_runs.c.stage == stage, stage_runs.c.finished_at.is_not(None))
        .group_by(stage_runs.c.investigation_id)).all()
    # min() keeps the column's type, so `at` comes back an aware UTC datetime on SQLite too.
    spans = [(row.at - created[row.investigation_id]).total_seconds()
             for row in done if row.investigation_id in created]
    return round(median(spans), 3) if spans else None


def format_stats(stats: Stats) -> list[str]:
    """The lines `triage stats` prints."""
    states = ", ".join(f"{state} {count}" for state, count in sorted(stats.by_state.items()))
    lines = [f"investigations: {stats.investigations}" + (f" ({states})" if states else ""),
             f"verdicts confirmed: {stats.confirmed.right} right, {stats.confirmed.wrong} wrong"]
    for title, table in (("by category", stats.by_category), ("by brain", stats.by_brain)):
        if table:
            lines.append(f"  {title}:")
            lines += [f"    {name}: {c.right} right, {c.wrong} wrong"
                      for name, c in sorted(table.items())]
    for what, value in (("first note", stats.median_seconds_to_first_note),
                        ("verdict", stats.median_seconds_to_verdict)):
        lines.append(f"median time to {what}: " + (f"{value:g} s" if value is not None else "—"))
    return lines
