"""With no service matched and nothing gathered, the rules brain says so instead of 'no symptom'."""

from __future__ import annotations

from dataclasses import replace

from tests.agent.test_rules import context
from triage.agent.base import Budget
from triage.agent.rules import RulesBrain
from triage.agent.tools import ToolRegistry


def test_an_unmapped_alert_says_no_service_matched_and_nothing_was_queried() -> None:
    findings = RulesBrain().investigate(replace(context([]), service=None), ToolRegistry([]),
                                        Budget())
    assert findings.abstained and findings.hypotheses == []
    assert findings.summary == ("No service in triage.yaml matched this alert, so nothing was "
                                "queried: map it under `services:` (see `triage init`).")


def test_a_mapped_service_without_evidence_still_says_no_symptom() -> None:
    findings = RulesBrain().investigate(context([]), ToolRegistry([]), Budget())
    assert "no symptom stood out" in findings.summary
