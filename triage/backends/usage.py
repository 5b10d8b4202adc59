"""What a replay used: whether a bundle needs the real backends, and per connector where it read,
how many queries it answered and how long they took (printed by `triage eval`)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from triage.agent.tools import QUERY_PREFIX
from triage.report.build import Report

ACTIVITY_FILE = "db_activity.yaml"  # triage.backends.db_activity.FILE, without importing psycopg
# playbook steps are named `<query id> on <connector>[ (hop ...)]`; a brain's calls `query_<name>`
_ON = re.compile(r" on (?P<name>\S+)(?: \(.*\))?$")


class ConnectorUse(BaseModel):
    """One connector's share of an investigation."""

    name: str
    backend: str  # `type where`, e.g. `prometheus http://127.0.0.1:9090`
    queries: int = 0
    errors: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


def real_reason(bundle: Path, requires: str) -> str | None:
    """Why a bundle can only be replayed through the real backends (None: files will do)."""
    if (bundle / ACTIVITY_FILE).is_file():
        return f"it stages database sessions ({ACTIVITY_FILE})"
    if requires == "real":
        return "scenario.yaml says `requires: real`"
    return None


def connector_use(report: Report, where: dict[str, str]) -> list[ConnectorUse]:
    """Query counts and timings per connector, from the report's query steps."""
    found = {name: ConnectorUse(name=name, backend=backend) for name, backend in where.items()}
    for step in report.queries:
        on = _ON.search(step.name)
        name = on["name"] if on else step.name.removeprefix(QUERY_PREFIX)
        use = found.setdefault(name, ConnectorUse(name=name, backend="?"))
        use.queries += 1
        use.errors += step.status == "error"
        use.total_ms += step.duration_ms
        use.max_ms = max(use.max_ms, step.duration_ms)
    return list(found.values())
