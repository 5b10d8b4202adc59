"""The Messages API tool-use loop of one investigation.

Each turn: check the budget, fit the request in the model's context window (older tool outputs
shortened when needed: `claude_fit`), build it (system prompt and tools marked for prompt
caching), replay the turn from the store if it was answered before or else ask the model and
store the answer at once, then run the turn's tool calls and store their results with their
steps. Stop reasons other than tool use are handled as `claude_stops` says. The loop ends when
the model submits valid findings, or with the rules brain's findings marked incomplete when the
budget, the API or the model gives out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
from opentelemetry.trace import Tracer

from triage.agent.base import Budget, Findings, InvestigationContext
from triage.agent.budget import Meter, Usage
from triage.agent.claude_dispatch import Toolbox, call_record
from triage.agent.claude_findings import (
    SUBMIT,
    Submission,
    findings_from,
    incomplete_findings,
    parse_submission,
    submit_tool_param,
)
from triage.agent.claude_fit import COMPACT_TO, TooLong, fit, replay_elided
from triage.agent.claude_fix import ForwardCheck, fix_tools, submitted_fix
from triage.agent.claude_ledger import spent_note, turn_step
from triage.agent.claude_link import ModelLink, Stop
from triage.agent.claude_messages import assistant_content, pricing_from, with_breakpoint
from triage.agent.claude_models import ModelSpec
from triage.agent.claude_prompt import SYSTEM, first_message
from triage.agent.claude_sandbox import SandboxSession, sandbox_tools
from triage.agent.claude_settings import ClaudeSettings
from triage.agent.claude_stops import (
    MAX_CUT_SUBMITS,
    continue_text,
    cut_call,
    cut_result,
    refusal_reason,
)
from triage.agent.claude_tools import EvidenceIndex, analysis_tools, query_tools
from triage.agent.claude_tracing import Tracing
from triage.agent.tools import ToolRegistry
from triage.agent.turns import StoredTurn, TurnStore, request_hash
from triage.analysis.redaction import Redactor
from triage.failpoints import failpoint
from triage.models import StepRecord, utcnow
from triage.observability import Metrics

MAX_NUDGES = 2
NUDGE = ("You ended your turn without calling submit_findings. Call more tools if you need "
         "evidence; otherwise call submit_findings now.")


@dataclass
class Parts:
    """What a conversation is made of, prepared by the brain."""

    settings: ClaudeSettings
    spec: ModelSpec  # the model's prices, output ceiling and context window
    context: InvestigationContext
    registry: ToolRegistry
    budget: Budget
    first: Findings
    client: anthropic.Anthropic
    turns: TurnStore
    redactor: Redactor
    session: SandboxSession | None
    playbook_description: str
    forward: ForwardCheck | None = None  # how a forward fix is verified
    metrics: Metrics | None = None  # model calls, tokens and cost; sandbox action times
    tracer: Tracer | None = None  # GenAI spans (claude_tracing); None: none


class Conversation:
    """One investigation's exchange with the model."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        settings, context = parts.settings, parts.context
        self.meter = Meter(parts.budget, pricing_from(parts.spec))
        self.tracing = Tracing(parts.tracer, context.investigation_id)
        self.notes: list[str] = []
        self.link = ModelLink(settings, parts.spec, self.meter, parts.client, self.tracing,
                              parts.metrics, self.notes)
        redact = parts.redactor.redact_text
        tokens = settings.brain_tool_output_tokens
        index = EvidenceIndex(context.evidence, parts.turns.step_detail)
        tools = [*query_tools(parts.registry, context.evidence, context.window, tokens, redact),
                 *analysis_tools(index, context.window, tokens, redact)]
        if parts.session is not None:
            tools += sandbox_tools(parts.session, tokens, settings.brain_command_timeout_seconds,
                                   redact)
            if parts.forward is not None:
                tools += fix_tools(parts.session, parts.forward, tokens, redact)
        self.toolbox = Toolbox(context.investigation_id, tools, index,
                               max_parallel=settings.brain_max_parallel_tools,
                               output_tokens=tokens, redact_value=parts.redactor.redact_value,
                               observe=self._observe, tracing=self.tracing)
        opening = first_message(context, parts.first, parts.playbook_description,
                                evidence_tokens=4 * tokens, redact=redact,
                                sandbox=self._sandbox_line())
        self.notes += opening.notes
        self.messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": opening.text}]}]
        self.known_steps = {c.step_id for c in context.evidence}
        self.known_steps |= {step for s in context.signals for step in s.evidence}
        self.last_text = ""
        self.nudges = 0
        self.cut_submits = 0
        self.compact = False  # the context window overflowed: compact the next request
        self.calls: list[dict[str, Any]] = []  # every tool call, for the report
        self.outcome: Findings | None = None
        self.stop: str | None = None
        self.forced = False  # a request has demanded submit_findings

    def _observe(self, tool: str, seconds: float) -> None:
        """Time a sandbox action for the service's metrics."""
        session, metrics = self.parts.session, self.parts.metrics
        if session is not None and metrics is not None:
            metrics.observe_sandbox(session.plan.backend.name, tool, seconds)

    def _sandbox_line(self) -> str:
        session = self.parts.session
        if session is None:
            return "No sandbox: no repository or sandbox backend is configured for this service."
        repo = session.plan.repo
        return (f"Sandbox tools work on {repo.source} at commit {repo.commit} (the deployed "
                "code); it is checked out on first use.")

    def run(self) -> Findings:
        """Talk with the model until it submits findings or a budget runs out."""
        stored = self.parts.turns.load()
        turn = 0
        with self.tracing.agent(self.link.model) as span:
            try:
                while self.outcome is None:
                    self._check_budget()
                    self._turn(turn, stored)
                    turn += 1
            except Stop as stop:
                findings = self._incomplete(str(stop))
                self.tracing.finish_agent(span, findings.usage, str(stop))
                return findings
            self.tracing.finish_agent(span, self.outcome.usage, None)
        return self.outcome

    def _check_budget(self) -> None:
        """Stop when no further turn is allowed."""
        reason = self.meter.exhausted()
        if reason is None and self.meter.tool_calls_left() == 0 and self.forced:
            reason = f"tool-call budget ({self.parts.budget.max_tool_calls}) used up"
        if reason:
            raise Stop(reason)

    def _turn(self, turn: int, stored: dict[int, StoredTurn]) -> None:
        """One turn: the model's answer (stored, or asked and stored at once), then its tools
        (their stored results, or run now and stored with their steps)."""
        record, started = stored.get(turn), utcnow()
        elided = replay_elided(self.messages, record.usage.get("elided") or []) if record else []
        request = self._request()
        digest = request_hash(request)
        if record is not None and record.request_hash != digest:
            self.parts.turns.forget_from(turn)  # the conversation diverged here
            for later in [n for n in stored if n >= turn]:
                del stored[later]
            record = None
        if record is not None:
            response = record.response
            self.link.replay(record.usage)
        else:
            elided += self._fit()
            request = self._request()
            digest = request_hash(request)
            response, attempts = self.link.ask(request)
            self.parts.turns.save_turn(turn, digest, response, {
                **(response.get("usage") or {}), **attempts, "model": self.link.model,
                "elided": elided})
            failpoint(f"claude:turn:{turn}")  # stored, tools not yet run
        usage = Usage.from_api(response.get("usage") or {})
        self.meter.record_turn(usage)
        content = list(response.get("content") or [])
        self.messages.append({"role": "assistant", "content": assistant_content(content)})
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
        self.last_text = text or self.last_text
        calls = [b for b in content if b.get("type") == "tool_use"]
        stop = str(response.get("stop_reason") or "")
        if record is not None and record.tool_results is not None:
            answer = record.tool_results
            self._replay(turn, stop, response, content, calls, answer)
        else:
            answer, records = self._answer(turn, stop, response, content, calls)
            step = turn_step(self.parts.context.investigation_id, turn, request, response, usage,
                             self.meter.pricing.cost(usage), text, calls, started)
            self.parts.turns.save_tool_results(turn, answer, [step, *records])
            failpoint(f"claude:tools:{turn}")  # results stored
        self.calls += answer.get("calls") or []
        if self.stop is not None:
            raise Stop(self.stop)
        self.messages.append({"role": "user", "content": answer["content"]})

    def _fit(self) -> list[str]:
        """Shorten older tool results until the next request fits the context window (with
        room for the answer); the ids shortened. Stop when it cannot fit."""
        room = self.link.spec.context_window - self.link.max_tokens()
        limit = int(room * COMPACT_TO) if self.compact else room
        try:
            elided = fit(self.messages, self._request, limit, self.link.caller.count_tokens,
                         force=self.compact)
        except TooLong as exc:
            raise Stop(str(exc)) from exc
        self.compact = False
        return elided

    def _request(self) -> dict[str, Any]:
        """The next Messages API request (deterministic: a replay hashes the same)."""
        request: dict[str, Any] = {
            "model": self.link.model, "max_tokens": self.link.max_tokens(),
            "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "tools": [*self.toolbox.params(), submit_tool_param()],
            "messages": with_breakpoint(self.messages),
        }
        if self.meter.last_turn() or self.meter.tool_calls_left() == 0:
            request["tool_choice"] = {"type": "tool", "name": SUBMIT}  # the last word: findings
            self.forced = True
        return request

    def _answer(self, turn: int, stop: str, response: dict[str, Any],
                content: list[dict[str, Any]], calls: list[dict[str, Any]]
                ) -> tuple[dict[str, Any], list[StepRecord]]:
        """Run the turn's tools (or nudge the model); the answer to send, and the steps."""
        if stop == "refusal":  # the refused turn's calls are not run
            self.stop = refusal_reason(response, self.link.model)
            return {"content": [], "notes": []}, []
        if not calls:
            return {"content": self._no_calls(stop, response), "notes": []}, []
        cut = cut_call(content, stop)
        self.compact = self.compact or stop == "model_context_window_exceeded"
        run = [c for c in calls if c is not cut]
        outcome = self.toolbox.run(turn, [c for c in run if c["name"] != SUBMIT], self.meter)
        self.notes += outcome.notes
        results = outcome.results + [self._submit(c) for c in run if c["name"] == SUBMIT]
        if cut is not None:
            results.append(self._cut(cut, stop, response))
        records = outcome.calls + [self._submit_record(turn, c, results) for c in calls
                                   if c["name"] == SUBMIT]
        blocks = self._ordered(calls, results)
        said = continue_text(stop, self._turn_max_tokens(response), cut, len(run))
        if said:
            blocks.append({"type": "text", "text": said})
        return ({"content": blocks, "notes": outcome.notes, "calls": records},
                outcome.records)

    def _replay(self, turn: int, stop: str, response: dict[str, Any],
                content: list[dict[str, Any]], calls: list[dict[str, Any]],
                answer: dict[str, Any]) -> None:
        """Re-trace a turn whose answer is stored: same budget, notes, sandbox and outcome."""
        if stop == "refusal":
            self.stop = refusal_reason(response, self.link.model)
            return
        if not calls:
            self._no_calls(stop, response)
            return
        cut = cut_call(content, stop)
        self.compact = self.compact or stop == "model_context_window_exceeded"
        run = [c for c in calls if c is not cut]
        failed = {b.get("tool_use_id") for b in answer["content"] if b.get("is_error")}
        self.toolbox.replay(turn, [c for c in run if c["name"] != SUBMIT],
                            {str(f) for f in failed}, self.meter)
        self.notes += answer.get("notes", [])
        for call in run:
            if call["name"] == SUBMIT:
                self._submit(call)
        if cut is not None:
            self._cut(cut, stop, response)

    def _no_calls(self, stop: str, response: dict[str, Any]) -> list[dict[str, Any]]:
        """A turn without tool calls: continue a cut reply, or remind the model to submit."""
        self.nudges += 1
        if self.nudges > MAX_NUDGES:
            self.stop = f"the model ended {self.nudges} turns without submitting findings"
        self.compact = self.compact or stop == "model_context_window_exceeded"
        text = continue_text(stop, self._turn_max_tokens(response), None, 0) or NUDGE
        return [{"type": "text", "text": text}]

    @staticmethod
    def _turn_max_tokens(response: dict[str, Any]) -> int:
        """The output tokens the cut turn wrote (its max_tokens, when cut there)."""
        return int((response.get("usage") or {}).get("output_tokens") or 0)

    def _cut(self, call: dict[str, Any], stop: str, response: dict[str, Any]) -> dict[str, Any]:
        """The tool_result of a call cut off mid-write; a second cut submit ends the talk."""
        if call["name"] == SUBMIT:
            self.cut_submits += 1
            if self.cut_submits > MAX_CUT_SUBMITS:
                self.stop = (f"submit_findings was cut off {self.cut_submits} times ({stop}); "
                             "the findings could not be read")
        return {"type": "tool_result", "tool_use_id": call["id"], "is_error": True,
                "content": cut_result(call, stop, self._turn_max_tokens(response))}

    def _submit_record(self, turn: int, call: dict[str, Any],
                       results: list[dict[str, Any]]) -> dict[str, Any]:
        """A submit_findings call as the report lists it."""
        result = next(r for r in results if r["tool_use_id"] == call["id"])
        raw = dict(call.get("input") or {})
        arguments = {"summary": raw.get("summary"),
                     "hypotheses": len(raw.get("hypotheses") or [])}
        status = "error" if result.get("is_error") else "ok"
        return call_record(None, turn, SUBMIT, self.parts.redactor.redact_value(arguments),
                           status, str(result["content"]), 0.0)

    @staticmethod
    def _ordered(calls: list[dict[str, Any]], results: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
        """Tool results in the order of the calls."""
        by_id = {r["tool_use_id"]: r for r in results}
        return [by_id[c["id"]] for c in calls]

    def _submit(self, call: dict[str, Any]) -> dict[str, Any]:
        """Validate a submit_findings call; a valid one ends the conversation."""
        block = {"type": "tool_result", "tool_use_id": call["id"]}
        if self.outcome is not None:
            return {**block, "is_error": True, "content": "only one submit_findings is accepted"}
        known = self.known_steps | self.toolbox.step_ids
        parsed = parse_submission(dict(call.get("input") or {}), known)
        fix = (submitted_fix(parsed.fix_proposal, self.parts.session, self.parts.forward,
                             self.parts.redactor.redact_text)
               if isinstance(parsed, Submission) else None)
        problem = parsed if isinstance(parsed, str) else fix if isinstance(fix, str) else None
        if problem is not None:
            return {**block, "is_error": True, "content": problem}
        assert isinstance(parsed, Submission)
        assert not isinstance(fix, str)
        self.outcome = findings_from(parsed, self._final_notes(), self._usage(), fix)
        return {**block, "content": "accepted"}

    def _usage(self) -> dict[str, Any]:
        return {**self.meter.summary(self.link.model), "tool_call_log": self.calls}

    def _final_notes(self) -> list[str]:
        """Injection flags (once each), then what the model cost against the caps."""
        return [*dict.fromkeys(self.notes), spent_note(self.link.model, self.meter)]

    def _incomplete(self, reason: str) -> Findings:
        """The rules brain's findings, marked incomplete, with why and what it cost."""
        return incomplete_findings(self.parts.first, reason, self._final_notes(), self._usage(),
                                   self.last_text)
