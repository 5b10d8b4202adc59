"""Stop reasons a real model gives that a lenient fake never did (issue 14, items 7 and 10):
max_tokens cuts, refusals and a context window filled mid-answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.claude_fixtures import WINDOW, direct, evidence_steps
from tests.fakes.anthropic import FakeAnthropic, last_results, message, text, tool_use

QUERY = {"query": "service=checkout level=error", **WINDOW}
REFUSED = {"type": "refusal", "category": "cyber", "explanation": "exploit development"}


def _hypotheses(request: dict[str, Any]) -> dict[str, Any]:
    return {"summary": "Deploy 9f8e7d6 broke checkout.",
            "hypotheses": [{"category": "bad-deploy", "title": "Deploy 9f8e7d6",
                            "confidence": 0.9, "evidence": [evidence_steps(request)["logs"]]}]}


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    return message(tool_use("submit_findings", _hypotheses(request)))


def _cut(*blocks: dict[str, Any]) -> Any:
    """A turn cut at max_tokens whatever max_tokens it is given."""
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return message(*blocks, stop_reason="max_tokens", output_tokens=request["max_tokens"])
    return answer


def _cut_submit(request: dict[str, Any]) -> dict[str, Any]:
    partial = {"summary": "Deploy 9f8e7d6 broke checkout.", "hypotheses": []}
    answer: dict[str, Any] = _cut(text("Submitting."), tool_use("submit_findings", partial))(request)
    return answer


def test_a_cut_turn_is_asked_again_once_then_continued_and_a_cut_submit_cannot_repeat(
        tmp_path: Path) -> None:
    script = [_cut(text("Checking two things."), tool_use("query_logs", QUERY),
                   tool_use("query_logs", {"query": "service=checkout lev"})),
              _cut(text("The deploy at 13:40 is the likely")),
              _cut_submit, _cut_submit]
    with direct(tmp_path) as case, FakeAnthropic(script) as fake:
        findings = case.investigate(fake)
    sizes = [r["max_tokens"] for r in fake.requests]
    assert sizes == [4096, 8192] * 4  # each cut turn asked again once with room, never more
    assert fake.requests[0]["messages"] == fake.requests[1]["messages"]
    ran, cut, said = fake.requests[2]["messages"][-1]["content"]
    assert not ran.get("is_error") and "<tool_output" in ran["content"]
    assert cut["is_error"] and "not run: your reply was cut off at max_tokens (8,192" in cut["content"]
    assert "while writing the query_logs call, which was not run; the 1 call(s) before it ran" \
        in said["text"]
    (continued,) = fake.requests[4]["messages"][-1]["content"]  # a text-only cut: no calls claimed
    assert continued["text"].startswith("Your reply was cut off at max_tokens (8,192 tokens) "
                                        "before it ended. Continue from where it stopped")
    assert "not run" not in continued["text"]
    (shorter, _said) = fake.requests[6]["messages"][-1]["content"]
    assert "submit_findings was cut off at max_tokens" in shorter["content"]
    assert "submit again, shorter" in shorter["content"]
    assert findings.incomplete and "submit_findings was cut off 2 times" in findings.summary
    assert findings.hypotheses and findings.hypotheses[0].category == "bad-deploy"  # the rules'
    assert findings.usage["turns"] == 4 and findings.usage["attempts"] == 8
    assert findings.usage["abandoned"]["output_tokens"] == 4 * 4096  # the dropped cut answers


def _refuses_on(model: str) -> Any:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["model"] == model:
            return message(text("I can't help with"), stop_reason="refusal", stop_details=REFUSED)
        return _submit(request)
    return answer


def test_a_refusal_is_asked_of_the_fallback_model_or_leaves_the_rules_findings(
        tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_refuses_on("claude-sonnet-4-6")]) as fake:
        findings = case.investigate(fake, anthropic_fallback_model="claude-opus-4-6")
        assert [r["model"] for r in fake.requests] == ["claude-sonnet-4-6", "claude-opus-4-6"]
        assert not findings.incomplete and findings.usage["model"] == "claude-opus-4-6"
        assert any("declined to continue (stop_reason refusal (category cyber" in n
                   and "fallback model claude-opus-4-6" in n for n in findings.notes)
        assert findings.usage["abandoned_cost_usd"] > 0  # the refused answer was paid for
        again = case.investigate(fake, anthropic_fallback_model="claude-opus-4-6")  # a resume
        assert len(fake.requests) == 2 and again.usage["model"] == "claude-opus-4-6"
        assert again.usage["cost_usd"] == findings.usage["cost_usd"]
        assert [n for n in again.notes if "fallback" in n] == [
            n for n in findings.notes if "fallback" in n]
    with direct(tmp_path / "none") as case, \
            FakeAnthropic([_refuses_on("claude-sonnet-4-6")]) as fake:
        plain = case.investigate(fake)
    assert plain.incomplete and plain.hypotheses[0].category == "bad-deploy"  # the rules'
    assert "category cyber: exploit development" in plain.summary


def test_a_context_window_filled_mid_answer_compacts_and_goes_on(tmp_path: Path) -> None:
    script: list[Any] = [
        message(tool_use("query_logs", QUERY)),
        message(text("So far the deploy"), stop_reason="model_context_window_exceeded"), _submit]
    with direct(tmp_path) as case, FakeAnthropic(script) as fake:
        findings = case.investigate(fake)
    assert not findings.incomplete
    older = fake.requests[2]["messages"][2]["content"][0]
    assert 'status="elided"' in older["content"] and "get_rows" in older["content"]
    (said,) = fake.requests[2]["messages"][-1]["content"]
    assert "filled the model's context window" in said["text"]
    assert "without calling submit_findings" not in said["text"]
    assert last_results(fake.requests[1])  # the result was sent whole before the overflow
