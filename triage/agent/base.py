"""The Brain contract: `investigate(context, tools, budget) -> Findings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
    service: str | None = Field(default=None, description="the followed service the cause lies "
                                "in (see triage.follow); None: the alerted service")


class FixProposal(BaseModel):
    """A candidate fix a brain proposes: its kind, what it changes, and whether it was verified."""

    kind: Literal["forward", "revert", "none"] = "none"
    description: str = ""
    commit: str | None = Field(default=None, description="the commit a revert undoes")
    diff: str = Field(default="", description="unified diff of the sandbox checkout")
    verified: bool | None = Field(default=None, description="None: not verified (yet)")
    verification: list[str] = Field(default_factory=list, description="what was run, and how")
    candidate_commit: str | None = Field(default=None, description="the verified commit (fixed "
                                         "dates: the same diff on the same base makes it again)")
    record: dict[str, Any] = Field(default_factory=dict, description="triage.fix FixRecord")


class Findings(BaseModel):
    """What a brain concluded; `abstained` when the evidence was too weak to name a cause."""

    brain: str
    summary: str
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    abstained: bool = False
    incomplete: bool = False
    notes: list[str] = Field(default_factory=list)
    related: list[dict[str, Any]] = Field(default_factory=list, description="seen before")
    fix: FixProposal | None = None
    usage: dict[str, Any] = Field(default_factory=dict, description="model turns, tokens, cost")


@dataclass(frozen=True)
class Budget:
    """Bounds on a brain's work; None means unbounded."""

    max_steps: int = 20  # model turns
    max_seconds: float = 600.0
    max_tool_calls: int | None = None
    max_input_tokens: int | None = None  # uncached + cache writes + cache reads
    max_output_tokens: int | None = None
    max_cost_usd: float | None = None


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
