"""Durable model turns: each response is stored before anything acts on it, so a resumed worker
replays finished turns from the store instead of paying for them again.

A turn row holds the hash of the exact request, the response, its usage, and (once the turn's
tools ran) the tool results sent back. Replay rebuilds the same conversation, so each replayed
request hashes the same; a mismatch means the conversation diverged (new code, new settings),
and the turns from there on are dropped and asked again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from triage.analysis.redaction import Redactor
from triage.models import StepRecord, utcnow
from triage.repository import save_steps
from triage.store import Store, model_turns, steps


def request_hash(request: dict[str, Any]) -> str:
    """A stable digest of one Messages API request."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class StoredTurn:
    """One finished model turn as recorded."""

    turn: int
    request_hash: str
    response: dict[str, Any]
    usage: dict[str, Any]
    tool_results: dict[str, Any] | None  # {"content": blocks sent back, "notes": [...]}


class TurnStore:
    """Reads and writes one investigation's model turns and brain steps."""

    def __init__(self, store: Store, investigation_id: str, redactor: Redactor) -> None:
        self.store = store
        self.investigation_id = investigation_id
        self.redactor = redactor

    def load(self) -> dict[int, StoredTurn]:
        """Every recorded turn, by number."""
        query = (sa.select(model_turns).where(model_turns.c.investigation_id == self.investigation_id)
                 .order_by(model_turns.c.turn))
        with self.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        return {row["turn"]: StoredTurn(row["turn"], row["request_hash"], row["response"],
                                        row["usage"], row["tool_results"]) for row in rows}

    def save_turn(self, turn: int, digest: str, response: dict[str, Any],
                  usage: dict[str, Any]) -> None:
        """Record a response the moment it arrives (replacing any diverged record)."""
        with self.store.transaction() as conn:
            self._forget_from(conn, turn)
            conn.execute(model_turns.insert().values(
                investigation_id=self.investigation_id, turn=turn, request_hash=digest,
                response=response, usage=usage, tool_results=None, created_at=utcnow()))

    def save_tool_results(self, turn: int, results: dict[str, Any],
                          records: list[StepRecord]) -> None:
        """Record what the turn's tools returned, with their steps, in one transaction."""
        records = [self.redactor.redact_step(record) for record in records]
        with self.store.transaction() as conn:
            save_steps(conn, records)
            conn.execute(model_turns.update().where(
                model_turns.c.investigation_id == self.investigation_id,
                model_turns.c.turn == turn).values(tool_results=results))

    def forget_from(self, turn: int) -> None:
        """Drop recorded turns from `turn` on (the conversation diverged there)."""
        with self.store.transaction() as conn:
            self._forget_from(conn, turn)

    def _forget_from(self, conn: sa.Connection, turn: int) -> None:
        conn.execute(model_turns.delete().where(
            model_turns.c.investigation_id == self.investigation_id, model_turns.c.turn >= turn))

    def step_detail(self, step_id: str) -> dict[str, Any] | None:
        """The stored detail of one of this investigation's steps."""
        query = sa.select(steps.c.detail).where(steps.c.id == step_id,
                                                steps.c.investigation_id == self.investigation_id)
        with self.store.read() as conn:
            detail = conn.execute(query).scalar_one_or_none()
        return dict(detail) if detail is not None else None
