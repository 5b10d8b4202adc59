"""The Modal backend against Modal itself. Skipped unless TRIAGE_MODAL_LIVE=1 and a Modal token
is configured (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET, or ~/.modal.toml); see README "Sandboxes".
It creates sandboxes in the app `triage-sandboxes-test` and always terminates them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.base import Limits, RepoSpec
from sandbox.modal import ModalBackend
from sandbox.modal_images import ImageCache
from sandbox.workspace import Workspace
from tests.sandbox.repos import make_repo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TRIAGE_MODAL_LIVE") != "1",
                       reason="live Modal test: set TRIAGE_MODAL_LIVE=1 and a Modal token"),
]

APP = "triage-sandboxes-test"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("live") / "repo"
    shas = make_repo(path, [
        {"app.py": "print('v1')\n", "requirements.txt": "six==1.16.0\n"},
        {"app.py": "print('v2')\n"},
    ])
    return path, shas


def test_sandbox_lifecycle_isolation_and_files(tmp_path, repo):
    path, shas = repo
    backend = ModalBackend(Workspace(tmp_path / "cache"), app_name=APP, lifetime_seconds=600)
    with backend.prepare(RepoSpec(str(path), shas[0], {"MODE": "live"}),
                         Limits(timeout_seconds=120)) as sandbox:
        head = sandbox.exec(["git", "rev-parse", "HEAD"])
        assert head.ok, head.stderr.text
        assert head.stdout.text.strip() == shas[0]
        assert sandbox.exec(["sh", "-c", "echo $MODE"]).stdout.text == "live\n"
        offline = sandbox.exec(["python3", "-c", "import urllib.request as u; "
                                "u.urlopen('https://example.com', timeout=10)"], timeout=60)
        assert not offline.ok  # block_network=True
        sandbox.write_file("app.py", "print('fixed')\n")
        assert sandbox.read_file("app.py") == "print('fixed')\n"
        assert "+print('fixed')" in sandbox.diff()
        slow = sandbox.exec(["sleep", "30"], timeout=3)
        assert slow.timed_out


def test_image_is_snapshotted_once_and_reused(tmp_path, repo):
    path, shas = repo
    cache = ImageCache(tmp_path / "images.json")

    def backend() -> ModalBackend:
        return ModalBackend(Workspace(tmp_path / "cache"), app_name=APP,
                            install=["pip", "install", "-r", "requirements.txt"],
                            lockfiles=["requirements.txt"], image_cache=cache,
                            install_domains=["pypi.org", "files.pythonhosted.org"])

    with backend().prepare(RepoSpec(str(path), shas[0])) as sandbox:
        assert sandbox.exec(["python3", "-c", "import six"]).ok
    [image_id] = cache._load().values()
    with backend().prepare(RepoSpec(str(path), shas[1])) as sandbox:
        assert sandbox.exec(["python3", "-c", "import six"]).ok
    assert list(cache._load().values()) == [image_id]
