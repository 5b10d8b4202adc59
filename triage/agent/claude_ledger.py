"""What a conversation records besides the messages: the step of each model turn, the notes on
what the model cost (spent / cap), and the metrics of each attempt."""

from __future__ import annotations

from typing import Any

from triage.agent.budget import Meter, Usage
from triage.agent.claude_dispatch import step_id
from triage.models import StepKind, StepRecord, utcnow
from triage.observability import Metrics


def spent_note(model: str, meter: Meter) -> str:
    """The findings' last note: what the model did and cost, against the budget's caps."""
    usage, budget = meter.usage, meter.budget
    cap = f" (cap ${budget.max_cost_usd:.2f})" if budget.max_cost_usd is not None else ""
    spent = (f"{model}: {meter.turns} turn(s) (cap {budget.max_steps}), {meter.tool_calls} tool "
             f"call(s), {meter.all_input:,} input tokens "
             f"({usage.cache_read_input_tokens:,} read from the prompt cache), "
             f"{usage.output_tokens:,} output tokens, ${meter.cost:.4f}{cap}")
    retried = meter.attempts - meter.turns
    if retried > 0:
        spent += (f"; {meter.attempts} request(s) sent, {retried} without an answer kept "
                  f"(charged ${meter.abandoned_spent:.4f})")
    return spent


def count_attempt(metrics: Metrics | None, model: str, meter: Meter, outcome: str,
                  usage: Usage | None) -> None:
    """Tell the service's metrics about one live model call attempt."""
    if metrics is None:
        return
    metrics.record_model_call(model, outcome)
    if usage is not None:
        metrics.record_model_usage(
            model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens,
            cost_usd=meter.pricing.cost(usage))


def turn_step(investigation_id: str, turn: int, request: dict[str, Any],
              response: dict[str, Any], usage: Usage, cost: float, text: str,
              calls: list[dict[str, Any]], started: Any) -> StepRecord:
    """The step that records one model turn."""
    names = ", ".join(c["name"] for c in calls)
    summary = (text[:300] + (" → " if names else "")) if text else ""
    summary += f"{len(calls)} tool call(s): {names}" if calls else ""
    return StepRecord(
        id=step_id(investigation_id, turn), investigation_id=investigation_id, stage="brain",
        seq=turn * 100, kind=StepKind.STAGE, name=f"model turn {turn + 1}",
        arguments={"model": response.get("model") or request["model"],
                   "max_tokens": request["max_tokens"], "messages": len(request["messages"]),
                   "forced_submit": "tool_choice" in request},
        status=str(response.get("stop_reason") or "unknown"), started_at=started,
        duration_ms=round((utcnow() - started).total_seconds() * 1000, 1),
        summary=summary or "(no text)",
        detail={"id": response.get("id"), "stop_reason": response.get("stop_reason"),
                "stop_details": response.get("stop_details"), "text": text,
                "tool_calls": [{k: c[k] for k in ("id", "name", "input")} for c in calls],
                "usage": usage.as_dict(), "cost_usd": cost})
