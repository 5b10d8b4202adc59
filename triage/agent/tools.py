"""The tool registry: every read-only action a brain (or a playbook) may take, as data + a function.

Every call is recorded as a step with its exact arguments and a summary of its result, so the
report can show each query exactly as it ran.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors import Connector, Evidence, QueryRequest
from connectors.timeparse import parse_timestamp
from triage.analysis.redaction import Redactor, default_redactor
from triage.models import StepKind, StepRecord, utcnow

# The Messages API's pattern for tool names; a connector's query tool is `query_<connector>`.
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
QUERY_PREFIX = "query_"


def query_tool_name(connector: str) -> str:
    """The name of the query tool over the connector called `connector`."""
    return f"{QUERY_PREFIX}{connector}"


def connector_name_problem(name: str) -> str | None:
    """Why a connector called `name` cannot be offered to a model as a tool, or None."""
    if TOOL_NAME.fullmatch(query_tool_name(name)):
        return None
    return (f"connector name {name!r} cannot name a model tool ({query_tool_name(name)!r}): "
            f"use letters, digits, '_' and '-' only, at most {64 - len(QUERY_PREFIX)} characters")


@dataclass(frozen=True)
class Tool:
    """A named action with a JSON-schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], Evidence]


@dataclass
class ToolCall:
    """One call to make: which tool, with what, recorded under which label."""

    tool: str
    arguments: dict[str, Any]
    label: str = ""


@dataclass
class StepLog:
    """Builds deterministic step ids for one stage, so a re-run stage overwrites its own rows."""

    investigation_id: str
    stage: str
    records: list[StepRecord] = field(default_factory=list)

    def add(self, kind: StepKind, name: str, arguments: dict[str, Any], status: str,
            summary: str, detail: dict[str, Any], started_at: datetime,
            duration_ms: float) -> StepRecord:
        """Append one record and return it."""
        seq = len(self.records)
        record = StepRecord(
            id=f"{self.investigation_id}:{self.stage}:{seq}", investigation_id=self.investigation_id,
            stage=self.stage, seq=seq, kind=kind, name=name, arguments=arguments, status=status,
            started_at=started_at, duration_ms=duration_ms, summary=summary, detail=detail,
        )
        self.records.append(record)
        return record


def connector_tool(connector: Connector) -> Tool:
    """A query tool over one connector."""

    def run(arguments: dict[str, Any]) -> Evidence:
        request = QueryRequest(
            query=str(arguments["query"]),
            start=parse_timestamp(arguments["start"]),
            end=parse_timestamp(arguments["end"]),
            limit=int(arguments.get("limit", 500)),
        )
        return connector.query(request)

    return Tool(
        name=query_tool_name(connector.name),
        description=f"Read-only {connector.kind.value} query on connector {connector.name!r}.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
            "required": ["query", "start", "end"],
            "additionalProperties": False,
        },
        run=run,
    )


class ToolRegistry:
    """The tools one investigation may use."""

    def __init__(self, connectors: list[Connector], max_parallel: int = 8,
                 redactor: Redactor | None = None) -> None:
        problems = [p for p in map(connector_name_problem, (c.name for c in connectors)) if p]
        if problems:  # config loading refuses these names; a caller that skipped it is a bug
            raise ValueError("; ".join(problems))
        self.connectors = {c.name: c for c in connectors}
        self.tools = {tool.name: tool for tool in map(connector_tool, connectors)}
        self._max_parallel = max_parallel
        self._redactor = redactor or default_redactor()

    def call_many(self, calls: list[ToolCall], log: StepLog) -> list[StepRecord]:
        """Run calls concurrently; record each (in call order) as a step."""
        if not calls:
            return []
        with ThreadPoolExecutor(max_workers=min(self._max_parallel, len(calls))) as pool:
            outcomes = list(pool.map(self._timed_call, calls))
        return [
            # redaction: the arguments hold the query text, which may quote alert fields.
            log.add(StepKind.QUERY, call.label or call.tool,
                    self._redactor.redact_value({"tool": call.tool, **call.arguments}),
                    evidence.status.value, evidence.summary, evidence.model_dump(mode="json"),
                    started, duration)
            for call, (evidence, started, duration) in zip(calls, outcomes, strict=True)
        ]

    def timed_call(self, call: ToolCall) -> tuple[Evidence, datetime, float]:
        """Run one call: its redacted evidence, when it started and how long it took (ms)."""
        return self._timed_call(call)

    def _timed_call(self, call: ToolCall) -> tuple[Evidence, datetime, float]:
        started, clock = utcnow(), time.perf_counter()
        tool = self.tools.get(call.tool)
        if tool is None:
            raise KeyError(f"unknown tool {call.tool!r}; known: {sorted(self.tools)}")
        evidence = tool.run(call.arguments)
        elapsed = (time.perf_counter() - clock) * 1000
        # redaction: evidence is redacted before anyone (store, brain, report) sees it.
        return self._redactor.redact_evidence(evidence), started, elapsed

    def close(self) -> None:
        """Close every connector."""
        for connector in self.connectors.values():
            connector.close()
