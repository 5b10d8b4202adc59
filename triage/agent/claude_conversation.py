"""The Messages API tool-use loop of one investigation.

Each turn: check the budget, build the request (system prompt and tools marked for prompt
caching), replay the turn from the store if it was answered before or else ask the model and
store the answer at once, then run the turn's tool calls and store their results with their
steps. The loop ends when the model submits valid findings, or with the rules brain's findings
marked incomplete when the budget, the API or the model gives out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic

from sandbox.base import SandboxError
from triage.agent.base import Budget, Findings, FixProposal, InvestigationContext
from triage.agent.budget import Meter, Usage
from triage.agent.claude_calls import Caller, CallFailed
from triage.agent.claude_dispatch import Toolbox, step_id
from triage.agent.claude_findings import (
    SUBMIT,
    Submission,
    findings_from,
    incomplete_findings,
    parse_submission,
    submit_tool_param,
)
from triage.agent.claude_fix import ForwardCheck, fix_tools, proposal_of, verify_forward
from triage.agent.claude_messages import assistant_content, pricing_from, with_breakpoint
from triage.agent.claude_models import ModelSpec
from triage.agent.claude_prompt import SYSTEM, first_message
from triage.agent.claude_sandbox import SandboxSession, sandbox_tools
from triage.agent.claude_settings import ClaudeSettings
from triage.agent.claude_tools import EvidenceIndex, analysis_tools, query_tools
from triage.agent.tools import ToolRegistry
from triage.agent.turns import StoredTurn, TurnStore, request_hash
from triage.analysis.redaction import Redactor
from triage.failpoints import failpoint
from triage.models import StepKind, StepRecord, utcnow
from triage.observability import Metrics


class _Stop(Exception):
    """The conversation ends before findings were submitted; the message says why."""


MAX_NUDGES = 2
NUDGE = ("You ended your turn without calling submit_findings. Call more tools if you need "
         "evidence; otherwise call submit_findings now.")
CUT = ("Your reply was cut off at max_tokens, so its tool calls were not run. Make fewer or "
       "smaller calls per turn.")


@dataclass
class Parts:
    """What a conversation is made of, prepared by the brain."""

    settings: ClaudeSettings
    spec: ModelSpec  # the model's prices and output ceiling
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


class Conversation:
    """One investigation's exchange with the model."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        settings, context = parts.settings, parts.context
        self.meter = Meter(parts.budget, pricing_from(parts.spec))
        self.caller = Caller(parts.client, max_retries=settings.anthropic_max_retries,
                             timeout=settings.anthropic_timeout_seconds, meter=self.meter,
                             count=self._count_call)
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
                               observe=self._observe)
        opening = first_message(context, parts.first, parts.playbook_description,
                                evidence_tokens=4 * tokens, redact=redact,
                                sandbox=self._sandbox_line())
        self.notes: list[str] = list(opening.notes)
        self.messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": opening.text}]}]
        self.known_steps = {c.step_id for c in context.evidence}
        self.known_steps |= {step for s in context.signals for step in s.evidence}
        self.last_text = ""
        self.nudges = 0
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
        try:
            while self.outcome is None:
                self._check_budget()
                self._turn(turn, stored)
                turn += 1
        except _Stop as stop:
            return self._incomplete(str(stop))
        return self.outcome

    def _check_budget(self) -> None:
        """Stop when no further turn is allowed."""
        reason = self.meter.exhausted()
        if reason is None and self.meter.tool_calls_left() == 0 and self.forced:
            reason = f"tool-call budget ({self.parts.budget.max_tool_calls}) used up"
        if reason:
            raise _Stop(reason)

    def _turn(self, turn: int, stored: dict[int, StoredTurn]) -> None:
        """One turn: the model's answer (stored, or asked and stored at once), then its tools
        (their stored results, or run now and stored with their steps)."""
        request, started = self._request(), utcnow()
        digest, record = request_hash(request), stored.get(turn)
        if record is not None and record.request_hash != digest:
            self.parts.turns.forget_from(turn)  # the conversation diverged here
            for later in [n for n in stored if n >= turn]:
                del stored[later]
            record = None
        if record is not None:
            response = record.response
            self._replay_attempts(record.usage)
        else:
            response, attempts = self._ask(request)
            self.parts.turns.save_turn(turn, digest, response,
                                       {**(response.get("usage") or {}), **attempts})
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
            self._replay(turn, stop, calls, answer)
        else:
            answer, records = self._answer(turn, stop, calls)
            step = self._turn_step(turn, request, response, usage, text, calls, started)
            self.parts.turns.save_tool_results(turn, answer, [step, *records])
            failpoint(f"claude:tools:{turn}")  # results stored
        if self.stop is not None:
            raise _Stop(self.stop)
        self.messages.append({"role": "user", "content": answer["content"]})

    def _ask(self, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A live model call (its attempts counted); the answer, and what its attempts were
        (kept with the turn, so a replay counts them again); _Stop when the API fails for good."""
        attempts, abandoned = self.meter.attempts, self.meter.abandoned.as_dict()
        try:
            response = self.caller.ask(request)
        except CallFailed as exc:
            if exc.out_of_time:
                raise _Stop(f"time budget ({self.parts.budget.max_seconds:g} s) used up waiting "
                            f"for the model ({exc})") from exc
            raise _Stop(f"the Messages API failed: {exc}") from exc
        spent = {k: n - abandoned[k] for k, n in self.meter.abandoned.as_dict().items()}
        return response, {"attempts": self.meter.attempts - attempts, "abandoned": spent}

    def _replay_attempts(self, usage: dict[str, Any]) -> None:
        """Count a stored turn's attempts again: the abandoned ones were paid for too."""
        self.meter.record_attempt(Usage.from_api(usage.get("abandoned") or {}),
                                  count=int(usage.get("attempts") or 1))

    def _count_call(self, outcome: str, usage: Usage | None = None) -> None:
        """Tell the service's metrics about one (live, not replayed) model call attempt."""
        metrics, model = self.parts.metrics, self.parts.settings.anthropic_model
        if metrics is None:
            return
        metrics.record_model_call(model, outcome)
        if usage is not None:
            metrics.record_model_usage(
                model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens,
                cache_write_tokens=usage.cache_creation_input_tokens,
                cost_usd=self.meter.pricing.cost(usage))

    def _request(self) -> dict[str, Any]:
        """The next Messages API request (deterministic: a replay hashes the same)."""
        settings = self.parts.settings
        max_tokens = min(settings.anthropic_max_tokens, self.parts.spec.max_output_tokens)
        left = self.meter.output_left()
        if left is not None:
            max_tokens = min(max_tokens, left)
        request: dict[str, Any] = {
            "model": settings.anthropic_model, "max_tokens": max_tokens,
            "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "tools": [*self.toolbox.params(), submit_tool_param()],
            "messages": with_breakpoint(self.messages),
        }
        if self.meter.last_turn() or self.meter.tool_calls_left() == 0:
            request["tool_choice"] = {"type": "tool", "name": SUBMIT}  # the last word: findings
            self.forced = True
        return request

    def _answer(self, turn: int, stop: str, calls: list[dict[str, Any]]
                ) -> tuple[dict[str, Any], list[StepRecord]]:
        """Run the turn's tools (or nudge the model); the answer to send, and the steps."""
        if calls and stop == "max_tokens":
            blocks: list[dict[str, Any]] = [
                {"type": "tool_result", "tool_use_id": c["id"], "is_error": True,
                 "content": "not run: your reply was cut off at max_tokens"} for c in calls]
            return {"content": [*blocks, {"type": "text", "text": CUT}], "notes": []}, []
        if not calls:
            return {"content": self._no_calls(stop), "notes": []}, []
        tools = [c for c in calls if c["name"] != SUBMIT]
        outcome = self.toolbox.run(turn, tools, self.meter)
        self.notes += outcome.notes
        results = outcome.results + [self._submit(c) for c in calls if c["name"] == SUBMIT]
        return {"content": self._ordered(calls, results), "notes": outcome.notes}, outcome.records

    def _replay(self, turn: int, stop: str, calls: list[dict[str, Any]],
                answer: dict[str, Any]) -> None:
        """Re-trace a turn whose answer is stored: same budget, notes, sandbox and outcome."""
        if calls and stop == "max_tokens":
            return
        if not calls:
            self._no_calls(stop)
            return
        failed = {b.get("tool_use_id") for b in answer["content"] if b.get("is_error")}
        self.toolbox.replay(turn, [c for c in calls if c["name"] != SUBMIT],
                            {str(f) for f in failed}, self.meter)
        self.notes += answer.get("notes", [])
        for call in calls:
            if call["name"] == SUBMIT:
                self._submit(call)

    def _no_calls(self, stop: str) -> list[dict[str, Any]]:
        """A turn without tool calls: the model refused, or must be reminded to submit."""
        if stop == "refusal":
            self.stop = "the model declined to continue (stop_reason refusal)"
            return []
        self.nudges += 1
        if self.nudges > MAX_NUDGES:
            self.stop = f"the model ended {self.nudges} turns without submitting findings"
        text = CUT if stop == "max_tokens" else NUDGE
        return [{"type": "text", "text": text}]

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
        fix = self._fix(parsed) if isinstance(parsed, Submission) else None
        problem = parsed if isinstance(parsed, str) else fix if isinstance(fix, str) else None
        if problem is not None:
            return {**block, "is_error": True, "content": problem}
        assert isinstance(parsed, Submission)
        assert not isinstance(fix, str)
        self.outcome = findings_from(parsed, self._final_notes(), self._usage(), fix)
        return {**block, "content": "accepted"}

    def _fix(self, submission: Submission) -> FixProposal | str | None:
        """The proposed fix, with the sandbox's diff for a forward fix; or what is wrong."""
        proposal = submission.fix_proposal
        if proposal is None or proposal.kind == "none":
            return None
        if proposal.kind == "revert":
            if not proposal.commit:
                return "fix_proposal of kind revert needs the commit to revert"
            return FixProposal(kind="revert", description=proposal.description,
                               commit=proposal.commit)
        session = self.parts.session
        if session is None or not session.edited:
            return ("fix_proposal of kind forward needs edits in the sandbox checkout "
                    "(replace_in_file / write_file); there are none")
        try:
            diff = session.diff()  # stages exactly the edited files: the commit's content
        except SandboxError as exc:
            return f"could not take the diff of your edits: {exc}"
        if not diff.strip():
            return "your edits change nothing on the deployed commit"
        diff = self.parts.redactor.redact_text(diff)
        if self.parts.forward is None:
            return FixProposal(kind="forward", description=proposal.description, diff=diff,
                               verification=["not verified: no repro is planned"])
        # The same verification as a revert: committed on the deployed commit, then the repro
        # must pass and the tests must pass. Only then is it a candidate.
        record = verify_forward(session.get(), self.parts.forward, proposal.description)
        return proposal_of(record, proposal.description, diff)

    def _usage(self) -> dict[str, Any]:
        return self.meter.summary(self.parts.settings.anthropic_model)

    def _final_notes(self) -> list[str]:
        """Injection flags (once each), then what the model cost."""
        meter, usage = self.meter, self.meter.usage
        retried = meter.attempts - meter.turns
        spent = (f"{self.parts.settings.anthropic_model}: {meter.turns} turn(s), "
                 f"{meter.tool_calls} tool call(s), {meter.all_input:,} input tokens "
                 f"({usage.cache_read_input_tokens:,} read from the prompt cache), "
                 f"{usage.output_tokens:,} output tokens, ${meter.cost:.4f}")
        if retried > 0:
            spent += (f"; {meter.attempts} request(s) sent, {retried} without an answer "
                      f"(charged ${meter.pricing.cost(meter.abandoned):.4f})")
        return [*dict.fromkeys(self.notes), spent]

    def _incomplete(self, reason: str) -> Findings:
        """The rules brain's findings, marked incomplete, with why and what it cost."""
        return incomplete_findings(self.parts.first, reason, self._final_notes(), self._usage(),
                                   self.last_text)

    def _turn_step(self, turn: int, request: dict[str, Any], response: dict[str, Any],
                   usage: Usage, text: str, calls: list[dict[str, Any]],
                   started: Any) -> StepRecord:
        """The step that records one model turn."""
        names = ", ".join(c["name"] for c in calls)
        summary = (text[:300] + (" → " if names else "")) if text else ""
        summary += f"{len(calls)} tool call(s): {names}" if calls else ""
        return StepRecord(
            id=step_id(self.parts.context.investigation_id, turn),
            investigation_id=self.parts.context.investigation_id, stage="brain", seq=turn * 100,
            kind=StepKind.STAGE, name=f"model turn {turn + 1}",
            arguments={"model": request["model"], "max_tokens": request["max_tokens"],
                       "messages": len(request["messages"]),
                       "forced_submit": "tool_choice" in request},
            status=str(response.get("stop_reason") or "unknown"), started_at=started,
            duration_ms=round((utcnow() - started).total_seconds() * 1000, 1),
            summary=summary or "(no text)",
            detail={"id": response.get("id"), "stop_reason": response.get("stop_reason"),
                    "text": text, "tool_calls": [{k: c[k] for k in ("id", "name", "input")}
                                                 for c in calls],
                    "usage": usage.as_dict(), "cost_usd": self.meter.pricing.cost(usage)})
