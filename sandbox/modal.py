"""The Modal backend: remote `modal.Sandbox`es with `block_network=True`, started from an image
snapshotted per repository and dependency lockfile.

    prepare(repo) ─► image for (repository, lockfiles at the commit, install command)
                     ├─ cached id? ─► modal.Image.from_id
                     └─ else: a build sandbox gets the lockfiles only (no source, no
                        credentials), runs the install command, snapshot_filesystem() ─► cache id
                  ─► Sandbox.create(image=…, block_network=True, timeout=…)
                  ─► the repository (a git bundle made from the local mirror) uploaded through the
                     filesystem API and checked out at the commit with git inside the sandbox

The build sandbox is the one place with network, restricted to `install_domains` when given
(e.g. the package index): installing dependencies needs it, and it holds nothing to leak.
Every sandbox is terminated on close, and on any failure while preparing it.

Live test (needs a Modal token; see README "Sandboxes"):
`TRIAGE_MODAL_LIVE=1 pytest tests/sandbox/test_modal_live.py`.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import modal
import modal.exception

from sandbox.base import (
    ExecResult,
    Limits,
    MiddleTruncator,
    Output,
    RepoSpec,
    SandboxError,
    SandboxUnavailable,
)
from sandbox.bwrap import BASE_ENV, WORKSPACE, sandbox_env
from sandbox.modal_api import ModalAPI, RemoteProcess, RemoteSandbox
from sandbox.modal_images import ImageCache
from sandbox.workspace import Workspace

_BUNDLE = "/tmp/triage-repo.bundle"  # noqa: S108 -- a path inside the remote sandbox
_GRACE_SECONDS = 30.0  # past an exec's own timeout, how long we still wait for Modal to report
# Checkout inside the sandbox: over whatever the install step left in /workspace (node_modules,
# .venv), since those are untracked, and the lockfiles, which the commit has identically.
_CHECKOUT_SCRIPT = (
    'set -e; git init -q "$1"; cd "$1"; '
    'git config user.name triage-sandbox; git config user.email sandbox@triage.invalid; '
    'git config advice.detachedHead false; '
    f'git fetch -q {_BUNDLE} "+refs/*:refs/bundle/*"; git checkout -q -f --detach "$2"; '
    f'rm -f {_BUNDLE}')
_DIFF_SCRIPT = ('export GIT_INDEX_FILE=/tmp/.triage-diff-index; git read-tree "$1" && git add -A && '
                'git diff --cached --no-color --no-ext-diff --no-textconv --binary "$1"')


class ModalBackend:
    """Creates Modal sandboxes; images are built once per repository + lockfiles."""

    name = "modal"

    def __init__(self, workspace: Workspace, *, app_name: str = "triage-sandboxes",
                 install: Sequence[str] = (), lockfiles: Sequence[str] = (),
                 install_domains: Sequence[str] | None = None, base_image: Any = None,
                 image_cache: ImageCache | None = None, cpu: float = 2.0,
                 lifetime_seconds: int = 3600, api: ModalAPI | None = None) -> None:
        """Sandboxes of the app `app_name`, from images built with `install` over `lockfiles`."""
        # `install` (e.g. `pip install -r requirements.txt`) runs in /workspace with the
        # `lockfiles` (paths in the repository) present; nothing to install means the base image
        # is used as is. `base_image` must have git (default: debian_slim + git).
        self.workspace = workspace
        self.app_name = app_name
        self.install = list(install)
        self.lockfiles = list(lockfiles)
        self.install_domains = list(install_domains) if install_domains is not None else None
        self.cpu = cpu
        self.lifetime_seconds = lifetime_seconds
        self._api: ModalAPI = api if api is not None else modal
        self._base_image = base_image
        self._images = image_cache or ImageCache(workspace.root / "modal-images.json")
        self._app: Any = None
        self._build_lock = threading.Lock()

    def prepare(self, repo: RepoSpec, limits: Limits | None = None) -> ModalSandbox:
        """A fresh remote sandbox with `repo` checked out at its commit."""
        limits = limits or Limits()
        env = sandbox_env(repo.env)
        _, sha = self.workspace.resolve(repo.source, repo.commit)
        image = self.image_for(repo.source, sha)
        mib = max(limits.memory_bytes // (1024 * 1024), 128)  # (request, limit): a hard limit
        with _translated("creating the sandbox"):
            remote = self._api.Sandbox.create(
                "sleep", "infinity", app=self._lookup_app(), image=image,
                timeout=self.lifetime_seconds, workdir=WORKSPACE, cpu=self.cpu,
                memory=(mib, mib), block_network=True,
                env=dict(env))
        sandbox = ModalSandbox(remote, commit=sha, env=env, limits=limits)
        try:
            with tempfile.TemporaryDirectory(prefix="triage-bundle-") as tmp:
                bundle = self.workspace.bundle(repo.source, Path(tmp) / "repo.bundle")
                with _translated("uploading the repository"):
                    remote.filesystem.copy_from_local(str(bundle), _BUNDLE)
            result = sandbox.exec(["sh", "-c", _CHECKOUT_SCRIPT, "sh", WORKSPACE, sha])
            if not result.ok:
                raise SandboxError(f"checkout of {sha[:12]} in the sandbox failed "
                                   f"(exit {result.exit_code}): {result.stderr.text.strip()}")
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    def image_for(self, source: str, sha: str) -> Any:
        """The image sandboxes of `source` at `sha` start from: built and snapshotted once."""
        base = self._base()
        if not self.install:
            return base
        locks = {path: self.workspace.show(source, sha, path) for path in self.lockfiles}
        key = _image_key(self.workspace.identity(source), self.install, locks)
        with self._build_lock:
            if (image_id := self._images.get(key)) is not None:
                with _translated("loading the cached image"):
                    return self._api.Image.from_id(image_id)
            image = self._build(base, {p: c for p, c in locks.items() if c is not None})
            self._images.put(key, str(image.object_id))
            return image

    def _build(self, base: Any, lockfiles: Mapping[str, bytes]) -> Any:
        """Install dependencies in a build sandbox (lockfiles only) and snapshot it."""
        with _translated("creating the build sandbox"):
            builder = self._api.Sandbox.create(
                "sleep", "infinity", app=self._lookup_app(), image=base,
                timeout=self.lifetime_seconds, workdir=WORKSPACE, cpu=self.cpu,
                block_network=False, outbound_domain_allowlist=self.install_domains,
                env=dict(BASE_ENV))
        sandbox = ModalSandbox(builder, commit="", env=BASE_ENV,
                               limits=Limits(timeout_seconds=self.lifetime_seconds / 2))
        try:
            for path, content in lockfiles.items():
                with _translated(f"uploading {path}"):
                    builder.filesystem.write_bytes(content, _remote_path(path))
            result = sandbox.exec(self.install)
            if not result.ok:
                raise SandboxError(f"installing dependencies failed (exit {result.exit_code}, "
                                   f"{' '.join(self.install)}): {result.stderr.text.strip()}")
            with _translated("snapshotting the image"):
                return builder.snapshot_filesystem(timeout=600)
        finally:
            sandbox.close()

    def _base(self) -> Any:
        """The configured base image, or debian_slim with git."""
        if self._base_image is None:
            self._base_image = self._api.Image.debian_slim().apt_install("git")
        return self._base_image

    def _lookup_app(self) -> Any:
        """The Modal app sandboxes belong to (created on first use)."""
        if self._app is None:
            with _translated(f"looking up app {self.app_name!r}"):
                self._app = self._api.App.lookup(self.app_name, create_if_missing=True)
        return self._app


class ModalSandbox:
    """One remote sandbox; commands run in /workspace."""

    workdir = Path(WORKSPACE)

    def __init__(self, remote: RemoteSandbox, *, commit: str, env: Mapping[str, str],
                 limits: Limits) -> None:
        """Use ModalBackend.prepare."""
        self.remote = remote
        self.commit = commit
        self.env = dict(env)
        self.limits = limits
        self._closed = False

    def exec(self, command: list[str], timeout: float | None = None) -> ExecResult:
        """Run a command in /workspace; Modal kills it at the timeout."""
        if self._closed:
            raise SandboxError("sandbox is closed")
        if not command:
            raise ValueError("empty command")
        seconds = self.limits.timeout_seconds if timeout is None else timeout
        started = time.monotonic()
        with _translated("exec"):
            process = self.remote.exec(*command, timeout=max(math.ceil(seconds), 1),
                                       workdir=WORKSPACE, env=dict(self.env), text=False)
        out, err = _drain(process, self.limits.output_bytes, seconds + _GRACE_SECONDS)
        with _translated("exec wait"):
            code = process.wait()
        elapsed = time.monotonic() - started
        timed_out = code == -1  # what ContainerProcess.wait reports when the exec deadline passed
        return ExecResult(command=list(command), exit_code=None if timed_out else code,
                          stdout=out, stderr=err, duration_seconds=elapsed, timed_out=timed_out)

    def read_file(self, path: str) -> str:
        """Read a file of the checkout (relative to /workspace)."""
        with _translated(f"reading {path}"):
            return self.remote.filesystem.read_bytes(_remote_path(path)).decode(errors="replace")

    def write_file(self, path: str, content: str) -> None:
        """Write a file of the checkout (parents created)."""
        with _translated(f"writing {path}"):
            self.remote.filesystem.write_bytes(content.encode(), _remote_path(path))

    def diff(self) -> str:
        """The checkout's changes (new files included) against its commit."""
        result = self.exec(["sh", "-c", _DIFF_SCRIPT, "sh", self.commit])
        if not result.ok or result.stdout.truncated:
            raise SandboxError(f"git diff failed (exit {result.exit_code}, "
                               f"truncated: {result.stdout.truncated}): {result.stderr.text}")
        return result.stdout.text

    def close(self) -> None:
        """Terminate the remote sandbox (idempotent)."""
        if not self._closed:
            self._closed = True
            with _translated("terminating the sandbox"):
                self.remote.terminate()

    def __enter__(self) -> ModalSandbox:
        """Use as a context manager: closed on exit."""
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close."""
        self.close()


def _drain(process: RemoteProcess, limit: int, deadline_seconds: float) -> tuple[Output, Output]:
    """Read stdout and stderr side by side (neither may block the other), head and tail kept."""
    sinks = (MiddleTruncator(limit), MiddleTruncator(limit))
    errors: list[BaseException] = []

    def pump(stream: Iterable[bytes], sink: MiddleTruncator) -> None:
        """Feed one stream into its sink until it ends."""
        try:
            for chunk in stream:
                sink.feed(chunk if isinstance(chunk, bytes) else str(chunk).encode())
        except Exception as exc:  # reported below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=pump, args=(stream, sink), daemon=True)
               for stream, sink in zip((process.stdout, process.stderr), sinks, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(deadline_seconds)
    if errors:
        raise SandboxError(f"reading command output failed: {errors[0]}") from errors[0]
    return sinks[0].output(), sinks[1].output()


class _translated:
    """Turn Modal's exceptions into the sandbox exception tree, naming the step that failed."""

    def __init__(self, step: str) -> None:
        """Name the step."""
        self.step = step

    def __enter__(self) -> None:
        """Nothing to set up."""

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Re-raise a Modal error as SandboxUnavailable (auth) or SandboxError."""
        if exc is None or not isinstance(exc, modal.exception.Error):
            return
        if isinstance(exc, modal.exception.AuthError):
            raise SandboxUnavailable(f"Modal refused the credentials while {self.step}: {exc} "
                                     "(set MODAL_TOKEN_ID / MODAL_TOKEN_SECRET)") from exc
        raise SandboxError(f"Modal error while {self.step}: {type(exc).__name__}: {exc}") from exc


def _remote_path(path: str) -> str:
    """Absolute path under /workspace; SandboxError for paths that climb out."""
    rel = PurePosixPath(path)
    if rel.is_absolute():
        try:
            rel = rel.relative_to(WORKSPACE)
        except ValueError:
            raise SandboxError(f"{path}: outside the checkout ({WORKSPACE})") from None
    if not rel.parts or ".." in rel.parts:
        raise SandboxError(f"{path}: not a path inside the checkout")
    return str(PurePosixPath(WORKSPACE) / rel)


def _image_key(identity: str, install: Sequence[str], locks: Mapping[str, bytes | None]) -> str:
    """Same repository, same install command, same lockfile contents: same image."""
    digest = hashlib.sha256(identity.encode())
    digest.update("\0".join(install).encode())
    for path in sorted(locks):
        content = locks[path]
        digest.update(f"\0{path}\0{'-' if content is None else len(content)}\0".encode())
        digest.update(content or b"")
    return digest.hexdigest()
