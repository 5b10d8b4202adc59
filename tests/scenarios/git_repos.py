"""Deterministic git repositories for scenario bundles (`repo.bundle`): fixed names, e-mails, dates
and file modes, so the same history has the same commit SHAs on every machine and git version."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

IDENTITIES = {"mara": "Mara Lind", "kim": "Kim Osei", "lee": "Lee Park", "ana": "Ana Ruiz"}


def _env(author: str, when: str) -> dict[str, str]:
    name = IDENTITIES.get(author, author.title())
    return {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/nonexistent",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC",
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": f"{author}@acme.example",
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": f"{author}@acme.example",
            "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}


def git(path: Path, *args: str, author: str = "mara", when: str = "2026-01-01T00:00:00+00:00") -> str:
    """Run git in `path` with a fixed identity and date; its stdout, stripped."""
    done = subprocess.run(["git", *args], cwd=path, env=_env(author, when), check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


@dataclass
class History:
    """A repository being written one commit at a time; `shas` names the commits by label."""

    path: Path
    shas: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, path: Path) -> History:
        """An empty repository on branch `main`."""
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        git(path, "config", "core.autocrlf", "false")
        git(path, "config", "core.fileMode", "true")
        return cls(path)

    def commit(self, label: str, message: str, author: str, when: str,
               files: Mapping[str, str | None]) -> str:
        """Write `files` (None deletes), commit them as `author` at `when`; the SHA."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            target.chmod(0o644)  # modes are part of the tree: never the umask's
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--no-verify", "-m", message, author=author, when=when)
        self.shas[label] = git(self.path, "rev-parse", "HEAD")
        self.subjects[label] = message.splitlines()[0]
        return self.shas[label]

    def bundle(self, dest: Path) -> Path:
        """Every ref, as one git bundle file (what a scenario ships)."""
        dest.unlink(missing_ok=True)
        git(self.path, "-c", "pack.threads=1", "bundle", "create", "-q", str(dest), "--all")
        return dest
