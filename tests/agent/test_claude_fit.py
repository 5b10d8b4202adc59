"""Request size, prompt caching across many parallel calls, metrics by status, budgets shown,
and GenAI spans (issue 14, items 8, 9 and 11, and "Beyond the API")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from tests.agent.claude_fixtures import WINDOW, direct, evidence_steps
from tests.fakes.anthropic import (
    FakeAnthropic,
    _blocks,
    _tokens,
    error,
    message,
    overloaded,
    tool_use,
    validate,
)
from triage.agent.base import Budget
from triage.agent.claude_models import MODELS, ModelSpec
from triage.cli import app
from triage.models import utcnow
from triage.observability import Metrics
from triage.report.build import Report
from triage.report.render import render_html, render_markdown


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    return message(tool_use("submit_findings", {
        "summary": "Deploy 9f8e7d6 broke checkout.",
        "hypotheses": [{"category": "bad-deploy", "title": "Deploy 9f8e7d6", "confidence": 0.9,
                        "evidence": [evidence_steps(request)["logs"]]}]}))


def _queries(*queries: str) -> list[Any]:
    return [message(tool_use("query_logs", {"query": q, **WINDOW})) for q in queries]


def test_many_parallel_calls_still_read_the_previous_turn_from_the_cache(tmp_path: Path) -> None:
    calls = [tool_use("query_logs", {"query": "service=checkout", **WINDOW, "limit": 10 + n})
             for n in range(12)]  # 24 blocks: past the 20-block look-back
    with direct(tmp_path) as case, FakeAnthropic([message(*calls), _submit]) as fake:
        findings = case.investigate(fake)
    first, second = fake.usages
    assert not findings.incomplete and fake.rejected == []
    # Everything the first request wrote is read by the second, only the new turn is written.
    assert second["cache_read_input_tokens"] >= (first["cache_read_input_tokens"]
                                                 + first["cache_creation_input_tokens"])
    marks = json.dumps(fake.requests[1]).count('"cache_control"')
    assert marks <= 4


def _model(window: int) -> dict[str, ModelSpec]:
    spec = MODELS["claude-sonnet-4-6"].model_copy(update={"context_window": window})
    return {"claude-sonnet-4-6": spec}


def test_a_request_too_long_for_the_window_is_shrunk_not_refused(tmp_path: Path) -> None:
    script = [*_queries("service=checkout", "service=checkout level=error"), _submit]
    with direct(tmp_path) as case:
        with FakeAnthropic(script) as sizing:  # another model: the real run is not a replay
            case.investigate(sizing, anthropic_model="claude-opus-4-6")
        sizes = [_tokens(_blocks(r)) for r in sizing.requests]
        window = sizes[2] - 1  # the third request, as it was, is too long
        with FakeAnthropic(script, context_window=window) as fake:
            findings = case.investigate(fake, anthropic_max_tokens=256,
                                        anthropic_models=_model(window))
    assert fake.rejected == [] and not findings.incomplete, findings.summary
    assert fake.counted  # the exact size was asked of count_tokens when the estimate was high
    older = fake.requests[2]["messages"][2]["content"][0]
    assert 'status="elided"' in older["content"]
    assert _tokens(_blocks(fake.requests[2])) <= window - 256
    # The fake says what the API says of an over-long prompt, and counts as it documents.
    with FakeAnthropic(script, context_window=100) as strict:
        import anthropic

        client = anthropic.Anthropic(api_key="sk-ant-test-key", base_url=strict.url,
                                     max_retries=0)
        body = {k: sizing.requests[0][k] for k in ("model", "system", "tools", "messages")}
        assert client.messages.count_tokens(**body).input_tokens == sizes[0]
        with pytest.raises(anthropic.BadRequestError, match=r"prompt is too long: \d+ tokens > 100"):
            client.messages.create(max_tokens=256, **body)
        assert validate({**body, "max_tokens": 5}, counting=True) == (
            "max_tokens: Extra inputs are not permitted")


def test_model_errors_are_labelled_by_status_and_retries_are_counted(tmp_path: Path) -> None:
    metrics = Metrics()
    with direct(tmp_path) as case:
        for status, kind in ((400, "invalid_request_error"), (403, "permission_error"),
                             (404, "not_found_error")):
            with FakeAnthropic([_submit]) as fake:
                fake.fail_next(error(status, kind, "no"))
                case.investigate(fake, metrics=metrics)
        with FakeAnthropic([_submit], api_key="another") as fake:
            case.investigate(fake, metrics=metrics)
        with FakeAnthropic([_submit]) as fake:
            fake.fail_next(overloaded())
            findings = case.investigate(fake, metrics=metrics)
    assert not findings.incomplete
    sample = metrics.registry.get_sample_value
    model = {"model": "claude-sonnet-4-6"}
    for outcome in ("bad_request", "forbidden", "not_found", "unauthorized", "overloaded", "ok"):
        assert sample("triage_model_calls_total", {**model, "outcome": outcome}) == 1, outcome
    assert sample("triage_model_retries_total", {**model, "reason": "overloaded"}) == 1
    assert sample("triage_model_calls_total", {**model, "outcome": "error"}) is None


def test_budgets_are_shown_as_spent_over_cap_and_the_rules_verdict_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump({"brain": "claude"}))
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "triage.yaml"))
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRIAGE_ANTHROPIC_API_KEY", "sk-ant-x")
    monkeypatch.setenv("TRIAGE_BRAIN_MAX_COST_USD", "0.5")
    result = CliRunner().invoke(app, ["config", "check"])
    assert "budget per investigation: $0.50, 20 turns, 60 tool calls, 600,000 input / 40,000 " \
           "output tokens, 600 s" in result.output
    assert "on refusal: the rules brain, with a note" in result.output
    with direct(tmp_path / "run") as case, FakeAnthropic([*_queries("a", "b", "c"), _submit]) as fake:
        findings = case.investigate(fake, Budget(max_cost_usd=0.001))
    assert findings.incomplete and "cost budget ($0.00) used up" in findings.summary
    assert findings.hypotheses and findings.hypotheses[0].category == "bad-deploy"  # the rules'
    assert findings.usage["caps"]["cost_usd"] == 0.001
    assert "(cap $0.00)" in findings.notes[-1] and "1 turn(s) (cap 20)" in findings.notes[-1]
    log = findings.usage["tool_call_log"]
    assert [c["tool"] for c in log] == ["query_logs"] and log[0]["step"].endswith(":brain:t000.00")
    assert log[0]["arguments"]["query"] == "a" and log[0]["result_tokens"] > 0
    report = Report(investigation_id="inv_x", state="done", brain="claude", service="checkout",
                    playbook="default", created_at=utcnow(), finished_at=None, error=None,
                    summary=findings.summary, findings=findings, signals=[], timeline=[],
                    steps=[], report_url="http://localhost/reports/inv_x",
                    alert={"title": "t", "source": "pagerduty", "severity": "critical",
                           "status": "triggered", "started_at": "2026-11-20T13:50:00Z",
                           "links": []})
    markdown, html = render_markdown(report), render_html(report)
    assert "spent / cap: 1 / 20 turns, 1 / no cap tool calls" in markdown
    assert '| 1 | `query_logs` | `{"end": ' in markdown and "| ok |" in markdown
    assert "/ $0.00," in markdown and 'id="model-calls"' in html


def test_turns_and_tool_calls_make_genai_spans(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    script: list[Any] = [message(tool_use("query_logs", {"query": "service=checkout", **WINDOW}),
                                 tool_use("nope", {})), _submit]
    with direct(tmp_path) as case, FakeAnthropic(script) as fake:
        brain = case.brain(fake)
        brain.tracer = provider.get_tracer("test")
        brain.investigate(case.context, case.registry, Budget())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    agent, chat = spans["invoke_agent triage"], spans["chat claude-sonnet-4-6"]
    tool = spans["execute_tool query_logs"]
    agent_at, chat_at, tool_at = (dict(s.attributes or {}) for s in (agent, chat, tool))
    assert agent_at["gen_ai.operation.name"] == "invoke_agent"
    assert agent_at["gen_ai.conversation.id"] == case.context.investigation_id
    assert chat_at["gen_ai.provider.name"] == "anthropic"
    reasons = chat_at["gen_ai.response.finish_reasons"]
    assert isinstance(reasons, tuple | list) and list(reasons) == ["tool_use"]
    assert chat_at["gen_ai.usage.output_tokens"] == 60
    assert tool_at["gen_ai.tool.name"] == "query_logs"
    assert str(tool_at["gen_ai.tool.call.id"]).startswith("toolu_")
    assert chat.parent is not None and tool.parent is not None
    assert chat.parent.span_id == agent.context.span_id == tool.parent.span_id
    assert agent_at["gen_ai.usage.output_tokens"] == 120
    assert len([s for s in exporter.get_finished_spans() if s.name.startswith("chat")]) == 2
