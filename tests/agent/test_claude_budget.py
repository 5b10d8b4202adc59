"""Budgets: steps, tool calls, input / output tokens, cost and wall time. On exhaustion the brain
returns what it has (the rules brain's findings), marked incomplete."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.agent.claude_fixtures import WINDOW, direct, evidence_steps
from tests.fakes.anthropic import FakeAnthropic, last_results, message, text, tool_use
from triage.agent.base import Budget
from triage.agent.budget import Meter, Pricing, Usage
from triage.agent.claude_models import ModelSpec
from triage.agent.claude_settings import budget_from
from triage.config import Settings

QUERY = {"query": "service=checkout level=error", **WINDOW}


def _query(n: int) -> dict[str, Any]:
    return message(text(f"Looking ({n})."), tool_use("query_logs", {**QUERY, "limit": 100 + n}))


def test_the_last_allowed_turn_must_submit_and_a_model_that_does_not_is_incomplete(
        tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_query(0), _query(1)]) as fake:
        findings = case.investigate(fake, Budget(max_steps=2))
    first, last = fake.requests
    assert "tool_choice" not in first
    assert last["tool_choice"] == {"type": "tool", "name": "submit_findings"}
    assert findings.incomplete
    assert findings.summary.startswith("Incomplete (step budget (2 model turns) used up).")
    assert [h.category for h in findings.hypotheses] == ["bad-deploy"]  # the rules brain's
    assert "Looking (1)." in findings.notes[0]
    assert findings.usage["turns"] == 2


def test_output_tokens_bound_each_request_and_end_the_conversation(tmp_path: Path) -> None:
    script = [message(tool_use("query_logs", QUERY), output_tokens=900)]
    with direct(tmp_path) as case, FakeAnthropic(script) as fake:
        findings = case.investigate(fake, Budget(max_output_tokens=1000))
    assert fake.requests[0]["max_tokens"] == 1000  # never more than the budget has left
    assert findings.incomplete and "output-token budget (1,000) used up (900 written)" in findings.summary


def test_input_tokens_are_counted_cached_or_not(tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_query(0), _query(1)]) as fake:
        findings = case.investigate(fake, Budget(max_input_tokens=1))
    assert fake.answered == [0]
    usage = findings.usage
    read = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    assert f"input-token budget (1) used up ({read:,} read)" in findings.summary
    assert usage["cache_creation_input_tokens"] > 0  # the first request wrote the cached prefix


def test_cost_is_priced_from_the_settings(tmp_path: Path) -> None:
    prices = {"claude-sonnet-4-6": ModelSpec(
        input_per_mtok=3.0, output_per_mtok=1_000_000.0, cache_write_per_mtok=3.75,
        cache_read_per_mtok=0.30, max_output_tokens=64_000)}
    with direct(tmp_path) as case, FakeAnthropic([_query(0), _query(1)]) as fake:
        findings = case.investigate(fake, Budget(max_cost_usd=0.0001), anthropic_models=prices)
    assert fake.answered == [0]
    assert "cost budget ($0.00) used up" in findings.summary
    assert findings.usage["cost_usd"] >= 60.0  # 60 output tokens at $1 each


def test_wall_time_ends_the_conversation_even_while_the_model_is_answering(
        tmp_path: Path) -> None:
    answered = threading.Event()

    def stuck(_request: dict[str, Any]) -> dict[str, Any]:
        answered.wait(timeout=30)  # released when the test is over: never within the budget
        return _query(0)

    with direct(tmp_path) as case, FakeAnthropic([stuck, _query(1)]) as fake:
        try:
            findings = case.investigate(fake, Budget(max_seconds=0.5))
        finally:
            answered.set()
    assert fake.answered == [0]
    assert "time budget (0.5 s) used up waiting for the model" in findings.summary
    assert findings.usage["turns"] == 0 and findings.usage["attempts"] == 1


def test_tool_calls_beyond_the_budget_are_refused_then_submission_is_forced(tmp_path: Path) -> None:
    def submit(request: dict[str, Any]) -> dict[str, Any]:
        return message(tool_use("submit_findings", {
            "summary": "s", "hypotheses": [{"category": "bad-deploy", "title": "t",
                                            "confidence": 0.8,
                                            "evidence": [evidence_steps(request)["logs"]]}]}))

    three = message(*(tool_use("query_logs", {**QUERY, "limit": n}) for n in (1, 2, 3)))
    with direct(tmp_path) as case, FakeAnthropic([three, submit]) as fake:
        findings = case.investigate(fake, Budget(max_tool_calls=2))
    results = last_results(fake.requests[1])
    assert [bool(r.get("is_error")) for r in results] == [False, False, True]
    assert "tool-call budget is used up" in results[2]["content"]
    assert fake.requests[1]["tool_choice"] == {"type": "tool", "name": "submit_findings"}
    assert not findings.incomplete and findings.usage["tool_calls"] == 2


def test_pricing_and_the_meter() -> None:
    usage = Usage.from_api({"input_tokens": 1_000_000, "output_tokens": 1_000_000,
                            "cache_creation_input_tokens": 1_000_000,
                            "cache_read_input_tokens": 1_000_000})
    assert Pricing().cost(usage) == pytest.approx(3.0 + 15.0 + 3.75 + 0.30)
    meter = Meter(Budget(max_steps=3), Pricing())
    assert meter.exhausted() is None and meter.output_left() is None
    meter.record_turn(usage)
    assert usage.all_input == 3_000_000 and not meter.last_turn()
    meter.record_turn(Usage())
    assert meter.last_turn()
    meter.record_turn(Usage())
    assert meter.exhausted() == "step budget (3 model turns) used up"


def test_budget_settings_come_from_the_environment_and_bad_values_are_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_BRAIN_MAX_STEPS", "7")
    monkeypatch.setenv("TRIAGE_BRAIN_MAX_COST_USD", "0.5")
    monkeypatch.setenv("TRIAGE_ANTHROPIC_API_KEY", "sk-ant-secret")
    settings = Settings()
    budget = budget_from(settings)
    assert (budget.max_steps, budget.max_cost_usd) == (7, 0.5)
    assert "sk-ant-secret" not in repr(settings)
    monkeypatch.setenv("TRIAGE_BRAIN_MAX_STEPS", "0")
    with pytest.raises(ValidationError, match="brain_max_steps"):
        Settings()
    monkeypatch.setenv("TRIAGE_BRAIN_MAX_STEPS", "5")
    monkeypatch.setenv("TRIAGE_ANTHROPIC_MAX_TOKENS", "10")
    with pytest.raises(ValidationError, match="anthropic_max_tokens"):
        Settings()
