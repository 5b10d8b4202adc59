"""Helpers for the local (bubblewrap) sandbox tests: one reachable area, one repository and one
backend per module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.base import Limits, RepoSpec, SandboxUnavailable
from sandbox.local import LocalBackend, LocalSandbox
from sandbox.workspace import Workspace
from tests.sandbox.repos import make_repo, reachable_dir

HISTORY = [
    {"app.py": "def total(items):\n    return sum(items)\n", "README": "demo service\n"},
    {"app.py": "def total(items):\n    return sum(items) + 1  # bug\n"},
]


class Area:
    """Where a module's repository, cache and planted host files live."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.shas = make_repo(self.repo, HISTORY)
        self.backend = LocalBackend(Workspace(root / "cache"))

    def sandbox(self, limits: Limits | None = None, env: dict[str, str] | None = None,
                commit: str | None = None) -> LocalSandbox:
        """A fresh sandbox of the repository (at its last commit unless told)."""
        spec = RepoSpec(str(self.repo), commit or self.shas[-1], env=env or {})
        return self.backend.prepare(spec, limits)


@contextmanager
def open_area() -> Iterator[Area]:
    """A module-wide area; skips with bubblewrap's own reason where it cannot run."""
    with reachable_dir("triage-sbx-test-") as root:
        made = Area(root)
        try:
            made.backend.check()
        except SandboxUnavailable as exc:
            pytest.skip(f"local sandbox unavailable: {exc}")
        yield made
