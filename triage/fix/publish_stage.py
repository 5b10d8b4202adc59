"""Publishing a verified fix from the fix stage: rebuild it on the host, then a draft pull request
(when the service has `pull_requests:`) or a local branch; always a patch file."""

from __future__ import annotations

from sandbox.base import SandboxError
from sandbox.workspace import Workspace
from triage.agent.base import Findings
from triage.fix.backends import sandbox_root
from triage.fix.plan import Plan
from triage.fix.publish import (
    PublishError,
    discard,
    fixes_repository,
    local_branch,
    rebuild,
    write_patch,
)
from triage.fix.records import PATCH_LIMIT, BisectRecord, FixRecord, PublishRecord, ReproRecord
from triage.fix.summary import pull_request_text
from triage.notify.github import DraftPullRequests, PullRequestError
from triage.report.links import links_for
from triage.runtime import Runtime

DEFAULT_BRANCH_PREFIX = "triage/"


def publish(runtime: Runtime, investigation_id: str, findings: Findings | None, chosen: Plan,
            repro: ReproRecord, found: BisectRecord, candidate: FixRecord,
            patch: str) -> PublishRecord:
    """Rebuild the verified commit on the host and put it where engineers will find it."""
    settings = runtime.settings
    pulls = chosen.service.pull_requests
    branch = f"{pulls.branch_prefix if pulls else DEFAULT_BRANCH_PREFIX}{investigation_id}"
    report = links_for(settings, settings.public_url).report(investigation_id)
    record = PublishRecord(status="error", reason="", branch=branch, patch=patch[:PATCH_LIMIT])
    assert candidate.base is not None
    assert candidate.tree is not None
    workspace = Workspace(sandbox_root(settings.sandbox_dir, settings.data_dir))
    work = (settings.data_dir / "fixes" / ".work" / investigation_id).resolve()
    try:
        host = rebuild(workspace, chosen.source, candidate.base, patch, work, candidate.tree)
        record.commit, record.same_commit = host.commit, host.commit == candidate.commit
        record.patch_path = str(write_patch(settings.data_dir, investigation_id, patch))
        if pulls is None:
            target = fixes_repository(settings.data_dir, chosen.service.name)
            local_branch(target, host.checkout, branch)
            record.mode, record.repository = "local", str(target)
            record.reason = (f"verified fix {host.commit[:12]} on local branch {branch} of "
                             f"{target} (no `pull_requests` configured)")
        else:
            record.mode, record.repository = "github", pulls.repository
            title, body = pull_request_text(findings, repro, found, candidate, report)
            drafts = DraftPullRequests(pulls)
            credential = drafts.credential()
            drafts.push(host.checkout, branch, credential)
            record.pull_request = drafts.open_or_update(
                branch, runtime.redactor.redact_text(title), runtime.redactor.redact_text(body),
                credential)
            pr = record.pull_request
            record.reason = f"draft pull request #{pr.number} {pr.action}: {pr.url}"
        record.status = "published"
    except (PublishError, PullRequestError, SandboxError) as exc:
        record.reason = str(exc)
    finally:
        discard(work)
    return record
