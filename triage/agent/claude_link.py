"""The conversation's line to the model: which model answers (the configured one, or the
fallback after a refusal), each turn asked (a max_tokens cut asked again once with more room, a
refusal asked of the fallback model), traced, counted in the meter and the metrics."""

from __future__ import annotations

from typing import Any

import anthropic

from triage.agent.budget import Meter, Usage
from triage.agent.claude_calls import Caller, CallFailed
from triage.agent.claude_ledger import count_attempt
from triage.agent.claude_messages import pricing_from
from triage.agent.claude_models import ModelSpec, model_spec
from triage.agent.claude_settings import ClaudeSettings
from triage.agent.claude_stops import raised_max_tokens, refusal_reason
from triage.agent.claude_tracing import Tracing
from triage.observability import Metrics


class Stop(Exception):
    """The conversation ends before findings were submitted; the message says why."""


class ModelLink:
    """Asks the model for turns, within the meter's budget."""

    def __init__(self, settings: ClaudeSettings, spec: ModelSpec, meter: Meter,
                 client: anthropic.Anthropic, tracing: Tracing, metrics: Metrics | None,
                 notes: list[str]) -> None:
        """`notes` is the conversation's list: a fallback is noted there."""
        self.settings, self.meter, self.tracing, self.metrics = settings, meter, tracing, metrics
        self.model, self.spec = settings.anthropic_model, spec
        self.notes = notes
        self.caller = Caller(client, max_retries=settings.anthropic_max_retries,
                             timeout=settings.anthropic_timeout_seconds, meter=meter,
                             count=self._count_call, retried=self._count_retry)

    def max_tokens(self) -> int:
        """The next turn's max_tokens: the setting, within the model's ceiling and the output
        budget left."""
        max_tokens = min(self.settings.anthropic_max_tokens, self.spec.max_output_tokens)
        left = self.meter.output_left()
        return min(max_tokens, left) if left is not None else max_tokens

    def ask(self, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A live model turn: asked again once with more room when cut at max_tokens, and of
        the fallback model when refused. The answer, and what its attempts were (kept with the
        turn, so a replay counts them again); Stop when the API fails for good."""
        attempts, abandoned = self.meter.attempts, self.meter.abandoned.as_dict()
        noted = len(self.notes)
        response = self._call(request)
        if response.get("stop_reason") == "max_tokens":
            left = self.meter.output_left()  # less what the cut answer wrote, if it is dropped
            written = int((response.get("usage") or {}).get("output_tokens") or 0)
            raised = raised_max_tokens(request["max_tokens"], self.spec.max_output_tokens,
                                       None if left is None else left - written)
            if raised is not None:
                self._discard(response)
                response = self._call({**request, "max_tokens": raised})
        fallback = self.settings.anthropic_fallback_model
        if response.get("stop_reason") == "refusal" and fallback and fallback != self.model:
            self.notes.append(f"{refusal_reason(response, self.model)}; the turn was asked of "
                              f"the fallback model {fallback}, which answered from then on")
            self._discard(response)
            self._switch(fallback)
            response = self._call({**request, "model": fallback,
                                   "max_tokens": min(request["max_tokens"], self.max_tokens())})
        spent = {k: n - abandoned[k] for k, n in self.meter.abandoned.as_dict().items()}
        return response, {"attempts": self.meter.attempts - attempts, "abandoned": spent,
                          "notes": self.notes[noted:]}

    def replay(self, usage: dict[str, Any]) -> None:
        """Count a stored turn's attempts again (the abandoned ones were paid for too), and
        go on with the model that answered it."""
        self.meter.record_attempt(Usage.from_api(usage.get("abandoned") or {}),
                                  count=int(usage.get("attempts") or 1))
        self.notes += [str(note) for note in usage.get("notes") or []]
        model = usage.get("model")
        if isinstance(model, str) and model != self.model:
            self._switch(model)

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        """One answered request (retried within the time budget), traced."""
        with self.tracing.chat(request) as span:
            try:
                response = self.caller.ask(request)
            except CallFailed as exc:
                self.tracing.failed(span, str(exc.status or "no_answer"), str(exc))
                if exc.out_of_time:
                    raise Stop(f"time budget ({self.meter.budget.max_seconds:g} s) used up "
                               f"waiting for the model ({exc})") from exc
                raise Stop(f"the Messages API failed: {exc}") from exc
            self.tracing.answered(span, response)
        return response

    def _discard(self, response: dict[str, Any]) -> None:
        """An answer that is asked again: paid for, never part of the conversation."""
        self.meter.record_attempt(Usage.from_api(response.get("usage") or {}), count=0)

    def _switch(self, model: str) -> None:
        """Go on with another model (its prices, ceiling and window)."""
        spec = model_spec(model, self.settings.anthropic_models)
        assert spec is not None  # model_problem checked the fallback model's price at start
        self.model, self.spec = model, spec
        self.meter.pricing = pricing_from(spec)

    def _count_call(self, outcome: str, usage: Usage | None = None) -> None:
        """Tell the service's metrics about one (live, not replayed) model call attempt."""
        count_attempt(self.metrics, self.model, self.meter, outcome, usage)

    def _count_retry(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.record_model_retry(self.model, reason)
