"""The repository cache: mirrors cloned once and fetched only when needed, fast checkouts, locks."""

from __future__ import annotations

import stat
import subprocess
import threading
from pathlib import Path

import pytest

from sandbox.base import WorkspaceError
from sandbox.workspace import Workspace, classify
from tests.sandbox.repos import add_commit, git, make_repo

pytestmark = pytest.mark.slow

HISTORY = [
    {"app.py": "VERSION = 1\n", "README": "demo\n"},
    {"app.py": "VERSION = 2\n", "requirements.txt": "flask==3.0.0\n"},
    {"app.py": "VERSION = 3\n", "data.bin": "\x00\x01binary\xff"},
]


@pytest.fixture
def repo(tmp_path) -> tuple[Path, list[str]]:
    path = tmp_path / "repo"
    return path, make_repo(path, HISTORY)


def fetch_count(mirror: Path) -> float:
    """When the mirror last fetched (FETCH_HEAD is rewritten by every fetch), 0 if never."""
    head = mirror / "FETCH_HEAD"
    return head.stat().st_mtime_ns if head.exists() else 0


def test_checkout_of_any_commit_borrows_the_mirror_objects(tmp_path, repo):
    path, shas = repo
    ws = Workspace(tmp_path / "cache")
    checkout = ws.checkout(str(path), shas[1], tmp_path / "co")
    assert checkout.commit == shas[1]
    assert (checkout.path / "app.py").read_text() == "VERSION = 2\n"
    assert not (checkout.path / "data.bin").exists()
    assert git("rev-parse", "HEAD", cwd=checkout.path) == shas[1]
    assert git("status", "--porcelain", cwd=checkout.path) == ""
    alternates = (checkout.path / ".git/objects/info/alternates").read_text().strip()
    assert alternates == str(checkout.objects)
    assert checkout.objects.parent.parent == tmp_path / "cache" / "mirrors"
    # No object was copied: only the index and the working tree were written.
    assert not any((checkout.path / ".git/objects").glob("pack/*.pack"))
    # A commit made in the checkout lands in the checkout, never in the shared mirror.
    add_commit(checkout.path, {"app.py": "VERSION = 'fix'\n"}, "fix", 1_700_000_100)
    new = git("rev-parse", "HEAD", cwd=checkout.path)
    assert subprocess.run(["git", "-C", str(checkout.objects.parent), "cat-file", "-e", new],
                          capture_output=True).returncode != 0


def test_mirror_is_cloned_once_and_fetched_only_for_what_it_lacks(tmp_path, repo):
    path, shas = repo
    ws = Workspace(tmp_path / "cache")
    mirror, sha = ws.resolve(str(path), shas[0])
    assert sha == shas[0]
    assert fetch_count(mirror) == 0  # the clone itself was fresh: no fetch
    ws.resolve(str(path), shas[2])  # a full SHA already present: immutable, no fetch
    ws.resolve(str(path), shas[2][:10])  # an abbreviated one too
    assert fetch_count(mirror) == 0
    new = add_commit(path, {"app.py": "VERSION = 4\n"}, "four", 1_700_000_050)
    assert ws.resolve(str(path), new) == (mirror, new)  # missing: fetched
    fetched = fetch_count(mirror)
    assert fetched > 0
    newer = add_commit(path, {"app.py": "VERSION = 5\n"}, "five", 1_700_000_060)
    assert ws.resolve(str(path), "main")[1] == newer  # a branch may move: always fetched
    assert ws.mirror(str(path)) == mirror
    assert len(list((tmp_path / "cache" / "mirrors").glob("*.git"))) == 1
    assert git("config", "gc.auto", cwd=mirror) == "0"


def test_bundle_and_url_sources(tmp_path, repo):
    path, shas = repo
    bundle = tmp_path / "repo.bundle"
    git("bundle", "create", "-q", str(bundle), "--all", cwd=path)
    ws = Workspace(tmp_path / "cache")
    from_bundle = ws.checkout(str(bundle), shas[2], tmp_path / "b")
    assert (from_bundle.path / "app.py").read_text() == "VERSION = 3\n"
    from_url = ws.checkout(f"file://{path}", "main~1", tmp_path / "u")
    assert from_url.commit == shas[1]
    assert classify(str(bundle)).kind == "bundle"
    assert classify(f"file://{path}").kind == "url"
    assert len(list((tmp_path / "cache" / "mirrors").glob("*.git"))) == 2


def test_unknown_commit_bad_revision_and_missing_repository(tmp_path, repo):
    path, _ = repo
    ws = Workspace(tmp_path / "cache")
    with pytest.raises(WorkspaceError, match="not found"):
        ws.resolve(str(path), "0123456789abcdef0123456789abcdef01234567")
    with pytest.raises(WorkspaceError, match="not a commit"):
        ws.resolve(str(path), "--upload-pack=touch /tmp/pwned")
    with pytest.raises(WorkspaceError, match="not a commit"):
        ws.resolve(str(path), "main..other")
    with pytest.raises(WorkspaceError, match="no such repository"):
        ws.resolve(str(tmp_path / "nowhere"), "main")


def test_credentials_in_a_url_never_reach_messages_or_paths(tmp_path, monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the connection must stay on 127.0.0.1
    secret = "ghp_PLANTEDsecret0123456789"
    ws = Workspace(tmp_path / "cache", fetch_timeout=20)
    url = f"https://x-access-token:{secret}@127.0.0.1:9/org/repo.git"  # port 9: nothing listens
    with pytest.raises(WorkspaceError) as caught:
        ws.resolve(url, "main")
    assert secret not in str(caught.value)
    assert "***@127.0.0.1" in str(caught.value) or "127.0.0.1" in str(caught.value)
    names = [p.name for p in (tmp_path / "cache").rglob("*")]
    assert not any(secret in name for name in names)


def test_concurrent_first_use_makes_one_mirror(tmp_path, repo):
    path, shas = repo
    ws = Workspace(tmp_path / "cache")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            checkout = ws.checkout(str(path), shas[i % 3], tmp_path / f"co{i}")
            assert (checkout.path / "app.py").read_text() == f"VERSION = {i % 3 + 1}\n"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    mirrors = list((tmp_path / "cache" / "mirrors").iterdir())
    assert len([m for m in mirrors if m.suffix == ".git"]) == 1
    assert not [m for m in mirrors if m.name.startswith(".")]  # no temporary clone left behind


def test_objects_are_readable_by_other_users_and_nothing_else_is_listable(tmp_path, repo):
    path, _ = repo
    ws = Workspace(tmp_path / "cache")
    mirror = ws.mirror(str(path))
    for entry in (mirror / "objects").rglob("*"):
        assert entry.stat().st_mode & stat.S_IROTH
    assert mirror.stat().st_mode & stat.S_IXOTH


def test_show_returns_exact_bytes_and_bundle_is_complete(tmp_path, repo):
    path, shas = repo
    ws = Workspace(tmp_path / "cache")
    assert ws.show(str(path), shas[2], "data.bin") == "\x00\x01binary\xff".encode()
    assert ws.show(str(path), shas[0], "requirements.txt") is None
    bundle = ws.bundle(str(path), tmp_path / "all.bundle")
    listed = git("bundle", "list-heads", str(bundle), cwd=tmp_path)
    assert shas[2] in listed
    assert ws.identity(str(path)) == f"path:{path.resolve()}"
