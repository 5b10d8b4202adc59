"""The local backend: a copy-on-write checkout from the workspace cache, run under bubblewrap.

No network (own network namespace), a read-only system, only the checkout writable (plus a
private /tmp), an explicit environment, rlimits on processes, address space and CPU, a
wall-clock timeout that kills the whole pid namespace, and output truncated in the middle.

RLIMIT_NPROC is not enforced for processes whose host uid is root, even inside a user
namespace; so when the service runs as root, sandboxes run as an unprivileged host user
(`run_as`, default `nobody`), and the checkout is handed to that user. Otherwise they run as the
service's own uid. Either way the command sees itself as uid 1000 with no capabilities.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType

from sandbox.base import ExecResult, Limits, RepoSpec, SandboxError, SandboxUnavailable
from sandbox.bwrap import WORKSPACE, Layout, bwrap_argv, probe_argv, sandbox_env, write_etc
from sandbox.process import kill_group, run_bounded
from sandbox.workspace import Workspace

_PROBE_TIMEOUT = 30.0
_DIFF_LIMIT = 16 * 1024 * 1024  # a diff is a patch: it is refused, not truncated, beyond this
_READ_LIMIT = 16 * 1024 * 1024
_probed: dict[tuple[str, int | None], str | None] = {}  # (bwrap, uid) -> why unavailable
_probe_lock = threading.Lock()


class LocalBackend:
    """Creates bubblewrap sandboxes over checkouts from `workspace`."""

    name = "local"

    def __init__(self, workspace: Workspace, *, sandboxes_dir: Path | None = None,
                 run_as: str | int | None = None, extra_readonly: Sequence[Path] = (),
                 bwrap: str | None = None) -> None:
        """Sandboxes live under `sandboxes_dir` (default: `<workspace root>/sandboxes`)."""
        self.workspace = workspace
        self.sandboxes_dir = sandboxes_dir or workspace.root / "sandboxes"
        self.extra_readonly = tuple(extra_readonly)
        self._bwrap = bwrap or shutil.which("bwrap")
        self._prlimit = shutil.which("prlimit")
        self._user = _sandbox_user(run_as)

    def prepare(self, repo: RepoSpec, limits: Limits | None = None) -> LocalSandbox:
        """A fresh sandbox with `repo` checked out at its commit."""
        bwrap, prlimit = self.check()
        env = sandbox_env(repo.env)
        self.sandboxes_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:  # the sandbox user must get through to its own directory
            mode = self.sandboxes_dir.stat().st_mode
            if not mode & stat.S_IXOTH:
                self.sandboxes_dir.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        root = Path(tempfile.mkdtemp(prefix="sbx-", dir=self.sandboxes_dir))
        try:
            checkout = self.workspace.checkout(repo.source, repo.commit, root / "repo")
            write_etc(root / "etc")
            layout = Layout(root / "repo", root / "etc", (checkout.objects, *self.extra_readonly))
            if self._user is not None:
                _hand_over(root, *self._user)
                _require_searchable([root / "repo", root / "etc", *layout.readonly], self._user)
        except BaseException:
            _remove_tree(root)
            raise
        return LocalSandbox(root=root, layout=layout, commit=checkout.commit, env=env,
                            limits=limits or Limits(), user=self._user,
                            argv=lambda lim, cmd, fd: bwrap_argv(bwrap, prlimit, layout, lim, env,
                                                                 cmd, fd))

    def check(self) -> tuple[str, str]:
        """bwrap and prlimit, once verified to work here; SandboxUnavailable with the reason."""
        if self._bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
        if self._prlimit is None:
            raise SandboxUnavailable("prlimit is not installed (util-linux)")
        key = (self._bwrap, self._user[0] if self._user else None)
        with _probe_lock:
            if key not in _probed:
                _probed[key] = _probe(self._bwrap, self._user)
        if reason := _probed[key]:
            raise SandboxUnavailable(reason)
        return self._bwrap, self._prlimit


class LocalSandbox:
    """One checkout under bubblewrap. `workdir` is the host path; commands see /workspace."""

    def __init__(self, *, root: Path, layout: Layout, commit: str, env: Mapping[str, str],
                 limits: Limits, user: tuple[int, int] | None,
                 argv: Callable[[Limits, Sequence[str], int], list[str]]) -> None:
        """Use LocalBackend.prepare."""
        self.root = root
        self.workdir = layout.workspace
        self.layout = layout
        self.commit = commit
        self.env = dict(env)
        self.limits = limits
        self._user = user
        self._argv = argv
        self._closed = False

    def exec(self, command: list[str], timeout: float | None = None) -> ExecResult:
        """Run a command in the checkout (no network, no host secrets)."""
        return self._run(command, timeout, self.limits.output_bytes)

    def read_file(self, path: str) -> str:
        """Read a file of the checkout (paths are relative to the checkout root)."""
        target = self._host_path(path)
        fd = _open_in(target, os.O_RDONLY)
        try:
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(_READ_LIMIT + 1)
        except OSError as exc:  # a directory, say
            raise SandboxError(f"{path}: {exc.strerror}") from exc
        if len(data) > _READ_LIMIT:
            raise SandboxError(f"{path}: larger than {_READ_LIMIT} bytes")
        return data.decode("utf-8", errors="replace")

    def write_file(self, path: str, content: str) -> None:
        """Write a file of the checkout (parents created), owned by the sandbox user."""
        target = self._host_path(path)
        created = []
        parent = target.parent
        while not parent.exists():
            created.append(parent)
            parent = parent.parent
        for directory in reversed(created):
            directory.mkdir()
            self._own(directory)
        self._host_path(path)  # again, now that the parents exist: they must not lead outside
        fd = _open_in(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode())
        self._own(target)

    def diff(self) -> str:
        """The checkout's changes (new files included) against its commit, as a unified diff."""
        # Git runs inside the sandbox: the checkout's .git is writable by sandboxed code, so its
        # config (hooks, fsmonitor, filters) must never be obeyed by a git on the host. A
        # throwaway index keeps the checkout's own index (and `git status`) untouched.
        script = ('export GIT_INDEX_FILE=/tmp/.triage-diff-index; '
                  'git read-tree "$1" && git add -A && '
                  'git diff --cached --no-color --no-ext-diff --no-textconv --binary "$1"')
        result = self._run(["sh", "-c", script, "sh", self.commit], None, _DIFF_LIMIT)
        if not result.ok:
            raise SandboxError(f"git diff failed (exit {result.exit_code}): {result.stderr.text}")
        if result.stdout.truncated:
            raise SandboxError(f"diff larger than {_DIFF_LIMIT} bytes")
        return result.stdout.text

    def close(self) -> None:
        """Destroy the sandbox and everything in it (idempotent)."""
        if not self._closed:
            self._closed = True
            _remove_tree(self.root)

    def __enter__(self) -> LocalSandbox:
        """Use as a context manager: closed on exit."""
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close."""
        self.close()

    def _run(self, command: list[str], timeout: float | None, output_limit: int) -> ExecResult:
        """Run under bwrap with this sandbox's limits, `timeout` overriding the default."""
        if self._closed:
            raise SandboxError("sandbox is closed")
        if not command:
            raise ValueError("empty command")
        limits = self.limits
        seconds = limits.timeout_seconds if timeout is None else timeout
        uid, gid = self._user if self._user else (None, None)
        info_read, info_write = os.pipe()
        try:
            # bwrap itself starts with an empty environment: --clearenv is the second line.
            result = run_bounded(self._argv(limits, command, info_write), timeout=seconds,
                                 output_limit=output_limit, env={"PATH": "/usr/bin:/bin"},
                                 cwd=Path("/"), user=uid, group=gid, pass_fds=(info_write,),
                                 kill=lambda proc: _kill_sandbox(proc, info_read))
        finally:
            os.close(info_read)
            os.close(info_write)
        return ExecResult(command=list(command), exit_code=result.exit_code, stdout=result.stdout,
                          stderr=result.stderr, duration_seconds=result.duration_seconds,
                          timed_out=result.timed_out)

    def _host_path(self, path: str) -> Path:
        """The host path of a checkout path; SandboxError if it leads outside (.., symlinks)."""
        rel = PurePosixPath(path)
        if rel.is_absolute():
            try:
                rel = rel.relative_to(WORKSPACE)
            except ValueError:
                raise SandboxError(f"{path}: outside the checkout ({WORKSPACE})") from None
        if not rel.parts or ".." in rel.parts:
            raise SandboxError(f"{path}: not a path inside the checkout")
        target = self.workdir / rel
        parent = target.parent.resolve()
        if not parent.is_relative_to(self.workdir.resolve()):
            raise SandboxError(f"{path}: leads outside the checkout (through a symlink)")
        return parent / target.name

    def _own(self, path: Path) -> None:
        """Give a host-created file to the sandbox user."""
        if self._user is not None:
            os.lchown(path, *self._user)


