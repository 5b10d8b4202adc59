"""Small repositories for the fix tests, and one sandbox backend over them (skipped, with
bubblewrap's reason, where sandboxes cannot run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.base import Limits, RepoSpec, SandboxUnavailable
from sandbox.local import LocalBackend, LocalSandbox
from sandbox.workspace import Workspace
from tests.sandbox.repos import reachable_dir
from tests.scenarios.git_repos import History, git
from triage.fix.config import RepoTestCommand, ReproSpec

CHECK = '''import sys
from app import total
got = total(1)
print(f"total(1) = {got}")
if got != 2:
    print("WrongTotal: expected 2", file=sys.stderr)
    sys.exit(1)
'''
APP_OK = "def total(x):\n    return x + 1\n"
APP_BUG = "def total(x):\n    return x + 2\n"
TESTS = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n" \
        "        self.assertTrue(True)\n"
SPEC = ReproSpec(command=["python3", "check.py"], setup=["python3", "-m", "compileall", "-q", "."],
                 expect="WrongTotal", timeout=30, setup_timeout=30)
TESTS_CMD = RepoTestCommand(command=["python3", "-m", "unittest", "-q", "test_app.py"], timeout=60)
DAY = "2026-03-{:02d}T10:00:00+00:00"


def linear(path: Path) -> History:
    """base, good, noise, culprit (total off by one), broken (does not compile), fixed, bad."""
    h = History.new(path)
    h.commit("base", "Base", "mara", DAY.format(1), {"app.py": APP_OK, "check.py": CHECK,
                                                     "mod.py": "X = 1\n", "test_app.py": TESTS})
    h.commit("good", "Docs", "mara", DAY.format(2), {"README": "docs\n"})
    h.commit("noise", "More docs", "kim", DAY.format(3), {"README": "docs\nmore\n"})
    h.commit("culprit", "Off by one", "lee", DAY.format(4), {"app.py": APP_BUG})
    h.commit("broken", "Break the build", "kim", DAY.format(5), {"mod.py": "X = (\n"})
    h.commit("fixed", "Fix the build", "kim", DAY.format(6), {"mod.py": "X = 2\n"})
    h.commit("bad", "Release", "lee", DAY.format(7), {"README": "docs\nmore\nrelease\n"})
    return h


def ambiguous(path: Path) -> History:
    """The commit before the culprit does not compile: bisect cannot tell them apart."""
    h = History.new(path)
    h.commit("base", "Base", "mara", DAY.format(1), {"app.py": APP_OK, "check.py": CHECK,
                                                     "mod.py": "X = 1\n", "test_app.py": TESTS})
    h.commit("good", "Docs", "mara", DAY.format(2), {"README": "docs\n"})
    h.commit("broken", "Break the build", "kim", DAY.format(3), {"mod.py": "X = (\n"})
    h.commit("culprit", "Fix the build, and off by one", "lee", DAY.format(4),
             {"mod.py": "X = 2\n", "app.py": APP_BUG})
    h.commit("bad", "Release", "lee", DAY.format(5), {"README": "docs\nrelease\n"})
    return h


def conflicting(path: Path) -> History:
    """A later commit rewrites the culprit's line: its revert does not apply."""
    h = History.new(path)
    h.commit("base", "Base", "mara", DAY.format(1), {"app.py": APP_OK, "check.py": CHECK,
                                                     "test_app.py": TESTS})
    h.commit("good", "Docs", "mara", DAY.format(2), {"README": "docs\n"})
    h.commit("culprit", "Off by one", "lee", DAY.format(3), {"app.py": APP_BUG})
    h.commit("bad", "Off by two", "kim", DAY.format(4),
             {"app.py": "def total(x):\n    return x + 3\n"})
    return h


def side_branch(path: Path) -> History:
    """`good` is on a branch that `bad` never merged."""
    h = linear(path)
    git(path, "checkout", "-q", "-b", "side", h.shas["base"])
    h.commit("side", "Side work", "ana", DAY.format(8), {"side.txt": "x\n"})
    git(path, "checkout", "-q", "main")
    return h


@dataclass
class Area:
    """Repositories, a workspace cache and a backend, in a directory sandboxes can reach."""

    root: Path
    repos: dict[str, History]
    backend: LocalBackend
    workspace: Workspace

    def sandbox(self, repo: str, label: str, timeout: float = 60.0) -> LocalSandbox:
        """A sandbox of `repo` at its commit `label`."""
        history = self.repos[repo]
        return self.backend.prepare(RepoSpec(str(history.path), history.shas[label]),
                                    Limits(timeout_seconds=timeout))


@contextmanager
def open_area() -> Iterator[Area]:
    """Build every repository once per module."""
    with reachable_dir("triage-fix-test-") as root:
        repos = {"linear": linear(root / "linear"), "ambiguous": ambiguous(root / "ambiguous"),
                 "conflicting": conflicting(root / "conflicting"),
                 "side": side_branch(root / "side")}
        workspace = Workspace(root / "cache")
        backend = LocalBackend(workspace)
        try:
            backend.check()
        except SandboxUnavailable as exc:
            pytest.skip(f"local sandbox unavailable: {exc}")
        yield Area(root, repos, backend, workspace)
