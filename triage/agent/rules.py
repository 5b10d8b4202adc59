"""The deterministic brain: ranks hypotheses from analyzer signals, no model needed."""

from __future__ import annotations

import re

from triage.agent.base import Budget, Findings, Hypothesis, InvestigationContext
from triage.agent.tools import ToolRegistry
from triage.analysis.signals import Signal, SignalKind

ABSTAIN_BELOW = 0.35
_DEPENDENCY_WORDS = re.compile(
    r"timeout|timed out|connection refused|unavailable|\b50[234]\b|upstream|reset by peer|"
    r"circuit.?breaker|dns",
    re.I,
)
_TRAFFIC_METRIC = re.compile(r"request|rps|qps|throughput|traffic", re.I)


class RulesBrain:
    """Ranks bad-deploy, dependency, traffic and unexplained-error hypotheses from signals."""

    name = "rules"

    def investigate(self, context: InvestigationContext, tools: ToolRegistry,
                    budget: Budget) -> Findings:
        """Turn the context's signals into ranked, cited hypotheses."""
        symptoms = [s for s in context.signals if s.kind != SignalKind.RECENT_DEPLOY]
        deploys = [s for s in context.signals if s.kind == SignalKind.RECENT_DEPLOY]
        hypotheses = [h for h in (
            _bad_deploy(symptoms, deploys),
            _dependency_failure(symptoms),
            _traffic_surge(symptoms),
        ) if h]
        if symptoms and not hypotheses:
            hypotheses.append(_unexplained(symptoms))
        hypotheses.sort(key=lambda h: -h.confidence)
        notes = [] if context.evidence else ["no evidence was gathered: check the service mapping"]
        if not hypotheses or hypotheses[0].confidence < ABSTAIN_BELOW:
            summary = ("Evidence is too weak to name a cause"
                       + (f": {len(symptoms)} symptom(s), no correlated change." if symptoms else
                          ": no symptom stood out in logs or metrics."))
            return Findings(brain=self.name, summary=summary, hypotheses=hypotheses,
                            abstained=True, notes=notes)
        top = hypotheses[0]
        return Findings(brain=self.name, summary=f"{top.title} (confidence {top.confidence:.0%})",
                        hypotheses=hypotheses, notes=notes)


def _cite(signals: list[Signal]) -> list[str]:
    return list(dict.fromkeys(step for s in signals for step in s.evidence))


def _bad_deploy(symptoms: list[Signal], deploys: list[Signal]) -> Hypothesis | None:
    if not symptoms or not deploys:
        return None
    deploy = deploys[0]
    strongest = max(s.strength for s in symptoms)
    new_errors = any(s.kind == SignalKind.NEW_ERRORS for s in symptoms)
    confidence = min(0.95, 0.3 + 0.3 * strongest + 0.2 * deploy.strength + 0.15 * new_errors)
    counter = []
    if len(deploys) > 1:
        counter.append(f"{len(deploys) - 1} other deploy(s) also landed before the symptoms")
    if not new_errors:
        counter.append("no error message is new since the deploy: it may be an old failure mode")
    return Hypothesis(
        category="bad-deploy",
        title=deploy.title.replace("Deploy of", "Bad deploy of", 1),
        confidence=round(confidence, 3),
        rationale=[deploy.title, *[s.title for s in symptoms[:3]]],
        evidence=_cite([deploy, *symptoms]),
        counter_evidence=counter,
        suspect_commit=str(deploy.detail.get("commit")) or None,
    )


def _dependency_failure(symptoms: list[Signal]) -> Hypothesis | None:
    matching = [
        s for s in symptoms if s.kind == SignalKind.NEW_ERRORS
        and any(_DEPENDENCY_WORDS.search(t["template"]) for t in s.detail.get("templates", []))
    ]
    if not matching:
        return None
    return Hypothesis(
        category="dependency-failure",
        title="Errors point at a failing dependency (timeouts / refused connections)",
        confidence=round(min(0.9, 0.35 + 0.4 * matching[0].strength), 3),
        rationale=[s.title for s in matching],
        evidence=_cite(matching),
    )


def _traffic_surge(symptoms: list[Signal]) -> Hypothesis | None:
    surges = [
        s for s in symptoms if s.kind == SignalKind.METRIC_SHIFT
        and s.detail.get("direction") == "rose" and _TRAFFIC_METRIC.search(str(s.detail["metric"]))
    ]
    if not surges:
        return None
    return Hypothesis(
        category="traffic-surge",
        title=f"Traffic surge: {surges[0].title}",
        confidence=round(min(0.9, 0.3 + 0.5 * surges[0].strength), 3),
        rationale=[s.title for s in surges],
        evidence=_cite(surges),
    )


def _unexplained(symptoms: list[Signal]) -> Hypothesis:
    return Hypothesis(
        category="unexplained-errors",
        title=f"Symptoms without a correlated change: {symptoms[0].title}",
        confidence=round(0.2 + 0.2 * symptoms[0].strength, 3),
        rationale=[s.title for s in symptoms[:3]],
        evidence=_cite(symptoms),
    )
