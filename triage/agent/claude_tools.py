"""The tools the Claude brain offers the model: read-only connector queries and the analyzers over
stored evidence. A tool is data (name, description, JSON schema) plus one function; what it
returns to the model is compacted and capped, while the full data is kept as the step's detail.

Sandbox tools live in `claude_sandbox.py`; `submit_findings` in `claude_findings.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors import ConnectorError, Evidence, EvidenceKind
from triage.agent.tools import ToolCall, ToolRegistry
from triage.analysis.compaction import compact_logs, estimate_tokens, lines_from_rows
from triage.analysis.runner import analyze
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.models import StepKind

MAX_PAGE_ROWS = 200
MAX_POINTS = 60  # per metric series shown to the model
MAX_EXAMPLES = 2


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced: text for the model, and what the step records."""

    text: str
    status: str = "ok"  # ok | no_data | error | refused
    summary: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence | None = None


@dataclass(frozen=True)
class ModelTool:
    """One tool as the model sees it, and the function that runs it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any]], ToolResult]
    kind: StepKind = StepKind.TOOL
    sandbox: bool = False  # sandbox calls run one at a time, in the order the model gave
    mutates: bool = False  # changes the checkout: replayed on resume

    def param(self) -> dict[str, Any]:
        """The tool definition sent in the Messages API request."""
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_schema}


def error(message: str, status: str = "error") -> ToolResult:
    """A failed call: the message goes to the model and into the step."""
    return ToolResult(text=f"error: {message}", status=status, summary=message)


def cap_text(text: str, tokens: int) -> str:
    """At most `tokens` (estimated), cut in the middle with a marker saying how much went."""
    if estimate_tokens(text) <= tokens:
        return text
    lines = text.splitlines()
    budget = tokens - 20  # room for the marker
    head: list[str] = []
    tail: list[str] = []
    first, last, used = 0, len(lines) - 1, 0
    while first <= last:  # alternately from the front and the back: both ends matter
        front = len(head) <= len(tail)
        line = lines[first] if front else lines[last]
        cost = estimate_tokens(line) + 1
        if used + cost > budget:
            break
        used += cost
        if front:
            head.append(line)
            first += 1
        else:
            tail.append(line)
            last -= 1
    if not head:  # one huge line: cut characters (a punctuation character may be a token)
        keep = max(budget // 2, 8)
        return f"{text[:keep]}\n…[{len(text) - 2 * keep} characters cut]…\n{text[-keep:]}"
    return "\n".join([*head, f"…[{last - first + 1} lines cut from the middle]…", *reversed(tail)])


def rows_text(rows: list[dict[str, Any]], tokens: int, offset: int = 0) -> str:
    """Rows as one compact JSON object per line, while they fit in `tokens`."""
    out: list[str] = []
    used = 0
    for index, row in enumerate(rows):
        line = json.dumps(row, separators=(",", ":"), default=str, ensure_ascii=False)
        cost = estimate_tokens(line) + 1
        if used + cost > tokens - 15:
            out.append(f"+{len(rows) - index} more rows (get_rows with offset={offset + index})")
            break
        out.append(line)
        used += cost
    return "\n".join(out)


def series_text(rows: list[dict[str, Any]], tokens: int) -> str:
    """Metric rows as one line per series: its points in time order, evenly thinned to at most
    MAX_POINTS, so a level shift shows at a glance without a row per sample."""
    series: dict[str, list[tuple[str, Any]]] = {}
    for row in rows:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(row.items())
                          if k not in ("timestamp", "metric", "value"))
        series.setdefault(f"{row['metric']}{{{labels}}}", []).append(
            (str(row.get("timestamp", "")), row["value"]))
    out: list[str] = []
    used = 0
    for index, (name, points) in enumerate(sorted(series.items())):
        points.sort(key=lambda point: point[0])
        step = max(len(points) / MAX_POINTS, 1.0)
        shown = [points[int(n * step)] for n in range(min(len(points), MAX_POINTS))]
        line = (f"{name}: {len(points)} points {points[0][0]} → {points[-1][0]}"
                f"{f' (thinned to {len(shown)})' if step > 1 else ''}: "
                + " ".join(_number(value) for _, value in shown))
        cost = estimate_tokens(line) + 1
        if used + cost > tokens - 15:
            out.append(f"+{len(series) - index} more series (get_rows for the points)")
            break
        out.append(line)
        used += cost
    return "\n".join(out)


def _number(value: Any) -> str:
    """A sample value, short."""
    return format(value, ".4g") if isinstance(value, int | float) else str(value)


def compact_evidence(evidence: Evidence, window: AnalysisWindow, tokens: int,
                     redact: Callable[[str], str]) -> str:
    """Evidence for the model: what was asked and, compacted, what came back."""
    head = [f"{evidence.connector} ({evidence.kind.value}): {evidence.status.value}, "
            f"{evidence.row_count} rows{' (truncated)' if evidence.truncated else ''}, "
            f"{evidence.start.isoformat()} → {evidence.end.isoformat()}",
            f"query: {evidence.query}"]
    if evidence.error:
        head.append(f"backend error: {evidence.error}")
    if evidence.summary:
        head.append(f"summary: {evidence.summary}")
    left = tokens - estimate_tokens("\n".join(head)) - 10
    body = ""
    if evidence.rows and left > 50:
        if evidence.kind == EvidenceKind.LOGS:
            body = compact_logs(lines_from_rows(evidence.rows), window, budget_tokens=left,
                                redact=redact)
        elif evidence.kind == EvidenceKind.METRICS and all(
                "value" in r and "metric" in r for r in evidence.rows):
            body = series_text(evidence.rows, left)
        else:
            body = rows_text(evidence.rows, left)
    return cap_text("\n".join([*head, body] if body else head), tokens)


class EvidenceIndex:
    """Evidence by step id: gathered, found by the model's own queries, or stored earlier."""

    def __init__(self, cited: list[CitedEvidence],
                 load: Callable[[str], dict[str, Any] | None]) -> None:
        self._by_id = {c.step_id: c.evidence for c in cited}
        self._load = load

    def add(self, step_id: str, evidence: Evidence) -> None:
        """Remember what a model query found."""
        self._by_id[step_id] = evidence

    def get(self, step_id: str) -> Evidence | None:
        """The evidence a step holds, if it is a query step of this investigation."""
        if step_id not in self._by_id:
            detail = self._load(step_id)
            if not detail or "connector" not in detail:
                return None
            try:
                self._by_id[step_id] = Evidence.model_validate(detail)
            except ValueError:
                return None
        return self._by_id[step_id]


