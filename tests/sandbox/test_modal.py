"""The Modal backend against an in-process fake of the Modal interface it uses: lifecycle (build
once, snapshot, start from the snapshot, always terminate) and the exact calls and commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import modal
import modal.exception
import pytest

from sandbox.base import Limits, RepoSpec, SandboxError, SandboxUnavailable
from sandbox.modal import ModalBackend
from sandbox.modal_images import ImageCache
from sandbox.workspace import Workspace
from tests.sandbox.fake_modal import Answer, FakeModal, FakeSandbox
from tests.sandbox.repos import make_repo

INSTALL = ["pip", "install", "-r", "requirements.txt"]
HISTORY = [
    {"app.py": "print(1)\n", "requirements.txt": "flask==3.0.0\n"},
    {"app.py": "print(2)\n"},  # same lockfile: same image
    {"requirements.txt": "flask==3.0.3\n"},  # new lockfile: new image
]


@pytest.fixture
def repo(tmp_path) -> tuple[Path, list[str]]:
    path = tmp_path / "repo"
    return path, make_repo(path, HISTORY)


def backend(tmp_path: Path, fake: FakeModal, **options) -> ModalBackend:
    workspace = Workspace(tmp_path / "cache")
    return ModalBackend(workspace, api=fake, image_cache=ImageCache(tmp_path / "images.json"),
                        lifetime_seconds=900, **options)


def commands(sandbox: FakeSandbox) -> list[list[str]]:
    return [args for args, _ in sandbox.execs]


def test_prepare_without_install_uses_the_base_image_and_blocks_the_network(tmp_path, repo):
    path, shas = repo
    fake = FakeModal()
    limits = Limits(memory_bytes=1024**3)
    sandbox = backend(tmp_path, fake).prepare(RepoSpec(str(path), "main~1", {"MODE": "t"}), limits)
    [remote] = fake.sandboxes
    assert remote.args == ("sleep", "infinity")
    assert remote.options["block_network"] is True
    assert remote.options["image"].packages == ("git",)  # debian_slim + git
    assert remote.options | {"image": None, "env": None} == {
        "app": "app:triage-sandboxes", "image": None, "timeout": 900, "workdir": "/workspace",
        "cpu": 2.0, "memory": (1024, 1024), "block_network": True, "outbound_domain_allowlist": None,
        "env": None}
    assert remote.options["env"]["MODE"] == "t"
    assert fake.app_lookups == [("triage-sandboxes", True)]
    # The repository travels as a git bundle through the filesystem API, then git checks it out.
    bundle = tmp_path / "uploaded.bundle"
    bundle.write_bytes(remote.filesystem.files["/tmp/triage-repo.bundle"])
    heads = subprocess.run(["git", "bundle", "list-heads", str(bundle)], capture_output=True,
                           text=True, check=True).stdout
    assert shas[-1] in heads
    [checkout] = commands(remote)
    assert checkout[:2] == ["sh", "-c"]
    assert checkout[3:] == ["sh", "/workspace", shas[1]]
    assert "git checkout -q -f --detach" in checkout[2]
    assert sandbox.commit == shas[1]
    sandbox.close()
    assert remote.terminated == 1


def test_image_is_built_once_per_lockfile_and_later_sandboxes_start_from_the_snapshot(
        tmp_path, repo):
    path, shas = repo
    fake = FakeModal()
    options = {"install": INSTALL, "lockfiles": ["requirements.txt", "poetry.lock"],
               "install_domains": ["pypi.org", "files.pythonhosted.org"]}
    first = backend(tmp_path, fake, **options).prepare(RepoSpec(str(path), shas[0]))
    builder, runtime = fake.sandboxes
    # The build sandbox: network to the package index only, lockfiles only, no repository.
    assert builder.options["block_network"] is False
    assert builder.options["outbound_domain_allowlist"] == ["pypi.org", "files.pythonhosted.org"]
    assert builder.filesystem.files == {"/workspace/requirements.txt": b"flask==3.0.0\n"}
    assert commands(builder) == [INSTALL]
    assert builder.execs[0][1]["workdir"] == "/workspace"
    assert len(builder.snapshots) == 1
    assert builder.terminated == 1
    assert runtime.options["image"] is builder.snapshots[0]
    assert runtime.options["block_network"] is True
    first.close()

    # Another process (a new backend, the same cache file), same lockfile: no build at all.
    fake2 = FakeModal()
    second = backend(tmp_path, fake2, **options).prepare(RepoSpec(str(path), shas[1]))
    [only] = fake2.sandboxes
    assert fake2.loaded_images == [builder.snapshots[0].object_id]
    assert only.options["image"].object_id == builder.snapshots[0].object_id
    second.close()

    # A changed lockfile: a new image.
    third = backend(tmp_path, fake2, **options).prepare(RepoSpec(str(path), shas[2]))
    new_builder = fake2.sandboxes[1]
    assert new_builder.filesystem.files == {"/workspace/requirements.txt": b"flask==3.0.3\n"}
    assert fake2.sandboxes[2].options["image"] is new_builder.snapshots[0]
    third.close()


def test_exec_command_construction_timeout_and_truncation(tmp_path, repo):
    path, _ = repo

    def handler(sandbox: FakeSandbox, args: list[str]) -> Answer:
        if args[0] == "pytest":
            return b"S" + b"x" * 100_000 + b"E", b"warning\n", 1
        if args[0] == "sleep":
            return b"", b"", -1
        return b"", b"", 0

    fake = FakeModal(handler)
    sandbox = backend(tmp_path, fake).prepare(RepoSpec(str(path), "main", {"CI": "1"}),
                                              Limits(output_bytes=100, timeout_seconds=60))
    result = sandbox.exec(["pytest", "-q"], timeout=12.5)
    args, options = fake.sandboxes[0].execs[-1]
    assert args == ["pytest", "-q"]
    assert options["timeout"] == 13
    assert options["workdir"] == "/workspace"
    assert options["text"] is False
    assert options["env"]["CI"] == "1"
    assert options["env"]["HOME"] == "/tmp"
    assert result.exit_code == 1
    assert result.stdout.truncated
    assert result.stdout.original_bytes == 100_002
    assert result.stdout.text.startswith("S")
    assert result.stdout.text.endswith("E")
    assert result.stderr.text == "warning\n"
    timed = sandbox.exec(["sleep", "100"])
    assert (timed.timed_out, timed.exit_code) == (True, None)
    assert fake.sandboxes[0].execs[-1][1]["timeout"] == 60
    sandbox.close()


def test_files_and_diff_go_through_the_filesystem_api_and_git_inside(tmp_path, repo):
    path, shas = repo

    def handler(sandbox: FakeSandbox, args: list[str]) -> Answer:
        if "git diff --cached" in " ".join(args):
            return b"diff --git a/app.py b/app.py\n", b"", 0
        return b"", b"", 0

    fake = FakeModal(handler)
    sandbox = backend(tmp_path, fake).prepare(RepoSpec(str(path), shas[0]))
    sandbox.write_file("src/fix.py", "x = 1\n")
    remote = fake.sandboxes[0]
    assert remote.filesystem.files["/workspace/src/fix.py"] == b"x = 1\n"
    assert sandbox.read_file("/workspace/src/fix.py") == "x = 1\n"
    for bad in ("../etc/passwd", "/etc/passwd", ""):
        with pytest.raises(SandboxError):
            sandbox.read_file(bad)
    with pytest.raises(SandboxError, match="Modal error while reading"):
        sandbox.read_file("missing.txt")
    assert sandbox.diff() == "diff --git a/app.py b/app.py\n"
    assert commands(remote)[-1][-1] == shas[0]  # diff against the prepared commit
    sandbox.close()


def test_always_terminated_on_close_and_on_failure(tmp_path, repo):
    path, _ = repo

    def failing_checkout(sandbox: FakeSandbox, args: list[str]) -> Answer:
        return b"", b"fatal: bad object\n", 128

    fake = FakeModal(failing_checkout)
    with pytest.raises(SandboxError, match="fatal: bad object"):
        backend(tmp_path, fake).prepare(RepoSpec(str(path), "main"))
    assert fake.sandboxes[0].terminated == 1

    def failing_install(sandbox: FakeSandbox, args: list[str]) -> Answer:
        return (b"", b"ERROR: No matching distribution\n", 1) if args[0] == "pip" else (b"", b"", 0)

    fake = FakeModal(failing_install)
    with pytest.raises(SandboxError, match="No matching distribution"):
        backend(tmp_path, fake, install=INSTALL, lockfiles=["requirements.txt"]).prepare(
            RepoSpec(str(path), "main"))
    [builder] = fake.sandboxes
    assert builder.terminated == 1
    assert builder.snapshots == []

    fake = FakeModal()
    sandbox = backend(tmp_path, fake).prepare(RepoSpec(str(path), "main"))
    fake.sandboxes[0].raise_on_exec = modal.exception.InvalidError("bad exec")
    with pytest.raises(SandboxError, match="Modal error while exec: InvalidError: bad exec"):
        sandbox.exec(["true"])
    with sandbox:
        pass
    sandbox.close()
    assert fake.sandboxes[0].terminated == 1
    with pytest.raises(SandboxError, match="closed"):
        sandbox.exec(["true"])


def test_modal_auth_failure_is_unavailable_with_the_reason(tmp_path, repo):
    path, _ = repo
    fake = FakeModal()
    fake.create_error = modal.exception.AuthError("Token missing")
    with pytest.raises(SandboxUnavailable, match="Token missing"):
        backend(tmp_path, fake).prepare(RepoSpec(str(path), "main"))


def test_the_real_modal_module_is_the_default(tmp_path):
    chosen = ModalBackend(Workspace(tmp_path / "cache"))
    assert chosen._api is modal  # and mypy checks that `modal` satisfies ModalAPI
