"""The Sandbox contract: typed actions in, typed observations out, explicit limits.

Exceptions::

    SandboxError              a sandbox could not be created or used
    ├── SandboxUnavailable    the backend is missing on this machine (e.g. no bubblewrap)
    └── WorkspaceError        the repository or commit could not be prepared
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

DEFAULT_OUTPUT_LIMIT = 64 * 1024


class SandboxError(Exception):
    """A sandbox could not be created or used."""


class SandboxUnavailable(SandboxError):
    """The backend is not available on this machine."""


class WorkspaceError(SandboxError):
    """The repository or commit could not be prepared."""


@dataclass(frozen=True)
class Limits:
    """Resource bounds for every command in a sandbox."""

    timeout_seconds: float = 300.0
    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 600
    max_processes: int = 256
    output_bytes: int = DEFAULT_OUTPUT_LIMIT


@dataclass(frozen=True)
class Output:
    """A stream's text, truncated in the middle if it was too long, with its original size."""

    text: str
    original_bytes: int
    truncated: bool


@dataclass(frozen=True)
class ExecResult:
    """What one command did."""

    command: list[str]
    exit_code: int | None  # None when killed on timeout
    stdout: Output
    stderr: Output
    duration_seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Exited 0 within the time limit."""
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class RepoSpec:
    """Which repository to check out: a local path, a git URL, or a git bundle file."""

    source: str
    commit: str
    env: dict[str, str] = field(default_factory=dict)  # explicit allowlist passed to commands


class Sandbox(Protocol):
    """One isolated checkout of a repository at a commit."""

    workdir: Path  # the checkout's root: a host path (local) or the remote path (modal)
    commit: str  # the full SHA checked out

    def exec(self, command: list[str], timeout: float | None = None) -> ExecResult:
        """Run a command in the checkout (no network, no host secrets)."""
        ...

    def read_file(self, path: str) -> str:
        """Read a file of the checkout (paths are relative to the checkout root)."""
        ...

    def write_file(self, path: str, content: str) -> None:
        """Write a file of the checkout."""
        ...

    def diff(self) -> str:
        """The checkout's changes against its commit, as a unified diff."""
        ...

    def close(self) -> None:
        """Destroy the sandbox and everything in it."""
        ...


class SandboxBackend(Protocol):
    """Creates sandboxes."""

    name: str

    def prepare(self, repo: RepoSpec, limits: Limits | None = None) -> Sandbox:
        """A fresh sandbox with `repo` checked out at its commit."""
        ...


def truncate_middle(data: bytes, limit: int) -> Output:
    """Keep the head and the tail of an output, marking what was cut; never drop it silently."""
    if len(data) <= limit:
        return Output(data.decode("utf-8", errors="replace"), len(data), False)
    half = max(limit, 0) // 2
    # `data[-0:]` would be the whole output: slice the tail by its start instead.
    return _cut(data[:half], data[len(data) - half:], len(data))


def _cut(head: bytes, tail: bytes, original: int) -> Output:
    """The truncated form: head, a marker saying how much was cut, tail."""
    text = (head.decode("utf-8", errors="replace")
            + f"\n…[{original - len(head) - len(tail)} bytes cut from the middle]…\n"
            + tail.decode("utf-8", errors="replace"))
    return Output(text, original, True)


class MiddleTruncator:
    """`truncate_middle` for a stream: memory stays bounded by `limit` however much is fed."""

    def __init__(self, limit: int) -> None:
        """Keep at most `limit` bytes of what will be fed."""
        self.limit = max(limit, 0)
        self._half = self.limit // 2
        self._head = bytearray()
        self._tail = bytearray()
        self._size = 0
        self._over = False

    def feed(self, chunk: bytes) -> None:
        """Account for the next piece of the stream."""
        self._size += len(chunk)
        if self._over:
            self._tail += chunk
        else:
            self._head += chunk
            if self._size <= self.limit:
                return
            self._over = True  # from now on only the head's first half and a tail are kept
            self._tail = self._head[self._half:]
            del self._head[self._half:]
        # Trim lazily (at twice the size) so a stream of small chunks stays linear, not quadratic.
        if len(self._tail) > 2 * self._half + 4096:
            del self._tail[:len(self._tail) - self._half]

    def output(self) -> Output:
        """What `truncate_middle` would return for everything fed so far."""
        if not self._over:
            return Output(self._head.decode("utf-8", errors="replace"), self._size, False)
        return _cut(bytes(self._head), bytes(self._tail[len(self._tail) - self._half:]), self._size)
