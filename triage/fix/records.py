"""What the reproduce and fix stages record (one step each: `repro`, `bisect`, `fix`, `publish`),
and what the report shows from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from triage.fix.verdict import CommandRun, Verdict
from triage.models import StepRecord

PATCH_LIMIT = 256 * 1024  # a patch larger than this is kept on disk and on the branch only


class CommitInfo(BaseModel):
    """A commit as the report names it."""

    sha: str
    subject: str = ""
    author: str = ""
    date: str = ""
    files: list[str] = Field(default_factory=list, description="paths the commit changed")
    diff: str = Field(default="", description="its patch (bounded), as `git show` prints it")

    @property
    def short(self) -> str:
        """The first 12 hex digits."""
        return self.sha[:12]


class ReproRecord(BaseModel):
    """The reproduction at the deployed commit (stage `reproduce`)."""

    status: Literal["reproduced", "not_reproduced", "inconclusive", "skipped", "error"]
    reason: str
    verdict: Verdict | None = None
    source: str = Field(default="", description="whose repro: `service checkout`, `playbook x`")
    repository: str | None = None
    commit: str | None = Field(default=None, description="the deployed commit, as tested")
    good_commit: str | None = Field(default=None, description="the last good deploy")
    deploy: dict[str, Any] | None = None
    command: list[str] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    setup: CommandRun | None = None
    run: CommandRun | None = None
    sandbox: str | None = None


class BisectStep(BaseModel):
    """One commit `git bisect` tested."""

    sha: str
    result: Literal["good", "bad", "skip"]
    subject: str = ""


class BisectRecord(BaseModel):
    """`git bisect run` between the last good deploy and the deployed commit."""

    status: Literal["found", "ambiguous", "failed", "skipped", "error"]
    reason: str
    good: str | None = None
    bad: str | None = None
    candidates: int = 0
    culprits: list[CommitInfo] = Field(default_factory=list)
    steps: list[BisectStep] = Field(default_factory=list)
    good_check: CommandRun | None = None
    log: str = ""
    output: str = ""

    @property
    def skipped(self) -> list[BisectStep]:
        """The commits that could not be tested (build failures)."""
        return [s for s in self.steps if s.result == "skip"]


class FixRecord(BaseModel):
    """A candidate fix (a revert of the culprit) and its verification in the sandbox."""

    status: Literal["verified", "failed", "skipped", "error"]
    reason: str
    kind: Literal["revert", "forward"] = "revert"
    base: str | None = None
    reverted: list[str] = Field(default_factory=list)
    commit: str | None = None
    tree: str | None = None
    message: str = ""
    diffstat: str = ""
    repro_after: CommandRun | None = None
    setup_after: CommandRun | None = None
    verdict_after: Verdict | None = None
    tests_setup: CommandRun | None = None
    tests: CommandRun | None = None


class PullRequestInfo(BaseModel):
    """The draft pull request a verified fix was proposed in."""

    number: int
    url: str
    state: str
    draft: bool
    action: Literal["created", "updated", "left closed"]


class PublishRecord(BaseModel):
    """Where the verified fix went: a draft pull request, or a local branch and a patch file."""

    status: Literal["published", "skipped", "error"]
    reason: str
    mode: Literal["github", "local"] | None = None
    branch: str | None = None
    repository: str | None = None
    commit: str | None = None
    same_commit: bool | None = Field(default=None, description="host commit id == sandbox's")
    patch_path: str | None = None
    patch: str = ""
    pull_request: PullRequestInfo | None = None


class FixSection(BaseModel):
    """The report's "Reproduction and fix" section."""

    repro: ReproRecord | None = None
    bisect: BisectRecord | None = None
    fix: FixRecord | None = None
    publish: PublishRecord | None = None

    @classmethod
    def from_steps(cls, steps: list[StepRecord]) -> FixSection | None:
        """The section from an investigation's reproduce and fix steps (None before they ran)."""
        found = {s.name: s.detail for s in steps if s.stage in ("reproduce", "fix")}
        if "repro" not in found:
            return None
        return cls(repro=ReproRecord.model_validate(found["repro"]),
                   bisect=BisectRecord.model_validate(found["bisect"]) if "bisect" in found else None,
                   fix=FixRecord.model_validate(found["fix"]) if "fix" in found else None,
                   publish=(PublishRecord.model_validate(found["publish"]) if "publish" in found
                            else None))

    @property
    def culprit(self) -> CommitInfo | None:
        """The one commit bisect blamed, if it found exactly one."""
        if self.bisect and self.bisect.status == "found" and len(self.bisect.culprits) == 1:
            return self.bisect.culprits[0]
        return None

    @property
    def verified(self) -> bool:
        """A candidate fix passed the repro and the tests."""
        return bool(self.fix and self.fix.status == "verified")