def _kill_sandbox(proc: subprocess.Popen[bytes], info: int) -> None:
    """SIGKILL the sandbox's init (its pid namespace dies with it), else bwrap's process group."""
    os.set_blocking(info, False)
    try:
        pid = int(json.loads(os.read(info, 65536))["child-pid"])
    except (OSError, ValueError, KeyError, TypeError):  # not spawned yet: nothing inside to kill
        kill_group(proc)
        return
    try:
        handle = os.pidfd_open(pid)
    except OSError:  # already gone
        return
    try:
        # The pidfd pins the process: if it is still bwrap's child, it is the right one to kill,
        # not a recycled pid.
        if _parent_of(pid) == proc.pid:
            signal.pidfd_send_signal(handle, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(handle)


def _parent_of(pid: int) -> int | None:
    """The parent pid of `pid`, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def _open_in(target: Path, flags: int, mode: int = 0o644) -> int:
    """Open without following a final symlink (a sandbox may have planted one)."""
    try:
        return os.open(target, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        raise SandboxError(f"{target.name}: {exc.strerror}") from exc


def _sandbox_user(run_as: str | int | None) -> tuple[int, int] | None:
    """The host uid/gid sandboxes run as, or None for our own."""
    if run_as is None and os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwuid(run_as) if isinstance(run_as, int) else pwd.getpwnam(run_as or "nobody")
    except KeyError as exc:
        raise SandboxUnavailable(f"no such user to run sandboxes as: {run_as or 'nobody'}") from exc
    if entry.pw_uid == 0:
        raise SandboxUnavailable("sandboxes must not run as root (process limits do not apply)")
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        raise SandboxUnavailable(f"only root can run sandboxes as another user ({entry.pw_name})")
    return (entry.pw_uid, entry.pw_gid) if entry.pw_uid != os.geteuid() else None


def _probe(bwrap: str, user: tuple[int, int] | None) -> str | None:
    """Why bubblewrap cannot create its namespaces here, or None if it can."""
    uid, gid = user if user else (None, None)
    try:
        result = run_bounded(probe_argv(bwrap), timeout=_PROBE_TIMEOUT, output_limit=4096,
                             env={"PATH": "/usr/bin:/bin"}, cwd=Path("/"), user=uid, group=gid)
    except OSError as exc:
        return f"cannot run {bwrap}: {exc}"
    if result.exit_code == 0:
        return None
    return (f"bubblewrap cannot create a sandbox on this machine (exit {result.exit_code}): "
            f"{result.stderr.text.strip()} — user namespaces may be disabled "
            "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces, AppArmor)")


def _hand_over(root: Path, uid: int, gid: int) -> None:
    """chown the sandbox tree to its user (the checkout was written by us)."""
    root.chmod(0o711)
    os.lchown(root, uid, gid)
    for base, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(base, name), uid, gid)


def _require_searchable(paths: Sequence[Path], user: tuple[int, int]) -> None:
    """Every directory above each path must let the sandbox user through (bwrap binds as it)."""
    uid, gid = user
    for path in paths:
        for directory in [path, *path.parents]:
            info = directory.stat()
            if info.st_uid == uid:
                bit = stat.S_IXUSR
            elif info.st_gid == gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if stat.S_ISDIR(info.st_mode) and not info.st_mode & bit:
                raise SandboxUnavailable(
                    f"{directory} is not searchable by uid {uid}, which sandboxes run as: "
                    "put the sandbox cache under a world-searchable directory (chmod o+x)")


def _remove_tree(root: Path) -> None:
    """rmtree that also removes what sandboxed code made unwritable (chmod 000 directories)."""
    if not root.exists():
        return
    try:
        shutil.rmtree(root)
    except OSError:
        # Top-down, so each directory is opened up before the walk tries to enter it.
        for base, dirs, _ in os.walk(root):
            for name in dirs:
                path = os.path.join(base, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
        shutil.rmtree(root)
