"""Playbook query specs as tool calls on a service's connectors (the gather and follow stages)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectors import Connector
from triage.agent.tools import StepLog, ToolCall
from triage.models import Alert, StepKind, utcnow
from triage.playbook import PlaybookError, QuerySpec


def query_calls(log: StepLog, specs: list[QuerySpec], alert: Alert, service: str | None,
                connectors: list[Connector], types: dict[str, str], start: datetime,
                end: datetime, label: Callable[[QuerySpec, Connector], str]) -> list[ToolCall]:
    """One call per spec and connector of its kind that has a query in the backend's language,
    rendered for `service`; a template error is recorded as an error step under its label."""
    calls: list[ToolCall] = []
    for spec in specs:
        for connector in (c for c in connectors if c.kind == spec.kind):
            connector_type = types.get(connector.name, "")
            if not spec.template_for(connector_type):
                continue  # the playbook has no query in this backend's language
            try:
                text = spec.render(alert, service, connector_type)
            except PlaybookError as exc:
                log.add(StepKind.QUERY, label(spec, connector), {}, "error", str(exc), {},
                        utcnow(), 0.0)
                continue
            calls.append(ToolCall(f"query_{connector.name}", {
                "query": text, "start": start.isoformat(), "end": end.isoformat(),
                "limit": spec.limit}, label=label(spec, connector)))
    return calls
