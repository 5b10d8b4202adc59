"""Calibration of `triage eval`: category accuracy, a confusion matrix, a reliability table and
the Brier score over replayed bundles, and how often a commit is blamed when none is the cause.

A report is right when its top category is the true one; when the truth is a false alarm,
abstaining is right. Reliability bins the top hypothesis's stated confidence; the lowest bin is
where the rules brain abstains. The Brier score is the mean of (p - right)² where p is the
probability the report gives its own verdict: the top confidence when it names a cause, one minus
it when it abstains (it is saying no cause is likely).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pydantic import BaseModel, Field

from triage.scenarios import ABSTAIN, COMMIT_CATEGORIES, FALSE_ALARM, ScenarioResult

BINS = [(0.0, 0.35), (0.35, 0.5), (0.5, 0.65), (0.65, 0.8), (0.8, 1.0)]
ERROR = "error"  # the column of a replay that produced no report


@dataclass(frozen=True)
class Scored:
    """One bundle as calibration sees it."""

    truth: str
    predicted: str
    confidence: float
    blamed_commit: bool

    @property
    def right(self) -> bool:
        """The right category, or an abstention on a false alarm."""
        return self.predicted == (ABSTAIN if self.truth == FALSE_ALARM else self.truth)

    @property
    def stated(self) -> float:
        """The probability the report gives its own verdict."""
        return 1.0 - self.confidence if self.predicted == ABSTAIN else self.confidence


class ReliabilityBin(BaseModel):
    """Stated confidence against accuracy in one bin."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


class Calibration(BaseModel):
    """Every figure `triage eval` prints after the per-bundle lines (and writes with --json)."""

    scored: int
    unscored: list[str] = Field(default_factory=list, description="bundles stating no truth")
    correct: int
    accuracy: float | None
    per_category: dict[str, float]
    labels: list[str]  # the matrix's columns: every category seen, then abstain (and error)
    confusion: dict[str, dict[str, int]]  # truth -> predicted -> count
    reliability: list[ReliabilityBin]
    brier: float | None
    wrongly_blamed: int  # a commit or deploy named as the cause when the truth has none
    wrongly_blamed_bundles: list[str]


def scored(result: ScenarioResult) -> Scored | None:
    """A result's figures, or None when its bundle states no truth."""
    if result.truth is None:
        return None
    return Scored(result.truth, result.predicted or ERROR, result.confidence or 0.0,
                  bool(result.blamed_commit))


def bin_of(confidence: float) -> int:
    """The reliability bin of a confidence (each bin holds its low end; the last also 1.0)."""
    return next((i for i, (low, high) in enumerate(BINS) if low <= confidence < high),
                len(BINS) - 1)


def calibrate(results: list[ScenarioResult]) -> Calibration:
    """The figures over `results` (bundles that state no truth are listed, not scored)."""
    pairs = [(r.scenario, s) for r in results if (s := scored(r)) is not None]
    items = [s for _, s in pairs]
    truths = sorted({s.truth for s in items})
    predicted = {s.predicted for s in items}
    # Columns: what can be predicted (a false alarm is predicted by abstaining).
    labels = sorted((set(truths) - {FALSE_ALARM}) | (predicted - {ABSTAIN, ERROR}))
    labels += [x for x in (ABSTAIN, ERROR) if x in predicted or x == ABSTAIN]
    confusion = {t: {label: 0 for label in labels} for t in truths}
    for s in items:
        confusion[s.truth][s.predicted] += 1
    per_truth = Counter(s.truth for s in items)
    right_per_truth = Counter(s.truth for s in items if s.right)
    reliability = []
    for i, (low, high) in enumerate(BINS):
        members = [s for s in items if s.predicted != ERROR and bin_of(s.confidence) == i]
        reliability.append(ReliabilityBin(
            low=low, high=high, count=len(members),
            mean_confidence=sum(s.confidence for s in members) / len(members) if members else None,
            accuracy=sum(s.right for s in members) / len(members) if members else None))
    judged = [s for s in items if s.predicted != ERROR]
    blamed = [name for name, s in pairs if s.blamed_commit and s.truth not in COMMIT_CATEGORIES]
    correct = sum(s.right for s in items)
    return Calibration(
        scored=len(items), unscored=[r.scenario for r in results if r.truth is None],
        correct=correct, accuracy=correct / len(items) if items else None,
        per_category={t: right_per_truth[t] / per_truth[t] for t in truths}, labels=labels,
        confusion=confusion, reliability=reliability,
        brier=sum((s.stated - s.right) ** 2 for s in judged) / len(judged) if judged else None,
        wrongly_blamed=len(blamed), wrongly_blamed_bundles=blamed)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def format_calibration(cal: Calibration) -> list[str]:
    """The figures as text: accuracy, the confusion matrix, the reliability table, blame."""
    if not cal.scored:
        return ["calibration: no bundle states its true category"]
    lines = [f"category accuracy: {cal.correct}/{cal.scored} ({_pct(cal.accuracy)})"]
    lines += [f"  {truth}: {_pct(acc)}" for truth, acc in cal.per_category.items()]
    width = max(len(t) for t in [*cal.confusion, "truth \\ predicted"])
    cols = [max(len(label), 3) for label in cal.labels]
    lines += ["", "confusion matrix (rows: truth, columns: predicted)",
              "  " + "truth \\ predicted".ljust(width) + "  "
              + "  ".join(label.rjust(c) for label, c in zip(cal.labels, cols, strict=True))]
    for truth, row in cal.confusion.items():
        cells = [str(row[label] or ".").rjust(c) for label, c in zip(cal.labels, cols, strict=True)]
        lines.append("  " + truth.ljust(width) + "  " + "  ".join(cells))
    lines += ["", "reliability (top hypothesis confidence vs accuracy)",
              "  confidence     count  mean conf  accuracy"]
    for b in cal.reliability:
        name = f"{b.low:.2f}-{b.high:.2f}" + (" abstain" if b.low == 0 else "")
        lines.append(f"  {name:<13} {b.count:>6}  {_pct(b.mean_confidence):>9}  {_pct(b.accuracy):>8}")
    brier = "-" if cal.brier is None else f"{cal.brier:.3f}"
    lines += [f"  Brier score: {brier} (0 is perfect; always 50% scores 0.25)", "",
              f"blamed a commit or deploy when the truth has none: {cal.wrongly_blamed}"
              + (f" ({', '.join(cal.wrongly_blamed_bundles)})" if cal.wrongly_blamed else "")]
    if cal.unscored:
        lines.append(f"not scored (no true category): {', '.join(cal.unscored)}")
    return lines
