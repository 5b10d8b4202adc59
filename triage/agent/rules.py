"""The deterministic brain: evaluates the playbook's hypothesis rules over the analyzer signals,
ranks what fired, and abstains when nothing is strong enough to name a cause.

Each service's signals are judged by the same rules on their own: the alerted service's, and
each followed service's (`detail["service"]`, `detail["hop"]`, see triage.follow). A cause found
in a followed service is titled by the path that led there ("checkout → ledger: …"), and once one
is found, the alerted service's own "a dependency is failing" hypothesis is the symptom it
explains: it ranks below the cause.
"""

from __future__ import annotations

from triage.agent.base import Budget, Findings, Hypothesis, InvestigationContext
from triage.agent.tools import ToolRegistry
from triage.analysis.signals import Signal, SignalKind
from triage.playbook_rules import HypothesisRule, RuleOutcome

ABSTAIN_BELOW = 0.35
# The category that only says "something we call fails": a cause found by following the call
# outranks it.
EXPLAINED_DOWNSTREAM = frozenset({"dependency-failure"})
BELOW = 0.01


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
    """Every rule that fires, as a hypothesis, most confident first (rule order breaks ties);
    causes found in followed services first among equals."""
    own = [s for s in signals if s.detail.get("hop") is None]
    hypotheses = _fired(rules, own, service)
    downstream: list[Hypothesis] = []
    for name, trail in _followed(signals):
        theirs = [s for s in signals if s.detail.get("service") == name
                  and s.detail.get("hop") is not None]
        for h in _fired([r for r in rules if not r.fallback], theirs, name):
            h.title, h.service = f"{' → '.join(trail)}: {h.title}", name
            h.rationale.append(f"reached by following the failure: {' → '.join(trail)}")
            downstream.append(h)
    if downstream:
        best = max(downstream, key=lambda h: h.confidence)
        for h in hypotheses:
            if h.category in EXPLAINED_DOWNSTREAM and h.confidence >= best.confidence:
                h.confidence = round(max(0.0, best.confidence - BELOW), 3)
                h.counter_evidence.insert(0, f"explained downstream: {best.title}")
    return sorted([*downstream, *hypotheses], key=lambda h: -h.confidence)


def _fired(rules: list[HypothesisRule], signals: list[Signal],
           service: str | None) -> list[Hypothesis]:
    """The hypotheses of the rules that fire over one service's signals."""
    fired = [(rule, outcome) for rule in rules
             if (outcome := rule.evaluate(signals, service)) is not None]
    if any(not rule.fallback for rule, _ in fired):
        fired = [(rule, outcome) for rule, outcome in fired if not rule.fallback]
    hypotheses = [_hypothesis(rule, outcome) for rule, outcome in fired]
    return sorted(hypotheses, key=lambda h: -h.confidence)


def _followed(signals: list[Signal]) -> list[tuple[str, list[str]]]:
    """The followed services with signals, nearest hop first, each with the path to it."""
    seen: dict[str, tuple[int, list[str]]] = {}
    for s in signals:
        name, hop = s.detail.get("service"), s.detail.get("hop")
        if isinstance(name, str) and isinstance(hop, int) and name not in seen:
            trail = s.detail.get("path")
            seen[name] = (hop, [str(p) for p in trail] if isinstance(trail, list) else [name])
    return [(name, trail) for name, (_, trail) in sorted(seen.items(), key=lambda kv: kv[1][0])]


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
