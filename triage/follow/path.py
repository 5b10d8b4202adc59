"""The path an investigation followed from the alerted service, as the `path` step records it
and the report's "Followed" section shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from triage.models import StepRecord

STAGE = "follow"
STEP = "path"


class Hop(BaseModel):
    """One service followed: from whom, why, and what it showed."""

    hop: int
    source: str
    target: str
    path: list[str] = Field(description="the alerted service first, the target last")
    reason: str
    share: float | None = Field(default=None, description="of the source's anomalous lines")
    status: Literal["followed", "no_data", "error"]
    showed: str = Field(description="what its logs and metrics showed, in one line")
    signals: int = 0
    steps: list[str] = Field(default_factory=list, description="its query step ids")


class NotFollowed(BaseModel):
    """A service or host a source's lines named (or declared) that was not followed, and why."""

    source: str
    name: str
    reason: str


class FollowPath(BaseModel):
    """Every hop taken, every lead left, and the budget they were taken within."""

    hops_budget: int
    max_services: int
    hops: list[Hop] = Field(default_factory=list)
    not_followed: list[NotFollowed] = Field(default_factory=list)
    stopped: str = ""

    def arrow(self, hop: Hop) -> str:
        """`checkout → ledger → ledger-db`."""
        return " → ".join(hop.path)

    def summary(self) -> str:
        """One line: which path was followed and what the end of it showed, or why none was."""
        if not self.hops:
            return f"Nothing followed: {self.stopped}" if self.stopped else "Nothing followed."
        deepest = max(self.hops, key=lambda h: h.hop)
        shown = "; ".join(f"{self.arrow(h)} ({h.reason})" for h in self.hops
                          if h.hop == 1 or h is deepest)
        return f"Followed {shown}; {deepest.target}: {deepest.showed}"

    @classmethod
    def from_steps(cls, steps: list[StepRecord]) -> FollowPath | None:
        """The recorded path of an investigation, if its follow stage ran."""
        step = next((s for s in steps if s.stage == STAGE and s.name == STEP and s.detail), None)
        return cls.model_validate(step.detail) if step else None
