"""Runs the tool calls of one model turn and records each as a step.

- calls of one turn run concurrently; sandbox calls run one after another, in the model's order
  (an edit must land before the test run that follows it);
- a call identical to an earlier one (same tool, same arguments, and for sandbox calls no edit
  since) is refused with a message pointing at the earlier step;
- every result is wrapped as data (`<tool_output>`), capped, scanned for prompt-injection
  phrasings (flagged in the result and in the report's notes), and recorded with its arguments.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from connectors.base import clip_cell
from triage.agent.budget import Meter
from triage.agent.claude_tools import EvidenceIndex, ModelTool, ToolResult, cap_text, error
from triage.agent.claude_tracing import Tracing
from triage.agent.injection import Suspicion, scan, warning
from triage.analysis.compaction import estimate_tokens
from triage.models import StepKind, StepRecord, utcnow

log = logging.getLogger(__name__)
_TAGS = re.compile(r"<(/?)\s*(tool_output|evidence)\b", re.IGNORECASE)


def step_id(investigation_id: str, turn: int, index: int | None = None) -> str:
    """Deterministic step ids: a turn's own step, and each of its tool calls."""
    base = f"{investigation_id}:brain:t{turn:03d}"
    return base if index is None else f"{base}.{index:02d}"


def neutralize(text: str) -> str:
    """Data cannot close or open our own wrapper tags."""
    return _TAGS.sub(lambda m: f"‹{m.group(1)}{m.group(2)}", text)


def wrap(tool: str, step: str, status: str, text: str, suspicions: list[Suspicion]) -> str:
    """A tool result as the model receives it: clearly marked data."""
    flagged = warning(suspicions) + "\n" if suspicions else ""
    return (f'<tool_output tool="{tool}" step="{step}" status="{status}">\n'
            f"{flagged}{neutralize(text)}\n</tool_output>")


def injection_note(tool: str, step: str, suspicions: list[Suspicion]) -> str:
    """The report's note for a flagged output."""
    quoted = "; ".join(f"{s.kind}: “{s.snippet}”" for s in suspicions)
    return (f"Possible prompt injection in the output of {tool} (step {step}): {quoted}. "
            "It was passed to the model as data with a warning; the tools it could use did not "
            "change (read-only queries, a sandbox without network or credentials).")


@dataclass
class TurnOutcome:
    """The tool results to send back, in call order, and the steps they made."""

    results: list[dict[str, Any]] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # for the report's audit table


def call_record(step: str | None, turn: int, tool: str, arguments: dict[str, Any], status: str,
                result: str, ms: float) -> dict[str, Any]:
    """One tool call as the report's model section lists it (arguments clipped; redacted by the
    caller)."""
    return {"step": step, "turn": turn + 1, "tool": tool,
            "arguments": {k: clip_cell(v) for k, v in arguments.items()}, "status": status,
            "result_tokens": estimate_tokens(result), "ms": round(ms, 1)}


@dataclass
class _Planned:
    index: int
    call: dict[str, Any]
    tool: ModelTool | None
    refusal: str | None = None
    result: ToolResult | None = None
    started: Any = None
    ms: float = 0.0


