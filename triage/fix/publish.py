"""The host side of a verified fix. The sandbox hands back only a patch: it is applied to a fresh
checkout of ours (the sandbox's .git is never trusted by a git on the host), the result must be
the very tree the sandbox verified, and then it goes out as a draft pull request (GitHub
configured) or stays local: a branch in `<data dir>/fixes/<service>.git` and a patch file."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sandbox.git import isolated_env, run_git
from sandbox.workspace import Workspace
from triage.fix.revert import IDENTITY

GIT_TIMEOUT = 300.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class PublishError(Exception):
    """The verified fix could not be rebuilt or published on the host."""


@dataclass(frozen=True)
class HostCommit:
    """The fix commit rebuilt in a host checkout."""

    checkout: Path
    commit: str
    tree: str


def rebuild(workspace: Workspace, source: str, base: str, patch: str, dest: Path,
            expected_tree: str) -> HostCommit:
    """Check out `base` into `dest`, `git am` the patch, and insist on the verified tree."""
    discard(dest)  # a run cut short may have left one behind
    dest.parent.mkdir(parents=True, exist_ok=True)
    workspace.checkout(source, base, dest)
    patch_file = dest.with_name(dest.name + ".patch")
    patch_file.write_text(patch, encoding="utf-8")
    try:
        # The author date of the patch is also the committer's: the same commit as the sandbox's.
        run_git(["-C", str(dest), "am", "--quiet", "--committer-date-is-author-date",
                 str(patch_file)], timeout=GIT_TIMEOUT, env={**isolated_env(), **IDENTITY},
                what="git am")
    finally:
        patch_file.unlink(missing_ok=True)
    commit = _rev(dest, "HEAD")
    tree = _rev(dest, "HEAD^{tree}")
    if tree != expected_tree:
        raise PublishError(f"the patch applied on the host gives tree {tree[:12]}, not the tree "
                           f"{expected_tree[:12]} the sandbox verified: nothing is published")
    return HostCommit(dest, commit, tree)


def local_branch(fixes_repo: Path, checkout: Path, branch: str) -> None:
    """Push the checkout's HEAD to `branch` of a bare repository of ours (made on first use)."""
    if not (fixes_repo / "HEAD").is_file():
        fixes_repo.parent.mkdir(parents=True, exist_ok=True)
        run_git(["-c", "init.defaultBranch=main", "init", "--bare", "-q", str(fixes_repo)],
                timeout=GIT_TIMEOUT, env=isolated_env(), what="git init")
    # Not forced: a branch someone moved on is left as it is (the push fails and says why).
    run_git(["-C", str(checkout), "push", "--quiet", str(fixes_repo), f"HEAD:refs/heads/{branch}"],
            timeout=GIT_TIMEOUT, env=isolated_env(), what=f"push of {branch}")


def fixes_repository(data_dir: Path, service: str) -> Path:
    """`<data dir>/fixes/<service>.git`."""
    return (data_dir / "fixes" / f"{_SAFE.sub('-', service).strip('.-') or 'service'}.git").resolve()


def write_patch(data_dir: Path, investigation_id: str, patch: str) -> Path:
    """`<data dir>/fixes/<investigation>.patch`, for `git am` by hand."""
    path = (data_dir / "fixes" / f"{_SAFE.sub('-', investigation_id)}.patch").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(patch, encoding="utf-8")
    return path


def discard(checkout: Path) -> None:
    """Remove a host checkout (and the patch next to it)."""
    shutil.rmtree(checkout, ignore_errors=True)


def _rev(checkout: Path, revision: str) -> str:
    """The full id of `revision` in a host checkout."""
    return run_git(["-C", str(checkout), "rev-parse", "--verify", revision], timeout=GIT_TIMEOUT,
                   env=isolated_env(), what="rev-parse").strip()
