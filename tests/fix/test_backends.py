"""Where sandboxes and mirrors live: reachable by the sandbox user, never a directory someone
else planted; repositories as URLs or config-relative paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from sandbox.base import SandboxUnavailable
from tests.sandbox.repos import reachable_dir
from triage.fix.backends import make_backend, repository_source, sandbox_root


def test_the_configured_directory_wins(tmp_path: Path) -> None:
    assert sandbox_root(tmp_path / "cache", tmp_path / "data") == (tmp_path / "cache").resolve()


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, sandboxes run as nobody")
def test_as_root_an_unreachable_data_dir_falls_back_to_a_private_temp_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with reachable_dir("triage-root-test-") as open_dir:
        assert sandbox_root(None, open_dir / "data") == (open_dir / "data" / "sandbox").resolve()
    temp = tmp_path / "tmp"
    temp.mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    root = sandbox_root(None, locked / "data")
    assert root == temp / "triage-sandbox-0"
    assert oct(root.stat().st_mode & 0o777) == "0o711"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs to plant a directory owned by another user")
def test_a_planted_fallback_directory_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    planted = temp / "triage-sandbox-0"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(SandboxUnavailable, match=r"is not a directory that only this user can "
                                                 r"write.*TRIAGE_SANDBOX_DIR"):
        sandbox_root(None, locked / "data")


def test_repositories_are_urls_or_paths_relative_to_the_config(tmp_path: Path) -> None:
    assert repository_source("https://github.com/acme/x.git", tmp_path) == \
        "https://github.com/acme/x.git"
    assert repository_source("git@github.com:acme/x.git", tmp_path) == "git@github.com:acme/x.git"
    assert repository_source("repo.bundle", tmp_path) == str(tmp_path / "repo.bundle")
    assert repository_source("/srv/x", tmp_path) == "/srv/x"


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="no sandbox backend 'docker'"):
        make_backend("docker", tmp_path)
