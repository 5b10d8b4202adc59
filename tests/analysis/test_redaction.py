"""Redaction: the planted-secrets corpus, false positives, configuration, values, evidence, tools."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors import Evidence, EvidenceKind, EvidenceStatus, build_connector
from tests.analysis.redaction_corpus import PLANTS, Plant, tok
from tests.conftest import DEMO
from triage.agent.tools import StepLog, ToolCall, ToolRegistry
from triage.analysis.redaction import (
    RULES,
    RedactionConfig,
    Redactor,
    default_redactor,
    redactor_for,
)
from triage.analysis.redaction_rules import luhn_valid
from triage.config import TriageConfig
from triage.models import StepKind, StepRecord

R = default_redactor()
BUNDLES = Path(__file__).resolve().parents[1] / "scenarios" / "bundles"


def test_the_corpus_is_broad() -> None:
    assert len({p.kind for p in PLANTS}) >= 60
    assert len({p.id for p in PLANTS}) == len(PLANTS) >= 120


@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: p.id)
def test_every_planted_value_is_redacted_with_its_kind(plant: Plant) -> None:
    result = R.redact(plant.text)
    for secret in plant.secrets:
        assert secret not in result.value
    assert f"[redacted:{plant.kind}]" in result.value, result.value
    assert result.counts[plant.kind] >= 1


@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: p.id)
def test_redaction_is_idempotent(plant: Plant) -> None:
    once = R.redact_text(plant.text)
    counts: Counter[str] = Counter()
    assert R.redact_text(once, counts) == once
    assert not counts


def test_surrounding_text_is_kept() -> None:
    assert R.redact_text("connecting to postgres://app:pa55-Word@db:5432/orders (attempt 2)") == (
        "connecting to postgres://app:[redacted:url-password]@db:5432/orders (attempt 2)")
    assert R.redact_text('{"user": "bob", "password": "hunter2", "retries": 3}') == (
        '{"user": "bob", "password": "[redacted:password]", "retries": 3}')
    assert R.redact_text("GET /x?a=1&token=abc123def456&b=2") == "GET /x?a=1&token=[redacted:token]&b=2"


# Ordinary operational text that must come out exactly as it went in.
ORDINARY = [
    "2026-11-20T13:50:00Z GET /api/cart/90817 200 in 407ms host=checkout-2",
    "POST /api/checkout 200 in 789ms order=804560 amount=172.06 currency=EUR",
    "request 123e4567-e89b-12d3-a456-426614174000 finished",
    "deployed 9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6 (previous 4c1d2e9a7b3f)",
    "image ghcr.io/acme/checkout:1.4.2@sha256:"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "2026-11-20T13:50:00.123456+00:00 | 2026-11-20 13:50:00 +0100 | Fri, 20 Nov 2026 13:50:00 GMT",
    "epoch 1763646600 ms 1763646600123 ns 1763646600123456789",
    "version 1.24.3, v2.3.4-rc.1, python 3.11.9, go1.22.4, HTTP/1.1 500",
    "invoice INV-2026-000123 total $1,299.00 (EUR 19.99) order_id=4000123456",
    "upstream 10.0.12.7:5432 and [2001:db8::1]:443 unreachable after 30000ms",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "pod checkout-7d9f8b6c5-x2k4z OOMKilled, restarts=7, +5.2% error rate, +1000 requests",
    "git@github.com:acme/checkout.git fetched; icon@2x.png cached",
    "SELECT status, count(*) AS orders FROM orders WHERE created_at >= :start GROUP BY status",
    '{service="checkout", code=~"5.."} and rate(http_requests_total[5m])',
    "max_tokens=2000 input_tokens=1234 token_count=5 tokens=42 author=lee",
    "dedup_key=checkout-5xx-rate idempotency_key=ord-804560 cache_key=cart:90817",
    "Basic authentication is required; Bearer token expired; invalid token; password reset sent",
    "secret rotation completed; the api key was rotated; password authentication failed for user app",
    "order 4111111111111112 is not a card (bad checksum); id 1234567890123456",
    "https://acme.pagerduty.com/incidents/Q1CHK0UT42 and postgres://db.internal:5432/orders",
    "http://localhost:8080/metrics path Projects/CheckoutService/Release2024/src ok",
    "retry 3/5 in 250ms; queue depth 15234; disk 93% of 512Gi",
    "TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and 'float'",
    "cache key cart:90817:items:a:b evicted; upstream fe80:0:0:0:1:2:3:4 and 2001:db8:0:0:1:2:3:4 down",
    "ticket 987-65-4321 and 000-12-3456 are not SSNs; DE00 1234 5678 9012 3456 78 fails its check",
    "idempotency key 123e4567-e89b-12d3-a456-426614174000 reused; token refresh took 41ms",
    "api key rotation for user_account_12345678 done; session sid=42; secret store v2.3.4-rc.1",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_text_is_left_alone(line: str) -> None:
    assert R.redact_text(line) == line


def test_shipped_bundles_have_nothing_to_redact() -> None:
    bundles = [DEMO, *sorted(p for p in BUNDLES.glob("*") if p.is_dir())]
    files = [f for bundle in bundles for f in bundle.iterdir()
             if f.suffix in {".jsonl", ".csv", ".json", ".sql"}]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        redacted = R.redact(text)
        assert redacted.value == text, (path, redacted.counts)


def test_rule_hints_are_lowercase_so_the_prefilter_can_find_them() -> None:
    assert all(hint == hint.lower() for rule in RULES for hint in rule.hints)


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_values_recurse_and_keep_their_types() -> None:
    row = {"id": 7, "ok": True, "ratio": 0.5, "none": None, "at": "2026-11-20T13:50:00Z",
           "tags": ["a", "mail bob@example.com"], "nested": {"msg": "password=hunter2x"},
           "card": 4111111111111111, "big_id": 1763646600123456789}
    result = R.redact(row)
    assert result.value == {
        "id": 7, "ok": True, "ratio": 0.5, "none": None, "at": "2026-11-20T13:50:00Z",
        "tags": ["a", "mail [redacted:email]"], "nested": {"msg": "password=[redacted:password]"},
        "card": "[redacted:payment-card]", "big_id": 1763646600123456789}
    assert result.counts == Counter({"email": 1, "password": 1, "payment-card": 1})
    assert result.total == 3
    assert row["tags"] == ["a", "mail bob@example.com"]  # the input is not modified


def test_fields_named_like_credentials_are_redacted_whole() -> None:
    secret = tok(12)
    labels = {"db_password": secret, "Authorization": f"Token {secret}", "apiKey": secret,
              "X-Auth-Token": secret, "Cookie": f"s={secret}", "token_count": 12, "token": "",
              "author": "lee", "max_tokens": 2000, "password_hint": "first pet"}
    assert R.redact_value(labels) == {
        "db_password": "[redacted:password]", "Authorization": "[redacted:authorization]",
        "apiKey": "[redacted:api-key]", "X-Auth-Token": "[redacted:token]",
        "Cookie": "[redacted:cookie]", "token_count": 12, "token": "", "author": "lee",
        "max_tokens": 2000, "password_hint": "first pet"}


def test_plants_in_alert_titles_labels_and_csv_rows() -> None:
    for plant in PLANTS:
        alert_like = {"title": f"Checkout 5xx — {plant.text}", "labels": {"note": plant.text},
                      "rows": [{"line": f"1,{plant.text},x"}]}
        dumped = json.dumps(R.redact_value(alert_like))
        assert not [s for s in plant.secrets if s in dumped or json.dumps(s)[1:-1] in dumped], plant.id


def test_allow_keeps_what_it_matches_in_full() -> None:
    public = "pk_live_" + "A1b2" * 6
    redactor = Redactor(RedactionConfig(allow=[r"ACME-PUB-[0-9]{6}", r"support@acme\.example"]))
    assert redactor.redact_text("api_key=ACME-PUB-123456 mail support@acme.example") == (
        "api_key=ACME-PUB-123456 mail support@acme.example")
    assert redactor.redact_text("api_key=ACME-PUB-123456x") == "api_key=[redacted:api-key]"
    assert redactor.redact_text(f"publishable {public}") == f"publishable {public}"


def test_deny_adds_shapes_and_a_group_named_v_limits_the_cut() -> None:
    redactor = Redactor(RedactionConfig.model_validate({"deny": [
        {"kind": "customer-id", "pattern": r"\bCUST-\d{8}\b"},
        {"kind": "ssn", "pattern": r"ssn (?P<v>\d{3}-\d{2}-\d{4})", "ignore_case": True},
    ]}))
    result = redactor.redact("order for CUST-00412345, SSN 078-05-1120")
    assert result.value == "order for [redacted:customer-id], SSN [redacted:ssn]"
    assert result.counts == Counter({"customer-id": 1, "ssn": 1})


def test_keep_pii_turns_off_chosen_personal_kinds_only() -> None:
    redactor = Redactor(RedactionConfig(keep_pii=["email"]))
    text = "mail bob@example.com card 4111111111111111 password=hunter2x"
    assert redactor.redact_text(text) == (
        "mail bob@example.com card [redacted:payment-card] password=[redacted:password]")


@pytest.mark.parametrize(("raw", "problem"), [
    ({"allow": ["(unclosed"]}, "invalid regex"),
    ({"deny": [{"pattern": "a[b"}]}, "invalid regex"),
    ({"deny": [{"kind": "Bad Kind", "pattern": "x"}]}, "kind"),
    ({"keep_pii": ["aws-secret-key"]}, "keep_pii"),
    ({"allow": "x"}, "allow"),
    ({"disabled": True}, "disabled"),
])
def test_bad_configuration_is_a_clear_error(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        RedactionConfig.model_validate(raw)
    assert problem in str(info.value)


def test_the_redactor_comes_from_the_configuration() -> None:
    config = TriageConfig(redaction=RedactionConfig(keep_pii=["phone"]))
    assert redactor_for(config).config.keep_pii == ["phone"]
    assert redactor_for(TriageConfig()).config == default_redactor().config


def _evidence(**fields: object) -> Evidence:
    at = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    base: dict[str, object] = {"connector": "db", "kind": EvidenceKind.DATABASE,
                               "status": EvidenceStatus.OK, "query": "SELECT 1", "start": at,
                               "end": at, "row_count": 1}
    return Evidence.model_validate({**base, **fields})


def test_evidence_is_redacted_everywhere_and_says_so() -> None:
    evidence = _evidence(
        query="SELECT * FROM users WHERE email = 'ann@example.com'",
        link="https://grafana.example/explore?api_key=abcdef123456",
        rows=[{"email": "ann@example.com", "password_hash": "$2b$12$abcdefghijk", "n": 3}],
        summary="1 row; first row: {'email': 'ann@example.com'}",
        error="could not connect to postgres://app:pw-Secret-1@db/orders")
    redacted = R.redact_evidence(evidence)
    assert "ann@example.com" not in redacted.model_dump_json()
    assert "pw-Secret-1" not in redacted.model_dump_json()
    assert redacted.rows == [{"email": "[redacted:email]", "password_hash": "[redacted:password]",
                              "n": 3}]
    assert redacted.link == "https://grafana.example/explore?api_key=[redacted:api-key]"
    assert redacted.summary.endswith("(redacted: 1 api-key, 3 email, 1 password, 1 url-password)")
    assert redacted.start == evidence.start and redacted.row_count == 1
    assert R.redact_evidence(_evidence(summary="clean")).summary == "clean"


def test_steps_are_redacted() -> None:
    step = StepRecord(id="inv_1:gather:0", investigation_id="inv_1", stage="gather", seq=0,
                      kind=StepKind.STAGE, name="plan", arguments={"q": "token=abcdef123456"},
                      status="ok", started_at=datetime(2026, 11, 20, tzinfo=UTC), duration_ms=1.0,
                      summary="no service matches labels {'owner': 'ann@example.com'}",
                      detail={"headers": {"Authorization": "Bearer abcdef1234567890"}})
    redacted = R.redact_step(step)
    assert redacted.arguments == {"q": "token=[redacted:token]"}
    assert redacted.summary == "no service matches labels {'owner': '[redacted:email]'}"
    assert redacted.detail == {"headers": {"Authorization": "[redacted:authorization]"}}
    assert redacted.id == step.id and redacted.started_at == step.started_at


def test_the_tool_registry_records_only_redacted_evidence(tmp_path: Path) -> None:
    secret = "sk_live_" + tok(24)
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps({"timestamp": "2026-11-20T13:45:00Z", "level": "error",
                                "message": f"stripe rejected {secret} for CUST-00412345"}) + "\n")
    connector = build_connector("logs", {"type": "files_logs", "path": str(path)}, tmp_path)
    redactor = Redactor(RedactionConfig.model_validate(
        {"deny": [{"kind": "customer-id", "pattern": r"CUST-\d{8}"}]}))
    tools = ToolRegistry([connector], redactor=redactor)
    log = StepLog("inv_1", "gather")
    call = ToolCall("query_logs", {"query": f"stripe {secret}", "start": "2026-11-20T13:00:00Z",
                                   "end": "2026-11-20T14:00:00Z"})
    try:
        [step] = tools.call_many([call], log)
    finally:
        tools.close()
    dumped = step.model_dump_json()
    assert secret not in dumped and "CUST-00412345" not in dumped
    assert step.detail["rows"][0]["message"] == (
        "stripe rejected [redacted:stripe-key] for [redacted:customer-id]")
    assert step.arguments["query"] == "stripe [redacted:stripe-key]"
    assert step.detail["query"] == "stripe [redacted:stripe-key]"
    assert "(redacted: 1 customer-id, 3 stripe-key)" in step.summary
