"""The deterministic brain: evaluates the playbook's hypothesis rules over the analyzer signals,
ranks what fired, and abstains when nothing is strong enough to name a cause."""

from __future__ import annotations

from triage.agent.base import Budget, Findings, Hypothesis, InvestigationContext
from triage.agent.tools import ToolRegistry
from triage.analysis.signals import Signal, SignalKind
from triage.playbook_rules import HypothesisRule, RuleOutcome

ABSTAIN_BELOW = 0.35


class RulesBrain:
    """Ranks the hypotheses whose rules fire; needs no model."""

    name = "rules"

    def investigate(self, context: InvestigationContext, tools: ToolRegistry,
                    budget: Budget) -> Findings:
        """Turn the context's signals into ranked, cited hypotheses."""
        hypotheses = rank(context.rules, context.signals, context.service)
        symptoms = [s for s in context.signals if s.kind != SignalKind.RECENT_DEPLOY]
        notes = [] if context.evidence else ["no evidence was gathered: check the service mapping"]
        if context.service is None and not context.evidence:  # say so, not "no symptom"
            return Findings(brain=self.name, abstained=True, hypotheses=hypotheses, notes=notes,
                            summary="No service in triage.yaml matched this alert, so nothing "
                                    "was queried: map it under `services:` (see `triage init`).")
        if not hypotheses or hypotheses[0].confidence < ABSTAIN_BELOW:
            seen = (f"{len(symptoms)} symptom(s) but no cause stands out" if symptoms
                    else "no symptom stood out in logs or metrics")
            return Findings(brain=self.name, summary=f"Evidence is too weak to name a cause: {seen}.",
                            hypotheses=hypotheses, abstained=True, notes=notes)
        top = hypotheses[0]
        return Findings(brain=self.name, summary=f"{top.title} (confidence {top.confidence:.0%})",
                        hypotheses=hypotheses, notes=notes)


def rank(rules: list[HypothesisRule], signals: list[Signal], service: str | None) -> list[Hypothesis]:
    """Every rule that fires, as a hypothesis, most confident first (rule order breaks ties)."""
    fired = [(rule, outcome) for rule in rules
             if (outcome := rule.evaluate(signals, service)) is not None]
    if any(not rule.fallback for rule, _ in fired):
        fired = [(rule, outcome) for rule, outcome in fired if not rule.fallback]
    hypotheses = [_hypothesis(rule, outcome) for rule, outcome in fired]
    return sorted(hypotheses, key=lambda h: -h.confidence)


def _hypothesis(rule: HypothesisRule, outcome: RuleOutcome) -> Hypothesis:
    support = sorted(outcome.support, key=lambda s: -s.strength)
    return Hypothesis(
        category=rule.category,
        title=outcome.title,
        confidence=outcome.confidence,
        rationale=[f"{s.title} (strength {s.strength:.0%})" for s in support[:5]],
        evidence=list(dict.fromkeys(step for s in support for step in s.evidence)),
        counter_evidence=[f"also seen: {s.title}" for s in outcome.against[:3]],
        suspect_commit=outcome.suspect_commit,
    )
