"""Real server processes for deployment tests: started on free loopback ports, output kept in a
log file each, stopped (and their logs available for failure messages) on the way out."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(binary: str, package: str) -> str:
    """The path of `binary`, or fail naming the Debian package that provides it (.ci/run installs it)."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"`{binary}` is not on PATH: apt-get install {package} (.ci/run installs it)")
    return path


@dataclass
class Proc:
    """One running server and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self, limit: int = 6000) -> str:
        """The end of what the process printed."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-limit:]

    def check_alive(self) -> None:
        """Raise with the log if the process has exited."""
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()}")


class Processes:
    """Starts processes in `root`, stops them all on close, and reports every log on failure."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Proc:
        """Start `argv` with its output going to `<root>/<name>.log`."""
        log = self.root / f"{name}.log"
        with log.open("wb") as sink:
            popen = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd or self.root,
                                     env={**os.environ, **(env or {})})
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_triage(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        """`python -m triage.cli <args>` with unbuffered output."""
        return self.start(name, [sys.executable, "-m", "triage.cli", *args],
                          {"PYTHONUNBUFFERED": "1", **env})

    def logs(self) -> str:
        """Every process's recent output, for an assertion message."""
        return "\n".join(f"----- {p.name} (exit {p.popen.poll()}) -----\n{p.output()}"
                         for p in self.procs)

    def wait_for(self, what: str, condition: Callable[[], T | None], deadline: float) -> T:
        """Poll `condition` until truthy; fail with every log once `deadline` (monotonic) passes."""
        while True:
            for proc in self.procs:
                if proc.popen.poll() is not None:
                    pytest.fail(f"{proc.name} exited while waiting for {what}\n{self.logs()}")
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.1)

    def close(self) -> None:
        """Terminate every process (kill after 10 s)."""
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)


@contextmanager
def processes(root: Path) -> Iterator[Processes]:
    """A `Processes` whose members are all stopped on exit."""
    group = Processes(root)
    try:
        yield group
    finally:
        group.close()


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether `url` answers 200 right now."""
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
