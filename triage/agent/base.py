"""The Brain contract: `investigate(context, tools, budget) -> Findings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from triage.agent.tools import ToolRegistry
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal
from triage.models import Alert
from triage.playbook_rules import HypothesisRule


class Hypothesis(BaseModel):
    """One ranked explanation, with why we believe it and what speaks against it."""

    category: str
    title: str
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list, description="step ids cited")
    counter_evidence: list[str] = Field(default_factory=list)
    suspect_commit: str | None = None


class Findings(BaseModel):
    """What a brain concluded; `abstained` when the evidence was too weak to name a cause."""

    brain: str
    summary: str
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    abstained: bool = False
    incomplete: bool = False
    notes: list[str] = Field(default_factory=list)
    related: list[dict[str, Any]] = Field(default_factory=list, description="seen before")


@dataclass(frozen=True)
class Budget:
    """Bounds on a brain's work."""

    max_steps: int = 20
    max_seconds: float = 600.0


@dataclass
class InvestigationContext:
    """Everything a brain starts from."""

    investigation_id: str
    alert: Alert
    service: str | None
    playbook: str
    window: AnalysisWindow
    evidence: list[CitedEvidence] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    rules: list[HypothesisRule] = field(default_factory=list)


class Brain(Protocol):
    """Works evidence into ranked hypotheses."""

    name: str

    def investigate(self, context: InvestigationContext, tools: ToolRegistry,
                    budget: Budget) -> Findings:
        """Rank hypotheses for the alert in `context`."""
        ...