class Toolbox:
    """The tools of one conversation, and what has been called so far."""

    def __init__(self, investigation_id: str, tools: list[ModelTool], index: EvidenceIndex, *,
                 max_parallel: int, output_tokens: int, redact_value: Callable[[Any], Any],
                 observe: Callable[[str, float], None] | None = None,
                 tracing: Tracing | None = None) -> None:
        """`observe(tool, seconds)` is told how long each sandbox call took; `tracing` makes an
        `execute_tool` span of each call run."""
        self.tracing = tracing or Tracing(None, investigation_id)
        self.investigation_id = investigation_id
        self.tools = {tool.name: tool for tool in tools}
        self.index = index
        self.max_parallel = max_parallel
        self.output_tokens = output_tokens
        self.redact_value = redact_value
        self.notes: list[str] = []
        self.step_ids: set[str] = set()
        self._seen: dict[str, str] = {}  # call key -> the step that made it first
        self._generation = 0  # sandbox edits so far
        self._observe = observe

    def params(self) -> list[dict[str, Any]]:
        """Tool definitions for the request, in a stable order (part of the cached prefix)."""
        return [self.tools[name].param() for name in sorted(self.tools)]

    def _key(self, tool: ModelTool, arguments: dict[str, Any]) -> str:
        edits = f"@{self._generation}" if tool.sandbox else ""
        return f"{tool.name}{edits}:{json.dumps(arguments, sort_keys=True, default=str)}"

    def _plan(self, turn: int, calls: list[dict[str, Any]], meter: Meter) -> list[_Planned]:
        """The calls in order; all but sandbox calls are admitted (or refused) now. Sandbox calls
        are admitted when their turn comes, since an edit before them makes them new calls."""
        planned = [_Planned(index, call, self.tools.get(call["name"]))
                   for index, call in enumerate(calls)]
        for item in planned:
            self.step_ids.add(step_id(self.investigation_id, turn, item.index))
            if item.tool is None or not item.tool.sandbox:
                self._admit(turn, item, meter)
        return planned

    def _admit(self, turn: int, item: _Planned, meter: Meter) -> None:
        """Refuse an unknown, repeated or over-budget call; count the others."""
        tool = item.tool
        if tool is None:
            item.refusal = f"unknown tool {item.call['name']!r}; available: {', '.join(self.tools)}"
            return
        key = self._key(tool, item.call.get("input") or {})
        if key in self._seen:
            item.refusal = (f"refused: this exact call was already made (step {self._seen[key]}); "
                            "its result is above. Change the arguments or use another tool.")
            return
        left = meter.tool_calls_left()
        if left is not None and left <= 0:
            item.refusal = "refused: the tool-call budget is used up; call submit_findings now"
            return
        self._seen[key] = step_id(self.investigation_id, turn, item.index)
        meter.tool_calls += 1

    def run(self, turn: int, calls: list[dict[str, Any]], meter: Meter) -> TurnOutcome:
        """Run one turn's calls (concurrently where allowed); results in call order."""
        planned = self._plan(turn, calls, meter)
        sandboxed = [p for p in planned if p.tool is not None and p.tool.sandbox]
        tasks: list[list[_Planned]] = [[p] for p in planned if p.refusal is None
                                       and p.tool is not None and not p.tool.sandbox]
        if sandboxed:
            tasks.append(sandboxed)
        if tasks:
            with ThreadPoolExecutor(max_workers=min(self.max_parallel, len(tasks))) as pool:
                list(pool.map(lambda items: self._run_serially(turn, items, meter), tasks))
        outcome, noted = TurnOutcome(), len(self.notes)
        for item in planned:
            block, record = self._finish(turn, item)
            outcome.results.append(block)
            outcome.records.append(record)
            outcome.calls.append(call_record(record.id, turn, item.call["name"],
                                             self.redact_value(dict(item.call.get("input") or {})),
                                             record.status, str(block["content"]), item.ms))
        outcome.notes = self.notes[noted:]
        return outcome

    def _run_serially(self, turn: int, items: list[_Planned], meter: Meter) -> None:
        for item in items:
            assert item.tool is not None
            if item.tool.sandbox:
                self._admit(turn, item, meter)  # only this task touches the meter meanwhile
                if item.refusal is not None:
                    continue
            item.started, clock = utcnow(), time.perf_counter()
            with self.tracing.tool(item.tool.name, str(item.call["id"]),
                                   item.tool.description) as span:
                try:
                    item.result = item.tool.run(dict(item.call.get("input") or {}))
                except Exception as exc:  # a tool bug must not end the investigation
                    log.exception("tool %s failed", item.tool.name)
                    item.result = error(f"the tool failed: {type(exc).__name__}: {exc}")
                if item.result.status in ("error", "refused"):
                    self.tracing.failed(span, item.result.status, item.result.summary or "")
            item.ms = (time.perf_counter() - clock) * 1000
            if item.tool.mutates and item.result.status == "ok":
                self._generation += 1
            if item.tool.sandbox and self._observe is not None:
                self._observe(item.tool.name, item.ms / 1000)

    def _finish(self, turn: int, item: _Planned) -> tuple[dict[str, Any], StepRecord]:
        """The tool_result block and the step of one call."""
        step = step_id(self.investigation_id, turn, item.index)
        name = item.call["name"]
        result = item.result or error(item.refusal or "not run", "refused")
        if result.evidence is not None:
            self.index.add(step, result.evidence)
        text = cap_text(result.text, self.output_tokens)
        suspicions = scan(text)
        if suspicions:
            self.notes.append(injection_note(name, step, suspicions))
        block = {"type": "tool_result", "tool_use_id": item.call["id"],
                 "content": wrap(name, step, result.status, text, suspicions)}
        if result.status in ("error", "refused"):
            block["is_error"] = True
        kind = item.tool.kind if item.tool else StepKind.TOOL
        arguments = {"tool": name, **{k: clip_cell(v) for k, v in (item.call.get("input") or {}).items()}}
        summary = result.summary or (result.text.splitlines() or [result.status])[0]
        if suspicions:
            summary += " [possible prompt injection: flagged]"
        detail = result.detail if kind == StepKind.QUERY else {**result.detail, "output": text}
        record = StepRecord(
            id=step, investigation_id=self.investigation_id, stage="brain",
            seq=turn * 100 + item.index + 1, kind=kind, name=f"{name} (turn {turn + 1})",
            arguments=self.redact_value(arguments), status=result.status,
            started_at=item.started or utcnow(), duration_ms=round(item.ms, 1),
            summary=summary[:500], detail=detail)
        return block, record

    def replay(self, turn: int, calls: list[dict[str, Any]], failed: set[str],
               meter: Meter) -> None:
        """Account for a turn whose results are stored: the same refusals and call budget;
        sandbox edits that succeeded then are applied again to this execution's checkout."""
        for item in self._plan(turn, calls, meter):
            if item.tool is None or not item.tool.sandbox:
                continue
            self._admit(turn, item, meter)
            if item.refusal is None and item.tool.mutates and item.call["id"] not in failed:
                item.tool.run(dict(item.call.get("input") or {}))
                self._generation += 1
