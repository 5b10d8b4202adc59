"""Words for the reproduce and fix stages: step summaries, the pull request, the CLI's lines."""

from __future__ import annotations

import shlex

from triage.agent.base import Findings
from triage.fix.records import (
    BisectRecord,
    FixRecord,
    FixSection,
    PublishRecord,
    ReproRecord,
)

NEVER_MERGED = ("Opened as a draft by the SRE triage service. Nothing is ever merged or deployed "
                "by it: review the change, and merge it yourself if it is what you want.")


def step_summary(record: ReproRecord | BisectRecord | FixRecord | PublishRecord) -> str:
    """One line for the step list."""
    if isinstance(record, ReproRecord):
        at = f" at {record.commit[:12]}" if record.commit and record.verdict else ""
        return f"{record.status.replace('_', ' ')}{at}: {record.reason}"
    if isinstance(record, BisectRecord):
        if record.culprits and record.status == "found":
            c = record.culprits[0]
            return f"culprit {c.short} {c.subject!r} ({c.author}): {record.reason}"
        return f"{record.status}: {record.reason}"
    if isinstance(record, FixRecord):
        what = f"revert of {', '.join(s[:12] for s in record.reverted)}" if record.reverted else "fix"
        return f"{what} {record.status}: {record.reason}"
    return f"{record.status}: {record.reason}"


def fix_skipped(repro: ReproRecord | None) -> str:
    """Why no fix is attempted after the reproduce stage."""
    if repro is None:
        return "the reproduce stage recorded nothing"
    if repro.verdict is not None and repro.verdict.value == "not_reproduced":
        return ("not reproduced: the repro passes at the deployed commit, so no fix is proposed "
                "(a fix is only offered for a failure it is shown to fix)")
    if repro.verdict is not None:
        return f"the reproduction was inconclusive ({repro.reason}): no fix is proposed"
    return f"no reproduction ({repro.status}: {repro.reason}): no fix is proposed"


def pull_request_text(findings: Findings | None, repro: ReproRecord, found: BisectRecord,
                      candidate: FixRecord, report: str) -> tuple[str, str]:
    """The draft pull request's title and body (Markdown)."""
    title = candidate.message.splitlines()[0] if candidate.message else "Candidate fix"
    lines = [f"**Candidate fix from triage** — [report]({report})", ""]
    if findings is not None:
        lines += [f"**Summary**: {findings.summary}", ""]
    for culprit in found.culprits:
        lines.append(f"**Culprit**: `{culprit.short}` {culprit.subject} ({culprit.author}, "
                     f"{culprit.date})")
    if found.culprits:
        lines += [f"found by `git bisect run` with the repro between the last good deploy "
                  f"`{(found.good or '')[:12]}` and the deployed `{(found.bad or '')[:12]}`: "
                  f"{found.reason}.", ""]
    if candidate.kind == "forward":
        lines += [f"**Forward fix** proposed by the brain (bisect: {found.status}); "
                  "verified here like a revert would be.", ""]
    if repro.run is not None:
        lines += [f"**Repro before** (`{shlex.join(repro.command)}` at "
                  f"`{(repro.commit or '')[:12]}`): {repro.reason}", "", "```",
                  repro.run.excerpt(800), "```", ""]
    if candidate.repro_after is not None:
        lines += [f"**Repro after** (this branch): {candidate.verdict_after} — "
                  f"{candidate.repro_after.outcome()}", ""]
    if candidate.tests is not None:
        lines += [f"**Tests**: `{shlex.join(candidate.tests.command)}` — "
                  f"{candidate.tests.outcome()}", ""]
    lines += [f"**Report**: {report}", "", f"_{NEVER_MERGED}_", ""]
    return title, "\n".join(lines)


def describe_fix(section: FixSection | None) -> list[str]:
    """The CLI's lines: the verdict, the culprit, the verified fix and where it is."""
    if section is None or section.repro is None:
        return []
    repro = section.repro
    lines = [f"reproduction: {step_summary(repro)}"]
    if section.bisect is not None:
        lines.append(f"bisect: {step_summary(section.bisect)}")
    if section.culprit is not None:
        c = section.culprit
        lines.append(f"culprit: {c.sha} {c.subject!r} ({c.author})")
    if section.fix is not None:
        lines.append(f"fix: {step_summary(section.fix)}")
    publish = section.publish
    if publish is not None and publish.status == "published":
        if publish.pull_request is not None:
            pr = publish.pull_request
            lines.append(f"draft pull request #{pr.number} ({pr.action}): {pr.url}")
        else:
            lines.append(f"verified revert {(publish.commit or '')[:12]} on local branch "
                         f"{publish.branch} of {publish.repository}")
        if publish.patch_path:
            lines.append(f"patch: {publish.patch_path}")
    elif publish is not None:
        lines.append(f"publish: {publish.status}: {publish.reason}")
    return lines
