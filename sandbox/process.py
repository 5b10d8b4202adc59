"""Run a child process with a wall-clock deadline, bounded output and a whole-tree kill.

Every child starts in its own session (process group), so a timeout can kill everything it
spawned that stayed in the group. The bubblewrap backend passes its own `kill`, which kills the
init of the sandbox's pid namespace: the kernel then kills every process in it, even those that
left the group (`setsid`, double forks), and bwrap exits only once they are all gone.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.base import MiddleTruncator, Output

# After a kill: how long the child gets to exit (a pid namespace exits once all of its processes
# are dead), then how long to read what is left in the pipes (every writer is dead by then,
# unless a process escaped; we stop reading rather than hang on it).
_REAP_SECONDS = 30.0
_DRAIN_SECONDS = 5.0
_CHUNK = 65536


@dataclass(frozen=True)
class ProcessResult:
    """What a bounded child process did."""

    exit_code: int | None  # None when killed on timeout; 128+N when killed by signal N
    stdout: Output
    stderr: Output
    duration_seconds: float
    timed_out: bool


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    output_limit: int,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
    stdin: bytes | None = None,
    pass_fds: Sequence[int] = (),
    kill: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> ProcessResult:
    """Run `argv`, kill it at `timeout` (`kill`, else its process group), keep head and tail."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env), cwd=cwd,
        start_new_session=True, close_fds=True, pass_fds=tuple(pass_fds), user=user, group=group,
        extra_groups=[] if user is not None else None,
    )
    if proc.stdin is not None:
        _feed_stdin(proc, stdin or b"")
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = MiddleTruncator(output_limit), MiddleTruncator(output_limit)
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    deadline = started + timeout
    timed_out = _pump(sinks, deadline, proc)
    if timed_out:
        (kill or kill_group)(proc)
        try:
            proc.wait(_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            kill_group(proc)  # the gentler kill did not end it
        _pump(sinks, time.monotonic() + _DRAIN_SECONDS, None)
    for stream in (proc.stdout, proc.stderr):
        stream.close()
    code = proc.wait()
    return ProcessResult(
        exit_code=None if timed_out else _exit_code(code),
        stdout=out.output(),
        stderr=err.output(),
        duration_seconds=time.monotonic() - started,
        timed_out=timed_out,
    )


def _feed_stdin(proc: subprocess.Popen[bytes], data: bytes) -> None:
    """Write all of stdin up front (inputs are small: scripts, patches), then close it."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
    except BrokenPipeError:  # the child did not want it; its exit code will say why
        pass
    finally:
        proc.stdin.close()


def _pump(sinks: dict[int, MiddleTruncator], deadline: float,
          proc: subprocess.Popen[bytes] | None) -> bool:
    """Read both pipes until they close; True if `deadline` came first."""
    selector = selectors.DefaultSelector()
    for fd in sinks:
        selector.register(fd, selectors.EVENT_READ)
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            for key, _ in selector.select(min(remaining, 0.5)):
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    sinks[key.fd].feed(chunk)
                else:
                    selector.unregister(key.fd)
        # Pipes closed, but the child may still be running (it closed its stdout): wait for it.
        if proc is not None:
            try:
                proc.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                return True
        return False
    finally:
        selector.close()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_code(code: int) -> int:
    """Popen's negative signal numbers as a shell reports them (128 + N)."""
    return 128 - code if code < 0 else code
