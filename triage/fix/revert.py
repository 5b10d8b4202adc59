"""The candidate fix: a revert of the culprit commit (or of each candidate of a range, newest
first) on top of the deployed commit, committed inside the sandbox with a fixed date so that a
re-run of the same investigation makes the very same commit."""

from __future__ import annotations

from datetime import datetime

from sandbox.base import Sandbox
from triage.fix.records import CommitInfo, FixRecord
from triage.fix.repro import clean, git

MESSAGE_FILE = ".git/triage/fix-message.txt"
# Who makes the fix commit, in the sandbox and again on the host (`git am`): the same identity
# and date give the same commit id. Not an address the redactor would blank out of stored patches.
IDENTITY = {"GIT_AUTHOR_NAME": "SRE triage", "GIT_AUTHOR_EMAIL": "triage@localhost",
            "GIT_COMMITTER_NAME": "SRE triage", "GIT_COMMITTER_EMAIL": "triage@localhost"}
PATCH_FILE = ".git/triage/fix.patch"


def make_revert(sandbox: Sandbox, base: str, culprits: list[CommitInfo], investigation_id: str,
                when: datetime) -> FixRecord:
    """Revert `culprits` on `base` and commit; status `failed` when it does not apply cleanly."""
    record = FixRecord(status="failed", reason="", base=base, reverted=[c.sha for c in culprits])
    git(sandbox, "checkout", "-q", "--detach", base)
    clean(sandbox)
    for culprit in culprits:
        parents = git(sandbox, "rev-list", "--parents", "-n", "1", culprit.sha).split()[1:]
        mainline = ["-m", "1"] if len(parents) > 1 else []  # a merge: revert to its first parent
        result = sandbox.exec(["git", "revert", "--no-commit", "--no-edit", *mainline, culprit.sha],
                              timeout=120)
        if not result.ok:
            conflicts = sandbox.exec(["git", "diff", "--name-only", "--diff-filter=U"], timeout=60)
            sandbox.exec(["git", "revert", "--abort"], timeout=60)
            files = ", ".join(conflicts.stdout.text.split()) or result.stderr.text.strip()[-300:]
            record.reason = (f"the revert of {culprit.short} does not apply cleanly on "
                             f"{base[:12]} ({files}): later commits changed the same lines")
            return record
    staged = sandbox.exec(["git", "diff", "--cached", "--quiet"], timeout=60)
    if staged.exit_code == 0:
        record.reason = "reverting the culprit changes nothing on the deployed commit"
        return record
    record.message = revert_message(culprits, base, investigation_id)
    sandbox.write_file(MESSAGE_FILE, record.message)
    stamp = when.isoformat()
    identity = [f"{name}={value}" for name, value in IDENTITY.items()]
    commit = sandbox.exec(["env", *identity, f"GIT_AUTHOR_DATE={stamp}",
                           f"GIT_COMMITTER_DATE={stamp}", "git", "commit", "-q", "--no-verify",
                           "-F", MESSAGE_FILE], timeout=120)
    if not commit.ok:
        record.status = "error"
        record.reason = f"git commit failed in the sandbox: {commit.stderr.text.strip()[-500:]}"
        return record
    record.commit, record.tree, record.diffstat = described(sandbox)
    return record


def described(sandbox: Sandbox) -> tuple[str, str, str]:
    """HEAD's commit id, tree id and diffstat, in one git call."""
    commit, tree, *stat = git(sandbox, "show", "--stat", "--format=%H%n%T", "HEAD").splitlines()
    return commit.strip(), tree.strip(), "\n".join(stat).strip()


def revert_message(culprits: list[CommitInfo], base: str, investigation_id: str) -> str:
    """`Revert "<subject>"`, what it reverts, and why it was proposed."""
    if len(culprits) == 1:
        subject = f'Revert "{culprits[0].subject}"'
    else:
        subject = f"Revert {len(culprits)} commits that bisect could not tell apart"
    lines = [subject, ""]
    lines += [f"This reverts commit {c.sha}." for c in culprits]
    lines += ["", f"Proposed by the triage service for investigation {investigation_id}: the",
              f"repro fails at the deployed commit {base[:12]}, and passes with this revert,",
              "as do the repository's own tests.", "",
              f"Triage-Investigation: {investigation_id}", ""]
    return "\n".join(lines)


def export_patch(sandbox: Sandbox) -> str:
    """The fix commit as a mailbox patch (`git format-patch`), read back from the sandbox."""
    script = f'git format-patch -1 --binary --stdout HEAD > "{PATCH_FILE}"'
    result = sandbox.exec(["sh", "-c", script], timeout=120)
    if not result.ok:
        git(sandbox, "format-patch", "-1", "--stdout", "HEAD")  # raises with git's message
    return sandbox.read_file(PATCH_FILE)
