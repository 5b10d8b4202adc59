"""One verdict, reconciled after the evidence is in.

The brain ranks hypotheses from telemetry; the sandbox then tests the strongest claim a report can
make, "this code change broke it". Reproduction and bisect outrank every correlation, so once
they have spoken this module re-ranks the brain's hypotheses:

=========================================  ===============================================
what the sandbox found                     what the verdict does
=========================================  ===============================================
reproduced + bisected to one culprit       the culprit commit leads (`config-change` when it
                                           changes configuration or a default, else
                                           `bad-deploy`), with the lines it changed
reproduced, no single culprit              deploy hypotheses gain; the deployed commit is the
                                           suspect
not reproduced                             every hypothesis that blames a deploy or commit is
                                           demoted, with the reproduction as counter-evidence;
                                           the report abstains if nothing else is strong
inconclusive / skipped / error             the brain's ranking stands
=========================================  ===============================================

The summary, the report's first lines, the final note and the JSON all carry this verdict.
"""

from __future__ import annotations

from triage.agent.base import Findings, Hypothesis
from triage.agent.rules import ABSTAIN_BELOW
from triage.fix.diffs import ChangeKind, classify_change, diff_excerpt
from triage.fix.records import CommitInfo, FixSection
from triage.models import StepRecord

BLAMING = frozenset({"bad-deploy", "config-change"})
NOT_REPRODUCED_FACTOR = 0.3  # a correlation the sandbox refuted keeps little of its weight
REPRODUCED_FLOOR = 0.8  # a deploy whose build fails the repro is very likely the cause
CULPRIT_CONFIDENCE = 0.9
VERIFIED_CONFIDENCE = 0.95


def latest_findings(steps: list[StepRecord]) -> Findings | None:
    """The verdict's findings when the verdict stage ran, else the brain's (None before it)."""
    found = {s.stage: s for s in steps if s.name == "findings" and s.stage in ("brain", "verdict")}
    step = found.get("verdict") or found.get("brain")
    return Findings.model_validate(step.detail) if step else None


def blames_change(hypothesis: Hypothesis) -> bool:
    """Whether a hypothesis names a deploy or commit as the cause."""
    return hypothesis.suspect_commit is not None or hypothesis.category in BLAMING


def reconcile(findings: Findings, fix: FixSection | None) -> Findings:
    """The brain's findings re-ranked by what reproduction and bisect established."""
    repro = fix.repro if fix else None
    verdict = repro.verdict.value if repro and repro.verdict else None
    hypotheses = [h.model_copy(deep=True) for h in findings.hypotheses]
    steps: list[str] = []
    if verdict == "reproduced" and fix is not None:
        culprit = fix.culprit
        if culprit is not None:
            hypotheses = [_culprit_hypothesis(culprit, fix, hypotheses),
                          *[h for h in hypotheses if not blames_change(h)]]
            steps.append(f"reproduced at {_short(repro.commit if repro else None)} and bisected to "
                         f"{culprit.short}: the culprit commit leads")
        else:
            for h in hypotheses:
                if blames_change(h):
                    h.confidence = max(h.confidence, REPRODUCED_FLOOR)
                    h.rationale.insert(0, f"the failure reproduces at the deployed commit "
                                          f"{_short(repro.commit if repro else None)}")
                    h.suspect_commit = h.suspect_commit or (repro.commit if repro else None)
            steps.append("reproduced at the deployed commit (no single culprit commit): deploy "
                         "hypotheses are supported")
    elif verdict == "not_reproduced" and repro is not None:
        demoted = 0
        for h in hypotheses:
            if blames_change(h):
                h.confidence = round(h.confidence * NOT_REPRODUCED_FACTOR, 3)
                h.counter_evidence.insert(0, f"not reproduced: the failing request passes at the "
                                             f"deployed commit {_short(repro.commit)} "
                                             f"({repro.reason})")
                demoted += 1
        if demoted:
            steps.append(f"not reproduced at {_short(repro.commit)}: {demoted} hypothesis(es) "
                         "blaming a deploy demoted")
    if not steps:
        return findings
    hypotheses.sort(key=lambda h: -h.confidence)
    abstained = not hypotheses or hypotheses[0].confidence < ABSTAIN_BELOW
    return findings.model_copy(update={
        "hypotheses": hypotheses, "abstained": abstained,
        "summary": summary_of(hypotheses, abstained, steps),
        "notes": [*findings.notes, *(f"verdict: {s}" for s in steps)]})


def summary_of(hypotheses: list[Hypothesis], abstained: bool, steps: list[str]) -> str:
    """The first line of the report: the leading hypothesis, or why there is none."""
    if abstained:
        why = f" ({steps[-1]})" if steps else ""
        lead = (f"; strongest lead: {hypotheses[0].title} ({hypotheses[0].confidence:.0%})"
                if hypotheses else "")
        return f"Evidence is too weak to name a cause{why}{lead}."
    top = hypotheses[0]
    return f"{top.title} (confidence {top.confidence:.0%})"


def _culprit_hypothesis(culprit: CommitInfo, fix: FixSection, brain: list[Hypothesis]) -> Hypothesis:
    """The hypothesis that names the bisected culprit, with the lines it changed."""
    repro = fix.repro
    kind = classify_change(culprit.files, culprit.diff)
    category = "config-change" if kind == ChangeKind.CONFIG else "bad-deploy"
    deploy = (repro.deploy or {}) if repro else {}
    in_deploy = (f" in deploy {str(deploy.get('commit'))[:12]}"
                 if deploy.get("commit") and deploy.get("commit") != culprit.sha else "")
    what = "Config change" if category == "config-change" else "Code change"
    title = (f"{what}: commit {culprit.short} '{culprit.subject}' ({culprit.author}){in_deploy}"
             f" — reproduced and bisected")
    rationale = [f"the failure reproduces at the deployed commit {_short(repro.commit if repro else None)}: "
                 f"{repro.reason if repro else ''}",
                 f"git bisect with the repro: {fix.bisect.reason if fix.bisect else ''}"]
    rationale += [f"changed: {line}" for line in diff_excerpt(culprit.diff)]
    verified = fix.verified
    if verified:
        rationale.append("its revert passes the repro and the tests (candidate fix)")
    earlier = next((h for h in brain if blames_change(h)), None)
    return Hypothesis(
        category=category, title=title,
        confidence=VERIFIED_CONFIDENCE if verified else CULPRIT_CONFIDENCE,
        rationale=rationale + (earlier.rationale[:3] if earlier else []),
        evidence=earlier.evidence if earlier else [],
        counter_evidence=earlier.counter_evidence if earlier else [],
        suspect_commit=culprit.sha)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "the deployed commit"
