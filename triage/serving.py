"""`triage serve --processes N`: several API processes behind one listening socket.

One Python process acks webhooks at about a core's worth of work (its GIL); a storm of alerts
needs more. The parent binds the socket and brings the schema up to date once, then starts N
API processes that all accept on that socket (the kernel hands each connection to one of them)
and, unless `--no-worker`, one worker process that runs investigations. Every API process has
its own group commit and promoter; both are safe across processes (row locks on PostgreSQL, one
writer at a time on SQLite, see `Store.transaction`). A process that dies is started again; on
SIGINT or SIGTERM the parent stops them all gracefully (in-flight webhooks are answered).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Literal, cast

log = logging.getLogger(__name__)
Role = Literal["api", "worker"]
MAX_RESTARTS = 5  # within RESTART_WINDOW_S: a process that keeps dying is a fault, not bad luck
RESTART_WINDOW_S = 60.0
STOP_TIMEOUT_S = 30.0
_SPAWN = multiprocessing.get_context("spawn")  # no fork of a process holding threads and pools


def listen(host: str, port: int) -> socket.socket:
    """The listening socket every API process accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_api(sock: socket.socket) -> None:
    """One API process: the app over its own runtime (from the environment), on `sock`."""
    import uvicorn

    from triage.app import create_app
    from triage.config import Settings
    from triage.runtime import Runtime

    runtime = Runtime.from_settings(Settings())
    try:
        config = uvicorn.Config(create_app(runtime, run_worker=False), log_level="info")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        runtime.close()


def run_worker() -> None:
    """One worker process: investigations from the shared queue until SIGTERM or SIGINT."""
    from triage.config import Settings
    from triage.runtime import Runtime
    from triage.worker import run_until_signalled

    run_until_signalled(Runtime.from_settings(Settings()))


class Supervisor:
    """Starts the API processes (and the worker), restarts any that dies, stops them all."""

    def __init__(self, sock: socket.socket, processes: int, worker: bool) -> None:
        self.sock = sock
        api: list[Role] = ["api"] * processes
        self.roles = api + (["worker"] if worker else [])
        self.children: dict[int, BaseProcess] = {}
        self.stopping = threading.Event()
        self._restarts: deque[float] = deque()

    def _start(self, slot: int) -> None:
        role = self.roles[slot]
        target, args = (run_api, (self.sock,)) if role == "api" else (run_worker, ())
        process = _SPAWN.Process(target=target, args=args, name=f"triage-{role}-{slot}")
        process.start()
        self.children[slot] = process

    def run(self) -> int:
        """Run until told to stop (then 0), or until processes keep dying (then 1)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        for slot in range(len(self.roles)):
            self._start(slot)
        try:
            while not self.stopping.is_set():
                sentinels = {p.sentinel: slot for slot, p in self.children.items()}
                for ready in wait(list(sentinels), timeout=0.5):
                    if self.stopping.is_set():
                        break
                    slot = sentinels[cast(int, ready)]  # wait() hands back what it was given
                    code = self.children[slot].exitcode
                    if not self._may_restart():
                        log.error("%s exited with %s; too many restarts, stopping",
                                  self.children[slot].name, code)
                        return 1
                    log.error("%s exited with %s; starting it again", self.children[slot].name,
                              code)
                    self._start(slot)
            return 0
        finally:
            self.stop()

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        self._restarts.append(now)
        return len(self._restarts) <= MAX_RESTARTS

    def stop(self) -> None:
        """SIGTERM to every child, then wait for each (SIGKILL after `STOP_TIMEOUT_S`)."""
        for process in self.children.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.children.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
