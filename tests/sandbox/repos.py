"""Small deterministic git repositories for the sandbox tests, and a directory sandboxes can reach."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# Fixed identity and dates: the same files give the same commit SHAs on every machine.
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/nonexistent",
           "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def git(*args: str, cwd: Path, date: int = 1_700_000_000) -> str:
    """Run git in `cwd` with the fixed identity; its stdout, stripped."""
    env = {**GIT_ENV, "GIT_AUTHOR_DATE": f"{date} +0000", "GIT_COMMITTER_DATE": f"{date} +0000"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def make_repo(path: Path, commits: Sequence[Mapping[str, str | None]]) -> list[str]:
    """A repository at `path` with one commit per mapping (file -> content, None deletes);
    returns the SHAs, oldest first. The branch is `main`."""
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    shas = []
    for n, files in enumerate(commits):
        for name, content in files.items():
            target = path / name
            if content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        git("add", "-A", cwd=path)
        git("commit", "-q", "--allow-empty", "-m", f"commit {n}", cwd=path, date=1_700_000_000 + n)
        shas.append(git("rev-parse", "HEAD", cwd=path))
    return shas


def add_commit(path: Path, files: Mapping[str, str], message: str, date: int) -> str:
    """One more commit on the current branch; its SHA."""
    for name, content in files.items():
        (path / name).write_text(content)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", message, cwd=path, date=date)
    return git("rev-parse", "HEAD", cwd=path)


@contextmanager
def reachable_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory every uid can traverse: as root, sandboxes run as `nobody`, and
    pytest's own tmp_path (under a 0700 directory) is out of its reach."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