def query_tools(registry: ToolRegistry, cited: list[CitedEvidence], window: AnalysisWindow,
                tokens: int, redact: Callable[[str], str]) -> list[ModelTool]:
    """One read-only query tool per connector of the service."""
    tools = []
    for name, tool in sorted(registry.tools.items()):
        connector = registry.connectors[name.removeprefix("query_")]
        examples = list(dict.fromkeys(c.evidence.query for c in cited
                                      if c.evidence.connector == connector.name))[:MAX_EXAMPLES]
        shown = "".join(f"\n- {json.dumps(q)}" for q in examples)
        description = (
            f"{tool.description} Runs exactly the query given, over [start, end) (ISO 8601 with "
            f"a timezone), and returns a compacted result: log lines as templates with counts "
            f"and change points, other rows as JSON lines. Cannot write."
            + (f" Queries already run on this connector (same syntax):{shown}" if shown else ""))
        tools.append(ModelTool(name, description, tool.parameters,
                               _query_runner(registry, name, window, tokens, redact),
                               kind=StepKind.QUERY))
    return tools


def _query_runner(registry: ToolRegistry, name: str, window: AnalysisWindow, tokens: int,
                  redact: Callable[[str], str]) -> Callable[[dict[str, Any]], ToolResult]:
    def run(arguments: dict[str, Any]) -> ToolResult:
        missing = [key for key in ("query", "start", "end") if key not in arguments]
        if missing:
            return error(f"missing required argument(s): {', '.join(missing)}")
        try:
            evidence, _started, _ms = registry.timed_call(ToolCall(name, arguments))
        except (ValueError, TypeError) as exc:  # bad timestamps, limits, ranges
            return error(f"invalid arguments: {exc}")
        except ConnectorError as exc:  # a guard refused the query: not a read
            return error(f"refused: {exc}", "refused")
        return ToolResult(compact_evidence(evidence, window, tokens, redact),
                          evidence.status.value, evidence.summary or evidence.error or "",
                          evidence.model_dump(mode="json"), evidence)
    return run


