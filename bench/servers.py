"""Server subprocesses for benchmarks: start, wait until ready, stop; loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench.loopback_http import HOST

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


class BenchError(Exception):
    """The benchmark itself broke (as opposed to the service missing a goal)."""


class Server:
    """A server subprocess with its output in a log file; stopped on exit from `with`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path,
                 log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL after `STOP_TIMEOUT_S`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.terminate()
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:  # also when interrupted while waiting
            if proc.poll() is None:
                proc.kill()
                proc.wait(5.0)

    def check_alive(self) -> None:
        """Raise `BenchError`, with the end of its log, if the server has exited."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BenchError(f"{self.name} server exited (code {code}):\n{self.log_tail()}")

    def wait_ready(self, url: str, *, need_200: bool) -> None:
        """Poll `url` until it answers (200 if `need_200`, else any HTTP status)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError:
                    status = None
                if status is not None and (status == 200 or not need_200):
                    return
                time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any TRIAGE_* setting (never the caller's store), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra
