"""The Claude brain end to end: the demo incident through the real webhook route and workflow,
with the real `anthropic` client talking to a loopback Messages API that plays a scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.claude_fixtures import (
    CULPRIT,
    WINDOW,
    claude_demo,
    claude_settings,
    evidence_steps,
    investigation_of,
)
from tests.conftest import make_settings
from tests.fakes.anthropic import FakeAnthropic, last_results, message, text, tool_use
from triage.agent.claude import NO_KEY, RulesInstead
from triage.models import Source
from triage.replay import replay
from triage.runtime import Runtime


def _investigate(request: dict[str, Any]) -> dict[str, Any]:
    steps = evidence_steps(request)
    return message(
        text("The rules brain blames deploy 9f8e7d6. Checking the new TypeError and the deploy."),
        tool_use("query_logs", {"query": "service=checkout level=error", **WINDOW, "limit": 2000}),
        tool_use("mine_log_templates", {"step_id": steps["logs"]}),
        tool_use("query_deploys", {"query": "service=checkout", **WINDOW}))


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    steps, inv = evidence_steps(request), investigation_of(request)
    return message(tool_use("submit_findings", {
        "summary": "Deploy 9f8e7d6 (cart totals to Decimal) broke checkout: a TypeError on "
                   "every order since 13:41.",
        "hypotheses": [
            {"category": "traffic-surge", "title": "More checkouts than usual", "confidence": 0.1,
             "evidence": [steps["metrics"]], "counter_evidence": ["request rate is flat"]},
            {"category": "bad-deploy", "title": "Deploy 9f8e7d6 mixes Decimal and float totals",
             "confidence": 0.92, "suspect_commit": CULPRIT,
             "evidence": [steps["logs"], f"{inv}:brain:t000.00", f"{inv}:brain:t000.02"],
             "rationale": ["TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and "
                           "'float' starts 1 min after the deploy"]}],
        "fix_proposal": {"kind": "revert", "commit": CULPRIT,
                         "description": "Revert the Decimal switch"}}))


def test_a_scripted_investigation_calls_tools_and_its_findings_are_ranked_in_the_report(
        tmp_path: Path) -> None:
    workdir, config = claude_demo(tmp_path)
    with FakeAnthropic([_investigate, _submit]) as fake:
        outcome = replay(claude_settings(tmp_path, fake), config, Source.PAGERDUTY,
                         (workdir / "alert.json").read_bytes())
    report = outcome.report
    assert report.state == "completed", report.error
    assert report.brain == "claude"
    findings = report.findings
    assert findings is not None and findings.brain == "claude" and not findings.incomplete
    assert [h.category for h in findings.hypotheses] == ["bad-deploy", "traffic-surge"]
    # The report carries the verdict: the demo's repro, bisected in the sandbox, names the real
    # culprit, which replaces the commit the model suspected.
    assert findings.hypotheses[0].suspect_commit == "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"
    assert any("8d41ce5b1eb8" in t for t in [findings.summary, findings.hypotheses[0].title])
    assert findings.fix is not None and findings.fix.kind == "revert"
    assert fake.answered == [0, 1]

    first, second = fake.requests
    # The stable prefix is cached: system prompt (after the tools) carries the breakpoint.
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    names = [t["name"] for t in first["tools"]]
    assert names[-1] == "submit_findings" and names[:-1] == sorted(names[:-1])
    assert {"query_logs", "query_metrics", "query_orders_db", "query_deploys", "get_rows",
            "mine_log_templates", "detect_signals", "read_file", "search_code", "run_command",
            "replace_in_file", "write_file", "show_diff"} <= set(names)
    opening = first["messages"][0]["content"][0]["text"]
    assert '<first_response brain="rules">' in opening and "[bad-deploy]" in opening
    assert f"Playbook {report.playbook}:" in opening and "<evidence step=" in opening
    # Tool results come back in call order, wrapped as data, citing their step ids.
    results = last_results(second)
    assert [r["tool_use_id"] for r in results] == [
        b["id"] for b in second["messages"][1]["content"] if b["type"] == "tool_use"]
    inv = outcome.investigation_id
    assert results[0]["content"].startswith(f'<tool_output tool="query_logs" step="{inv}:brain:t000.00"')
    assert "TypeError" in results[1]["content"]  # the templates of the gathered error logs
    assert second["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}

    # Every tool call is a step; the model's own query is listed with the queries as run.
    names = [step.name for step in report.steps if step.stage == "brain"]
    assert {"model turn 1", "model turn 2", "query_logs (turn 1)", "mine_log_templates (turn 1)",
            "query_deploys (turn 1)"} <= set(names)
    model_query = next(q for q in report.queries if q.name == "query_logs (turn 1)")
    assert model_query.arguments["query"] == "service=checkout level=error"
    assert model_query.row_count and model_query.row_count > 0
    # Usage: the second turn read the cached prefix; the cost is in the findings and the report.
    assert findings.usage["turns"] == 2 and findings.usage["tool_calls"] == 3
    assert findings.usage["cache_read_input_tokens"] > 0
    assert findings.usage["cost_usd"] > 0
    markdown = outcome.markdown_path.read_text()
    assert ("1. **[bad-deploy] Code change: commit 8d41ce5b1eb8 'Switch cart totals to Decimal' (Lee Park) "
            "in deploy 6457c33dee76 — reproduced and bisected** — confidence 95%") in markdown
    assert "claude-sonnet-4-6: 2 turn(s) (cap 20), 3 tool call(s)" in markdown


def test_without_an_api_key_the_rules_brain_runs_and_the_report_says_so(tmp_path: Path) -> None:
    workdir, config = claude_demo(tmp_path)
    runtime = Runtime.from_settings(make_settings(tmp_path), config)
    try:
        assert isinstance(runtime.brain(), RulesInstead)
    finally:
        runtime.close()
    outcome = replay(make_settings(tmp_path), config, Source.PAGERDUTY,
                     (workdir / "alert.json").read_bytes())
    findings = outcome.report.findings
    assert findings is not None and findings.brain == "rules"
    assert findings.hypotheses[0].category == "bad-deploy"
    assert outcome.report.notes[0] == NO_KEY
    assert f"> Note: {NO_KEY}" in outcome.markdown_path.read_text()
