"""What the real Messages API does that a lenient fake would not (issue 14): blank text blocks,
tool-name rules, retry-after against the time budget, abandoned attempts, long generations,
prices by model, and personal data in what the brain sends."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors import ConnectorCheck, Evidence, EvidenceKind, EvidenceStatus, QueryRequest
from tests.agent.claude_fixtures import WINDOW, direct, evidence_steps
from tests.fakes.anthropic import (
    FakeAnthropic,
    last_results,
    message,
    overloaded_mid_stream,
    rate_limited,
    text,
    tool_use,
    validate,
)
from triage.agent.base import Budget
from triage.agent.budget import Pricing, Usage
from triage.agent.claude_models import MODELS
from triage.agent.tools import ToolRegistry
from triage.cli import app
from triage.config import ConfigError, parse_config

QUERY = {"query": "service=checkout level=error", **WINDOW}


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    return message(tool_use("submit_findings", {
        "summary": "Deploy 9f8e7d6 broke checkout.",
        "hypotheses": [{"category": "bad-deploy", "title": "Deploy 9f8e7d6", "confidence": 0.9,
                        "evidence": [evidence_steps(request)["logs"]]}]}))


def test_blank_text_beside_a_tool_call_is_not_echoed_and_the_investigation_goes_on(
        tmp_path: Path) -> None:
    script: list[Any] = [message(text("\n\n"), tool_use("query_logs", QUERY)),
              message(text(" \n")),  # a turn of nothing but whitespace
              _submit]
    with direct(tmp_path) as case, FakeAnthropic(script) as fake:
        findings = case.investigate(fake)
    assert fake.rejected == [] and not findings.incomplete
    echoed = [m["content"] for m in fake.requests[2]["messages"] if m["role"] == "assistant"]
    assert [b["type"] for b in echoed[0]] == ["tool_use"]
    assert [b.get("text") for b in echoed[1]] == ["(no output)"]
    # The fake refuses exactly what the API refuses, in the API's words.
    sent = json.loads(json.dumps(fake.requests[1]))
    sent["messages"][1]["content"].insert(0, {"type": "text", "text": "\n\n"})
    assert validate(sent) == "messages: text content blocks must contain non-whitespace text"


class _Named:
    """A connector that only has a name (it is never queried)."""

    def __init__(self, name: str) -> None:
        self.name, self.kind = name, EvidenceKind.LOGS

    def query(self, request: QueryRequest) -> Evidence:
        return Evidence(connector=self.name, kind=self.kind, status=EvidenceStatus.NO_DATA,
                        query=request.query, start=request.start, end=request.end)

    def check(self) -> ConnectorCheck:
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True, can_write=False)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("name", ["orders.db", "logs prod", "x" * 59])
def test_a_connector_name_that_cannot_name_a_tool_is_a_config_error(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate({"model": "claude-sonnet-4-6", "max_tokens": 5, "tools": [
        {"name": f"query_{name}", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "q"}]}) is not None  # what the API would say
    raw = {"connectors": {name: {"type": "files", "logs": "logs.jsonl"}}}
    with pytest.raises(ConfigError, match="cannot name a model tool"):
        parse_config(raw, tmp_path, "triage.yaml")
    with pytest.raises(ValueError, match=f"connector name '{name}'"):
        ToolRegistry([_Named(name)])
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "triage.yaml"))
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2 and f"connector name '{name}'" in result.output
    ToolRegistry([_Named("orders_db-2")])  # letters, digits, '_' and '-' are fine


def test_a_retry_after_longer_than_the_time_left_ends_the_turn_at_once(tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_submit]) as fake:
        fake.fail_next(rate_limited("40"))
        findings = case.investigate(fake, Budget(max_seconds=10))
    assert len(fake.server.seen) == 1 and findings.incomplete
    assert "HTTP 429 rate_limit_error" in findings.summary
    assert "not retried: waiting 40 s does not fit in the" in findings.summary
    assert findings.usage["seconds"] < 40  # the SDK would have slept through the budget


def test_a_timed_out_attempt_is_retried_and_charged(tmp_path: Path) -> None:
    release, calls = threading.Event(), []

    def first_hangs(request: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            release.wait(timeout=30)  # never answered within the attempt's timeout
        return _submit(request)

    with direct(tmp_path) as case, FakeAnthropic([first_hangs]) as fake:
        try:
            findings = case.investigate(fake, anthropic_timeout_seconds=0.3)
        finally:
            release.set()
    usage = findings.usage
    assert not findings.incomplete and usage["attempts"] == 2 and usage["turns"] == 1
    sent = len(json.dumps(fake.requests[0]))
    assert sent // 8 < usage["abandoned"]["input_tokens"] < sent  # an estimate of the prompt
    billed = Usage.from_api({k: usage[k] for k in Usage().as_dict()})
    prices = MODELS["claude-sonnet-4-6"]
    pricing = Pricing(prices.input_per_mtok, prices.output_per_mtok,
                      prices.cache_write_per_mtok, prices.cache_read_per_mtok)
    abandoned = pricing.cost(Usage.from_api(usage["abandoned"]))
    assert usage["cost_usd"] == pytest.approx(pricing.cost(billed) + abandoned, abs=1e-6)
    assert "2 request(s) sent, 1 without an answer" in findings.notes[-1]


def test_a_stream_cut_by_an_error_is_charged_what_the_api_reported(tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_submit]) as fake:
        fake.fail_next(overloaded_mid_stream(input_tokens=1234))
        findings = case.investigate(fake)
    assert not findings.incomplete and findings.usage["attempts"] == 2
    assert findings.usage["abandoned"]["input_tokens"] == 1234
    assert findings.usage["abandoned"]["output_tokens"] == 1


def test_long_generations_are_streamed_and_bounded_by_the_models_ceiling(tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_submit, _submit]) as fake:
        # 64,000 tokens is past the SDK's guard for non-streaming calls (about 21,000).
        first = case.investigate(fake, anthropic_max_tokens=64_000)
        second = case.investigate(fake, anthropic_max_tokens=100_000,
                                  anthropic_model="claude-haiku-4-5")
    assert not first.incomplete and not second.incomplete and fake.rejected == []
    assert all(r["stream"] is True for r in fake.requests)
    ceiling = MODELS["claude-haiku-4-5"].max_output_tokens
    assert [r["max_tokens"] for r in fake.requests] == [64_000, ceiling]


def test_cost_follows_the_models_prices(tmp_path: Path) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_submit]) as fake:
        sonnet = case.investigate(fake)
    with direct(tmp_path / "opus") as case, FakeAnthropic([_submit]) as fake:
        opus = case.investigate(fake, anthropic_model="claude-opus-4-6")
    for findings, model in ((sonnet, "claude-sonnet-4-6"), (opus, "claude-opus-4-6")):
        spec = MODELS[model]
        usage = findings.usage
        expected = (usage["input_tokens"] * spec.input_per_mtok
                    + usage["output_tokens"] * spec.output_per_mtok
                    + usage["cache_creation_input_tokens"] * spec.cache_write_per_mtok
                    + usage["cache_read_input_tokens"] * spec.cache_read_per_mtok) / 1e6
        assert usage["model"] == model and usage["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert opus.usage["cost_usd"] > sonnet.usage["cost_usd"]


def test_an_unknown_model_is_a_config_check_error_and_never_called(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with direct(tmp_path) as case, FakeAnthropic([_submit]) as fake:
        findings = case.investigate(fake, anthropic_model="claude-nope-9")
    assert fake.server.seen == [] and findings.brain == "rules"
    assert "model 'claude-nope-9' has no price" in findings.notes[0]
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump({"brain": "claude"}))
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "triage.yaml"))
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRIAGE_ANTHROPIC_API_KEY", "sk-ant-x")
    monkeypatch.setenv("TRIAGE_ANTHROPIC_MODEL", "claude-nope-9")
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 1 and "model 'claude-nope-9' has no price" in result.output
    monkeypatch.setenv("TRIAGE_ANTHROPIC_MODELS", json.dumps({"claude-nope-9": {
        "input_per_mtok": 1, "output_per_mtok": 2, "cache_write_per_mtok": 1.25,
        "cache_read_per_mtok": 0.1, "max_output_tokens": 8192}}))
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 0
    assert "brain: claude (claude-nope-9 at $1 / $2 per MTok" in result.output


_ROW = {"timestamp": "2026-11-20T13:45:00Z", "service": "checkout", "level": "error"}
SSN, IBAN, CLIENT_IP = "536-22-1234", "GB82 WEST 1234 5698 7654 32", "203.0.113.77"


def _rows_of(planted: str) -> list[dict[str, Any]]:
    return [{**_ROW, "message": f"refund failed for customer: {planted} (pii-plant)"}]


def _sent_to_the_model(tmp_path: Path, planted: str) -> str:
    """Every byte the brain sent, in an investigation whose evidence holds `planted` and whose
    model asks for the very rows that hold it."""
    def rows(request: dict[str, Any]) -> dict[str, Any]:
        return message(tool_use("get_rows", {"step_id": evidence_steps(request)["logs"],
                                             "contains": "pii-plant"}))

    with direct(tmp_path, evidence_rows=_rows_of(planted)) as case, \
            FakeAnthropic([rows, _submit]) as fake:
        case.investigate(fake)
    (result,) = last_results(fake.requests[1])
    assert "1 matching rows" in result["content"]  # the rows were found, and shown
    return "\n".join(seen.body.decode() for seen in fake.server.seen)


@pytest.mark.parametrize("planted", [SSN, IBAN, IBAN.replace(" ", "")])
def test_national_ids_and_ibans_never_reach_the_model(tmp_path: Path, planted: str) -> None:
    sent = _sent_to_the_model(tmp_path, planted)
    assert planted not in sent and planted.replace(" ", "") not in sent.replace(" ", "")


def test_a_client_ip_never_reaches_the_model_by_default(tmp_path: Path) -> None:
    sent = _sent_to_the_model(tmp_path, f"client_ip={CLIENT_IP} via 10.0.3.7")
    assert CLIENT_IP not in sent and "[redacted:client-ip]" in sent
    assert "10.0.3.7" in sent  # an internal address names our own host: evidence, kept
