"""The app behind real uvicorn: a 500 closes its connection cleanly, and a client hanging up
mid-body costs one log line, not a traceback."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import CHECKOUT_CONFIG, DD_TOKEN, make_settings
from triage.app import create_app
from triage.config import parse_config
from triage.runtime import Runtime


class Records(logging.Handler):
    """Keeps every record; `seen` is set once one contains `wanted`."""

    def __init__(self, wanted: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.wanted = wanted
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)
        if self.wanted in record.getMessage():
            self.seen.set()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FastAPI, int, uvicorn.Server, threading.Thread]]:
    """The app over SQLite behind uvicorn on a loopback port (its own logging left alone)."""
    runtime = Runtime.from_settings(make_settings(tmp_path),
                                    parse_config(CHECKOUT_CONFIG, tmp_path, "test"))
    app = create_app(runtime)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="info"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield app, int(sock.getsockname()[1]), server, thread
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        runtime.close()


def test_a_500_says_connection_close_and_the_next_request_is_answered(
        served: tuple[FastAPI, int, uvicorn.Server, threading.Thread]) -> None:
    app, port, _, _ = served

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/boom")
    failed = conn.getresponse()
    assert failed.status == 500
    assert failed.getheader("connection") == "close"
    assert b"RuntimeError" in failed.read()
    conn.request("GET", "/healthz")  # http.client reconnects because the 500 said close
    assert conn.getresponse().status == 200
    conn.close()


def test_a_client_hanging_up_mid_body_is_one_log_line(
        served: tuple[FastAPI, int, uvicorn.Server, threading.Thread]) -> None:
    _, port, server, thread = served
    records = Records("hung up")
    root = logging.getLogger()
    root.addHandler(records)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            raw.sendall(b"POST /webhooks/datadog HTTP/1.1\r\nHost: x\r\n"
                        b"Authorization: Bearer " + DD_TOKEN.encode() + b"\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                        b'{"id": "1", "title": "cut sh')
        assert records.seen.wait(30), [r.getMessage() for r in records.records]
        server.should_exit = True
        thread.join(timeout=30)  # a graceful stop: the request's task has finished logging
    finally:
        root.removeHandler(records)
    hung_up = [r for r in records.records if "hung up" in r.getMessage()]
    assert len(hung_up) == 1
    assert hung_up[0].getMessage() == "/webhooks/datadog: the client hung up after 28 bytes of " \
                                      "the body"
    assert [r.getMessage() for r in records.records if r.exc_info] == []
