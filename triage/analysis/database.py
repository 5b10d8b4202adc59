"""Database analyzers over the PostgreSQL diagnostics (`\\blocking`, `\\idle_in_transaction`,
`\\connections`, `\\long_running`): who blocks whom, sessions holding transactions open,
connection saturation, runaway queries. Diagnostics are snapshots: their signals have no onset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triage.analysis.signals import CitedEvidence, Signal, SignalKind

SATURATION = 0.8
IDLE_SECONDS = 30.0

Rows = list[dict[str, Any]]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _blocking(rows: Rows, step: str) -> Signal | None:
    blocked = [r for r in rows if _number(r.get("depth")) > 0]
    if not blocked:
        return None
    roots = [r for r in rows if _number(r.get("depth")) == 0]
    root = roots[0] if roots else {}
    who = (f"pid {root.get('pid')} ({root.get('user') or '?'}, {root.get('application_name') or '?'}, "
           f"{root.get('state') or '?'} for {root.get('state_seconds') or '?'}s)")
    return Signal(kind=SignalKind.DB_BLOCKING,
                  title=f"{len(blocked)} database session(s) blocked behind {who}: "
                        f"{str(root.get('query') or '')[:120]}",
                  strength=min(1.0, 0.5 + 0.1 * len(blocked)), evidence=[step],
                  detail={"blocked": len(blocked), "root_blockers": len(roots),
                          "root": {k: root.get(k) for k in ("pid", "user", "application_name",
                                                            "state", "xact_seconds", "query")}})


def _idle(rows: Rows, step: str) -> Signal | None:
    idle = [r for r in rows if _number(r.get("idle_seconds")) >= IDLE_SECONDS]
    if not idle:
        return None
    longest = max(idle, key=lambda r: _number(r.get("idle_seconds")))
    # the statement each session ran last before going idle is what its code path did
    return Signal(kind=SignalKind.DB_IDLE_IN_TRANSACTION,
                  title=f"{len(idle)} session(s) idle in an open transaction; longest "
                        f"{longest.get('idle_seconds')}s (pid {longest.get('pid')}, "
                        f"{longest.get('application_name') or '?'}) after: "
                        f"{str(longest.get('last_query') or '')[:120]}",
                  strength=min(1.0, 0.4 + _number(longest.get("idle_seconds")) / 600),
                  evidence=[step], detail={"sessions": len(idle), "longest": longest})


def _connections(rows: Rows, step: str) -> Signal | None:
    if not rows:
        return None
    total = _number(rows[0].get("total"))
    usable = _number(rows[0].get("max_connections")) - _number(rows[0].get("reserved_connections"))
    if usable <= 0 or total / usable < SATURATION:
        return None
    top = max(rows, key=lambda r: _number(r.get("connections")))
    return Signal(kind=SignalKind.DB_CONNECTIONS,
                  title=f"Connections at {total:.0f} of {usable:.0f} usable ({total / usable:.0%}); "
                        f"most from {top.get('application_name') or '?'} ({top.get('state')})",
                  strength=min(1.0, total / usable), evidence=[step],
                  detail={"total": total, "usable": usable, "top": top})


def _long(rows: Rows, step: str) -> Signal | None:
    if not rows:
        return None
    longest = max(rows, key=lambda r: _number(r.get("running_seconds")))
    return Signal(kind=SignalKind.DB_LONG_QUERIES,
                  title=f"{len(rows)} long-running quer(ies); longest {longest.get('running_seconds')}s: "
                        f"{str(longest.get('query') or '')[:120]}",
                  strength=min(1.0, 0.3 + _number(longest.get("running_seconds")) / 600),
                  evidence=[step], detail={"queries": len(rows), "longest": longest})


_BY_COMMAND: dict[str, Callable[[Rows, str], Signal | None]] = {
    "blocking": _blocking, "idle_in_transaction": _idle, "connections": _connections,
    "long_running": _long,
}


def database_signals(cited: CitedEvidence) -> list[Signal]:
    """Signals from one diagnostic's evidence (other database queries give none)."""
    query = cited.evidence.query.strip()
    if not query.startswith("\\"):
        return []
    command = query[1:].split()[0].lower() if len(query) > 1 else ""
    analyzer = _BY_COMMAND.get(command)
    found = analyzer(cited.evidence.rows, cited.step_id) if analyzer else None
    return [found] if found else []
