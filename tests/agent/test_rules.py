"""Hypothesis rules and the rules brain: ranking, citations, counter-evidence, abstention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from triage.agent.base import Budget, InvestigationContext
from triage.agent.rules import RulesBrain, rank
from triage.agent.tools import ToolRegistry
from triage.analysis.signals import AnalysisWindow, Signal, SignalKind
from triage.models import Alert, Source
from triage.playbook import PlaybookLibrary
from triage.playbook_rules import HypothesisRule, SignalMatch

T = datetime(2026, 1, 1, 12, tzinfo=UTC)
RULES = PlaybookLibrary([]).rules_for(PlaybookLibrary([]).named("default"))


def signal(kind: SignalKind, title: str, strength: float = 0.9, step: str = "s1", **detail: object) -> Signal:
    return Signal(kind=kind, title=title, strength=strength, onset=T, evidence=[step], detail=dict(detail))


def new_errors(template: str, step: str = "logs") -> Signal:
    return signal(SignalKind.NEW_ERRORS, f'new error "{template}"', step=step,
                  templates=[{"template": template, "count": 9, "sample": template}])


DEPLOY = signal(SignalKind.RECENT_DEPLOY, "checkout deploy abc123, 2 min before", 0.98, "deploys",
                commit="abc123")
OLD_DEPLOY = signal(SignalKind.RECENT_DEPLOY, "checkout deploy 0ld000, 90 min before", 0.25, "deploys",
                    commit="0ld000")


def context(signals: list[Signal]) -> InvestigationContext:
    alert = Alert(source=Source.PAGERDUTY, dedup_key="k", title="t", started_at=T)
    return InvestigationContext(investigation_id="inv", alert=alert, service="checkout",
                                playbook="default", window=AnalysisWindow(T, T, T), evidence=[],
                                signals=signals, rules=RULES)


def test_deploy_before_new_errors_blames_the_nearest_deploy() -> None:
    ranked = rank(RULES, [DEPLOY, OLD_DEPLOY, new_errors("KeyError: 'locale'")], "checkout")
    top = ranked[0]
    assert top.category == "bad-deploy"
    assert top.suspect_commit == "abc123"
    assert top.evidence == ["deploys", "logs"]
    assert top.counter_evidence == ["also seen: checkout deploy 0ld000, 90 min before"]


def test_timeouts_without_a_deploy_point_at_a_dependency() -> None:
    ranked = rank(RULES, [new_errors("POST https://pay.example/charge timed out after <num>s")], "x")
    assert [h.category for h in ranked] == ["dependency-failure"]
    assert ranked[0].suspect_commit is None


def test_lock_timeouts_point_at_the_database() -> None:
    latency = signal(SignalKind.METRIC_SHIFT, "p99 latency rose", metric="http_latency_p99_ms",
                     direction="rose", step="metrics")
    ranked = rank(RULES, [new_errors("ERROR: canceling statement due to lock timeout"), latency], "x")
    assert ranked[0].category == "db-contention"
    assert ranked[0].evidence == ["logs"]


def test_a_blocking_tree_alone_is_database_contention() -> None:
    blocked = signal(SignalKind.DB_BLOCKING, "3 sessions blocked behind pid 42", 0.8, "db")
    ranked = rank(RULES, [blocked], "x")
    assert ranked[0].category == "db-contention"
    assert ranked[0].evidence == ["db"]


def test_a_pool_at_its_limit_cites_who_holds_its_connections() -> None:
    full = signal(SignalKind.GAUGE_AT_LIMIT, "db_pool_in_use reached 20 (100% of db_pool_max)", 1.0,
                  "metrics")
    idle = signal(SignalKind.DB_IDLE_IN_TRANSACTION, "8 sessions idle in an open transaction "
                  "(pid 7, refund-worker) after: SELECT 1", 0.45, "db")
    alone, cited = rank(RULES, [full], "x")[0], rank(RULES, [full, idle], "x")[0]
    assert cited.category == alone.category == "resource-exhaustion"
    assert cited.confidence == alone.confidence  # cited, not weighed
    assert cited.evidence == ["metrics", "db"]
    assert cited.rationale[-1].startswith("8 sessions idle in an open transaction (pid 7, refund")


def test_a_cited_signal_alone_makes_no_rule_fire() -> None:
    rule = HypothesisRule(category="x", title="{signal}", any=[SignalMatch(signal="gauge_at_limit")],
                          cite=[SignalMatch(signal="db_idle_in_transaction")])
    idle = signal(SignalKind.DB_IDLE_IN_TRANSACTION, "idle", 0.9, "db")
    assert rule.evaluate([idle], None) is None


def test_rising_requests_are_a_traffic_surge() -> None:
    surge = signal(SignalKind.METRIC_SHIFT, "http_requests_total rose x4", metric="http_requests_total",
                   direction="rose")
    assert rank(RULES, [surge], "x")[0].category == "traffic-surge"


def test_fallback_only_when_nothing_else_fires() -> None:
    spike = signal(SignalKind.ERROR_SPIKE, "errors rose", 0.5)
    assert [h.category for h in rank(RULES, [spike], "x")] == ["unexplained-errors"]
    assert "unexplained-errors" not in [h.category for h in rank(RULES, [spike, DEPLOY], "x")]


def test_brain_abstains_on_weak_evidence() -> None:
    findings = RulesBrain().investigate(context([signal(SignalKind.ERROR_SPIKE, "a few errors", 0.2)]),
                                        ToolRegistry([]), Budget())
    assert findings.abstained
    assert findings.summary.startswith("Evidence is too weak to name a cause: 1 symptom(s)")
    assert findings.hypotheses[0].confidence < 0.35


def test_brain_abstains_with_no_signal_at_all() -> None:
    findings = RulesBrain().investigate(context([]), ToolRegistry([]), Budget())
    assert findings.abstained
    assert findings.hypotheses == []
    assert "no symptom stood out" in findings.summary


def test_brain_names_the_cause_when_evidence_is_strong() -> None:
    findings = RulesBrain().investigate(context([DEPLOY, new_errors("TypeError: x")]),
                                        ToolRegistry([]), Budget())
    assert not findings.abstained
    assert findings.summary.startswith("Bad deploy: checkout deploy abc123")


def test_rule_needs_a_condition_and_known_signals() -> None:
    with pytest.raises(ValidationError, match="needs at least one"):
        HypothesisRule(category="x", title="t")
    with pytest.raises(ValidationError, match="unknown signal 'logs'"):
        SignalMatch(signal="logs")
    with pytest.raises(ValidationError, match="invalid regex"):
        SignalMatch(signal="new_errors", text="(")


def test_counter_evidence_lowers_confidence() -> None:
    rule = HypothesisRule(category="x", title="{signal}", all=[SignalMatch(signal="new_errors")],
                          against=[SignalMatch(signal="metric_shift")], base=0.5, weight=0.0)
    plain = rule.evaluate([new_errors("e")], None)
    countered = rule.evaluate([new_errors("e"), signal(SignalKind.METRIC_SHIFT, "m")], None)
    assert plain is not None and countered is not None
    assert plain.confidence == 0.5
    assert countered.confidence == 0.35


def followed(kind: SignalKind, title: str, service: str, hop: int, path: list[str],
             **detail: object) -> Signal:
    return Signal(kind=kind, title=f"{service}: {title}", strength=0.9, onset=T,
                  evidence=[f"{service}-logs"],
                  detail={"service": service, "hop": hop, "path": path, **detail})


def test_a_cause_in_a_followed_service_leads_through_the_path() -> None:
    timeouts = new_errors("POST http://ledger.internal/v1 timed out after <num>s")
    oom = followed(SignalKind.NEW_ERRORS, "new error OutOfMemoryError", "ledger", 1,
                   ["checkout", "ledger"], shapes={"resource": 1.0})
    alone = rank(RULES, [timeouts], "checkout")
    ranked = rank(RULES, [timeouts, oom], "checkout")
    assert [h.category for h in ranked] == ["resource-exhaustion", "dependency-failure"]
    top, dependency = ranked
    assert top.title.startswith("checkout → ledger: Resource exhaustion: ledger: ")
    assert top.service == "ledger" and top.evidence == ["ledger-logs"]
    assert dependency.confidence < top.confidence <= alone[0].confidence + 0.1
    assert dependency.counter_evidence[0].startswith("explained downstream: checkout → ledger")
    assert alone[0].service is None and alone[0].counter_evidence == []


def test_followed_signals_are_judged_apart_from_the_alerted_ones() -> None:
    # A deploy of the alerted service and errors of a followed one are no bad deploy together,
    # and a followed service with only unexplained symptoms adds no hypothesis.
    odd = followed(SignalKind.ERROR_SPIKE, "error lines rose", "ledger", 1, ["checkout", "ledger"])
    assert rank(RULES, [DEPLOY, odd], "checkout") == []
    assert [h.category for h in rank(RULES, [DEPLOY, odd.model_copy(update={"detail": {}})],
                                     "checkout")] == ["bad-deploy"]
