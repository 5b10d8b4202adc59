"""What the Chromium tests share: the system's Chromium through Playwright (never a downloaded
browser), a runtime's app served by real uvicorn on a loopback port in a thread, the finished demo
investigation behind it, and where screenshots go."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from tests.conftest import DEMO, make_settings
from tests.waiting import wait_for
from triage.app import create_app
from triage.config import parse_config
from triage.runtime import Runtime
from triage.scenarios import load_scenario, run_scenario

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and the base URL it will serve."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(runtime: Runtime, sock: socket.socket) -> Iterator[None]:
    """`runtime`'s app under real uvicorn on `sock` until the block ends (the socket closed then)."""
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, "uvicorn to start")
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def chromium(sync_api: Any) -> Iterator[object]:
    """Headless Debian Chromium, launched through Playwright's sync API."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served_demo(tmp: Path, signing_key: str) -> Iterator[tuple[str, str]]:
    """A finished demo investigation (with its charts) behind real uvicorn, its links signed with
    `signing_key`: (base URL, investigation id)."""
    _, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=tmp / "demo")
    sock, base = loopback_socket()
    settings = make_settings(tmp, data_dir=tmp / "demo", public_url=base,
                             report_signing_keys=[SecretStr(signing_key)])
    runtime = Runtime.from_settings(settings, parse_config(load_scenario(DEMO).config,
                                                           tmp / "demo", "demo"))
    try:
        with serving(runtime, sock):
            yield base, outcome.investigation_id
    finally:
        runtime.close()


def artefacts(tmp_path: Path) -> Path:
    """Where screenshots go: $TRIAGE_TEST_ARTEFACTS (CI keeps it), else the test's own directory."""
    where = Path(os.environ.get("TRIAGE_TEST_ARTEFACTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where
