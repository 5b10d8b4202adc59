"""`submit_findings`: the model's structured final answer, validated into `Findings`, and the
findings returned when the model could not finish (the rules brain's, marked incomplete)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triage.agent.base import Findings, FixProposal, Hypothesis

SUBMIT = "submit_findings"
MAX_NOTE_CHARS = 600


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmittedHypothesis(_Strict):
    """One hypothesis as the model submits it."""

    category: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: list[str] = Field(default_factory=list, max_length=10)
    evidence: list[str] = Field(min_length=1, max_length=20)
    counter_evidence: list[str] = Field(default_factory=list, max_length=10)
    suspect_commit: str | None = Field(default=None, max_length=64)


class SubmittedFix(_Strict):
    """The fix the model proposes."""

    kind: Literal["forward", "revert", "none"]
    description: str = Field(default="", max_length=2000)
    commit: str | None = Field(default=None, max_length=64)


class Submission(_Strict):
    """The whole final answer."""

    summary: str = Field(min_length=1, max_length=500)
    hypotheses: list[SubmittedHypothesis] = Field(max_length=8)
    abstained: bool = False
    fix_proposal: SubmittedFix | None = None
    notes: list[str] = Field(default_factory=list, max_length=10)


def submit_tool_param() -> dict[str, Any]:
    """The `submit_findings` tool definition."""
    schema = _inline(Submission.model_json_schema())
    return {
        "name": SUBMIT,
        "description": (
            "Submit the final answer and end the investigation: ranked hypotheses, each citing "
            "the step ids of the evidence that supports it, a confidence between 0 and 1, and "
            "what speaks against it; set abstained when the evidence is too weak to name a cause. "
            "fix_proposal: 'forward' when you edited files in the sandbox (the diff is taken from "
            "the checkout), 'revert' to undo a culprit commit, else 'none'."),
        "input_schema": schema,
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` to `$defs` replaced by its definition (one self-contained
    object, as tool definitions are best written)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def parse_submission(raw: dict[str, Any], known_steps: set[str]) -> Submission | str:
    """The validated submission, or an error message for the model naming each problem."""
    try:
        submission = Submission.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
                             for err in exc.errors())
        return f"submit_findings input is invalid: {problems}"
    unknown = sorted({step for h in submission.hypotheses for step in h.evidence} - known_steps)
    if unknown:
        sample = ", ".join(sorted(known_steps)[:12])
        return (f"unknown evidence step id(s): {', '.join(unknown)}. Cite step ids exactly as "
                f"given in the evidence and tool outputs (e.g. {sample})")
    return submission


def findings_from(submission: Submission, notes: list[str], usage: dict[str, Any],
                  fix: FixProposal | None) -> Findings:
    """Findings from a valid submission, most confident hypothesis first."""
    hypotheses = sorted((Hypothesis(**h.model_dump()) for h in submission.hypotheses),
                        key=lambda h: -h.confidence)
    return Findings(brain="claude", summary=submission.summary, hypotheses=hypotheses,
                    abstained=submission.abstained or not hypotheses,
                    notes=[*submission.notes, *notes], fix=fix, usage=usage)


def incomplete_findings(first: Findings, reason: str, notes: list[str], usage: dict[str, Any],
                        last_words: str) -> Findings:
    """What the brain has when it must stop early: the rules brain's findings, marked."""
    said = (f" Its last words: “{last_words[:MAX_NOTE_CHARS]}”" if last_words.strip() else "")
    return Findings(
        brain="claude", summary=f"Incomplete ({reason}). {first.summary}",
        hypotheses=first.hypotheses, abstained=first.abstained, incomplete=True,
        notes=[f"The Claude brain stopped before submitting findings: {reason}. The hypotheses "
               f"shown are the rules brain's first response.{said}", *notes, *first.notes],
        usage=usage)