_STEP = {"type": "string", "description": "a step id, as cited in the evidence"}


def analysis_tools(index: EvidenceIndex, window: AnalysisWindow, tokens: int,
                   redact: Callable[[str], str]) -> list[ModelTool]:
    """The analyzers, over any stored evidence step."""

    def mine(arguments: dict[str, Any]) -> ToolResult:
        evidence = index.get(str(arguments.get("step_id", "")))
        if evidence is None:
            return error(f"no query step {arguments.get('step_id')!r} in this investigation")
        if evidence.kind != EvidenceKind.LOGS:
            return error(f"step {arguments['step_id']} holds {evidence.kind.value}, not logs")
        budget = min(int(arguments.get("budget_tokens", tokens)), tokens)
        text = compact_logs(lines_from_rows(evidence.rows), window, budget_tokens=budget,
                            redact=redact)
        return ToolResult(text or "no log lines", "ok" if text else "no_data",
                          text.splitlines()[0] if text else "no log lines", {"output": text})

    def rows(arguments: dict[str, Any]) -> ToolResult:
        evidence = index.get(str(arguments.get("step_id", "")))
        if evidence is None:
            return error(f"no query step {arguments.get('step_id')!r} in this investigation")
        needle = str(arguments.get("contains") or "").lower()
        matching = [r for r in evidence.rows
                    if not needle or needle in json.dumps(r, default=str).lower()]
        offset = max(int(arguments.get("offset", 0)), 0)
        page = matching[offset: offset + min(int(arguments.get("limit", 50)), MAX_PAGE_ROWS)]
        head = f"{len(matching)} matching rows of {len(evidence.rows)}; showing from {offset}"
        text = redact(head + "\n" + rows_text(page, tokens, offset))
        return ToolResult(text, "ok" if page else "no_data", head, {"output": text})

    def signals(arguments: dict[str, Any]) -> ToolResult:
        ids = [str(i) for i in arguments.get("step_ids", [])]
        unknown = [i for i in ids if index.get(i) is None]
        if unknown or not ids:
            return error(f"unknown query step(s): {unknown or 'none given'}")
        found = analyze([CitedEvidence(i, e) for i in ids if (e := index.get(i)) is not None],
                        window)
        text = "\n".join(f"- {s.kind.value}: {s.title} (strength {s.strength:.0%}"
                         f"{', from ' + s.onset.isoformat() if s.onset else ''})" for s in found)
        return ToolResult(cap_text(text or "no signal", tokens), "ok" if found else "no_data",
                          f"{len(found)} signal(s)", {"signals": [s.model_dump(mode="json")
                                                                  for s in found]})

    return [
        ModelTool("mine_log_templates",
                  "Group a logs step's lines into templates (drain3): new and risen templates "
                  "in the incident window, change points in volume and error level, samples.",
                  {"type": "object", "properties": {
                      "step_id": _STEP,
                      "budget_tokens": {"type": "integer", "minimum": 200, "maximum": tokens}},
                   "required": ["step_id"], "additionalProperties": False}, mine,
                  kind=StepKind.ANALYSIS),
        ModelTool("get_rows",
                  "Page through the stored rows of a query step, optionally only those "
                  "containing a substring (case-insensitive).",
                  {"type": "object", "properties": {
                      "step_id": _STEP, "contains": {"type": "string"},
                      "offset": {"type": "integer", "minimum": 0},
                      "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_ROWS}},
                   "required": ["step_id"], "additionalProperties": False}, rows,
                  kind=StepKind.ANALYSIS),
        ModelTool("detect_signals",
                  "Run the analyzers (error spikes, new error templates, metric level shifts, "
                  "database signals, deploys before the onset) over query steps.",
                  {"type": "object", "properties": {
                      "step_ids": {"type": "array", "items": _STEP, "minItems": 1}},
                   "required": ["step_ids"], "additionalProperties": False}, signals,
                  kind=StepKind.ANALYSIS),
    ]
