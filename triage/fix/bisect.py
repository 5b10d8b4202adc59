"""Bisect with the repro as the test: `git bisect run` inside the sandbox, between the last good
deploy and the deployed commit. Commits whose setup (build) fails are skipped (exit 125), never
blamed; if skips leave several candidates, they are all named ("ambiguous")."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from sandbox.base import Sandbox, SandboxError
from triage.fix.config import ReproSpec
from triage.fix.diffs import DIFF_LIMIT
from triage.fix.records import BisectRecord, BisectStep, CommitInfo
from triage.fix.repro import git, rendered, run_repro
from triage.fix.verdict import EXCERPT_BYTES, Verdict, bisect_step_script

STEP_SCRIPT = ".git/triage/bisect-step.sh"  # inside .git: checkouts never touch it
_LOG_MARK = re.compile(r"^# (good|bad|skip): \[([0-9a-f]{40,64})\] ?(.*)$")
_FIRST_BAD = re.compile(r"^# (?:possible )?first bad commit: \[([0-9a-f]{40,64})\]")
MAX_CULPRITS = 20


def bisect(sandbox: Sandbox, spec: ReproSpec, values: Mapping[str, str], good: str,
           bad: str) -> BisectRecord:
    """Find the first commit after `good` where the repro fails; the sandbox ends at `bad`."""
    if not is_ancestor(sandbox, good, bad):
        return BisectRecord(status="failed", good=good, bad=bad,
                            reason=(f"the last good deploy {good[:12]} is not an ancestor of the "
                                    f"deployed commit {bad[:12]}: there is no range to bisect"))
    count = int(git(sandbox, "rev-list", "--count", f"{good}..{bad}").strip())
    record = BisectRecord(status="failed", reason="", good=good, bad=bad, candidates=count)
    if count == 0:
        record.reason = "the deployed commit is the last good deploy's: there is nothing to bisect"
        return record
    git(sandbox, "checkout", "-q", "--detach", good)
    at_good = run_repro(sandbox, spec, values)
    record.good_check = at_good.run or at_good.setup
    git(sandbox, "reset", "-q", "--hard")
    git(sandbox, "checkout", "-q", "--detach", bad)
    if at_good.verdict == Verdict.REPRODUCED:
        record.reason = (f"the failure reproduces at the last good deploy {good[:12]} too: it "
                         "predates the deploy, so bisecting the deploy cannot find it")
        return record
    if at_good.verdict == Verdict.INCONCLUSIVE:
        record.reason = f"the last good deploy {good[:12]} cannot be tested: {at_good.reason}"
        return record
    command, setup = rendered(spec, values)
    sandbox.write_file(STEP_SCRIPT, bisect_step_script(setup, spec.setup_timeout, command,
                                                       spec.timeout, spec.expect))
    budget = (math.ceil(math.log2(count + 1)) + 6) * (spec.timeout + 10
                                                        + (spec.setup_timeout if setup else 0))
    git(sandbox, "bisect", "start", bad, good)
    try:
        run = sandbox.exec(["git", "bisect", "run", "sh", STEP_SCRIPT], timeout=budget)
        log = git(sandbox, "bisect", "log")
    finally:
        git(sandbox, "bisect", "reset")
    record.output = (run.stdout.text + run.stderr.text)[-EXCERPT_BYTES:]
    record.log = log[-EXCERPT_BYTES * 4:]
    record.steps = _steps(log)
    first_bad = [m[1] for line in log.splitlines() if (m := _FIRST_BAD.match(line))]
    if run.timed_out:
        record.reason = f"git bisect run timed out after {budget:g} s"
        return record
    if not first_bad:
        record.status = "error"
        record.reason = (f"git bisect run ended without a first bad commit (exit {run.exit_code}): "
                         + run.stderr.text.strip()[-500:])
        return record
    record.culprits = [describe(sandbox, sha) for sha in _newest_first(sandbox, first_bad)]
    skipped = len(record.skipped)
    if len(first_bad) == 1:
        record.status = "found"
        record.reason = (f"first bad commit {first_bad[0][:12]}: {len(record.steps)} commit(s) "
                         f"tested of {count}, {skipped} skipped (setup failed)")
    else:
        record.status = "ambiguous"
        record.reason = (f"{len(first_bad)} commits could be the first bad one: the commits "
                         "between them could not be tested (setup failed)")
    return record


def is_ancestor(sandbox: Sandbox, older: str, newer: str) -> bool:
    """Whether `older` is an ancestor of (or is) `newer`."""
    result = sandbox.exec(["git", "merge-base", "--is-ancestor", older, newer], timeout=60)
    if result.exit_code in (0, 1) and not result.timed_out:
        return result.exit_code == 0
    raise SandboxError(f"git merge-base failed in the sandbox: {result.stderr.text.strip()[-500:]}")


def describe(sandbox: Sandbox, sha: str) -> CommitInfo:
    """A commit's subject, author and date, read in the sandbox."""
    out = git(sandbox, "log", "-1", "--no-show-signature", "--format=%H%x00%an%x00%aI%x00%s", sha)
    full, author, date, subject = [*out.rstrip("\n").split("\0"), "", "", ""][:4]
    files = git(sandbox, "show", "--no-show-signature", "--format=", "--name-only", sha).split()
    patch = git(sandbox, "show", "--no-show-signature", "--no-color", "--format=", "--unified=1",
                sha)
    return CommitInfo(sha=full, subject=subject, author=author, date=date, files=files,
                      diff=patch[:DIFF_LIMIT])


def _steps(log: str) -> list[BisectStep]:
    """The commits bisect tested, from its log (the two marks of `bisect start` excluded)."""
    lines = log.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("git bisect start")), -1)
    return [BisectStep.model_validate({"sha": m[2], "result": m[1], "subject": m[3]})
            for line in lines[start + 1:] if (m := _LOG_MARK.match(line))]


def _newest_first(sandbox: Sandbox, shas: list[str]) -> list[str]:
    """Candidates in reverse topological order (how a range is reverted), at most MAX_CULPRITS."""
    order = git(sandbox, "rev-list", "--topo-order", "--no-walk", *shas[:MAX_CULPRITS]).split()
    return [sha for sha in order if sha in set(shas)]
