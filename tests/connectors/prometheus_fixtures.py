"""Test servers for the Prometheus connector.

- `exporter()`: a prometheus-client exporter on 127.0.0.1 whose gauge / counter the test changes;
- `prometheus_server()`: the real `prometheus` binary (Debian package `prometheus`) in a temporary
  directory, scraping the exporter every 250 ms, with an alerting rule that fires and basic auth;
- `FakePrometheus`: a loopback HTTP(S) server speaking the Prometheus API's documented envelope
  (`{"status": "success" | "error", "data" | "errorType"/"error", "warnings"}`) from a script of
  answers, for what a healthy real server will not do on demand (429, 503, slow answers, echoes).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.waiting import wait_for

INTERVAL = "250ms"
USER = "triage"
PASSWORD = "prom-pw-7QxPlanted-Zz41"  # planted: must never appear in Evidence, checks or logs
# bcrypt (cost 4) of PASSWORD, as Prometheus's --web.config.file expects
PASSWORD_HASH = "$2b$04$D2CG.h4ZqrKHr72dYZfhruOOQNj6B3C3w4pv2Xb3rwNDPzcUCxZf2"

RULES = """
groups:
  - name: triage-test
    interval: 250ms
    rules:
      - alert: TriageQueueDeep
        # last_over_time: a scrape missed on a busy machine (250 ms, stale series) must not
        # resolve the alert and restart it with a later activeAt
        expr: last_over_time(triage_queue_depth[1m]) > 10
        labels: {severity: page}
        annotations: {summary: "queue {{ $labels.shard }} is {{ $value }} deep"}
      - alert: TriageNeverFires
        expr: triage_queue_depth > 1000
        for: 5m
      - alert: TriageBroken
        # evaluates to two series with one label set: a run-time error, so health "err"
        expr: label_replace(triage_queue_depth, "shard", "x", "", "")
      - record: service:triage_requests:rate10s
        expr: sum by (service) (rate(triage_requests_total[10s]))
"""


@dataclass
class Exporter:
    """A scrape target whose values the test sets."""

    port: int
    depth: Gauge
    requests: Counter


@contextmanager
def exporter() -> Iterator[Exporter]:
    """A prometheus-client exporter on a free loopback port."""
    registry = CollectorRegistry()
    depth = Gauge("triage_queue_depth", "Jobs waiting", ["service", "shard"], registry=registry)
    requests = Counter("triage_requests", "Requests served", ["service", "code"], registry=registry)
    depth.labels("checkout", "a").set(5)
    depth.labels("checkout", "b").set(7)
    requests.labels("checkout", "200").inc(10)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield Exporter(server.server_port, depth, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prometheus_server(scrape_port: int | None = None, *, auth: bool = True,
                      flags: tuple[str, ...] = ()) -> Iterator[str]:
    """Run the real Prometheus binary on a free loopback port; yield its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("the `prometheus` binary is not on PATH (Debian package `prometheus`; "
                           ".ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="triage-prom-"))
    scrape = (f"  - job_name: exporter\n    static_configs:\n"
              f"      - targets: ['127.0.0.1:{scrape_port}']\n" if scrape_port else "")
    (root / "rules.yml").write_text(RULES)
    (root / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {INTERVAL}\n  evaluation_interval: {INTERVAL}\n"
        f"rule_files: ['{root / 'rules.yml'}']\nscrape_configs:\n{scrape or '  []'}\n")
    args = [binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
            "--log.level=warn", "--scrape.discovery-reload-interval=100ms", *flags]
    if auth:
        (root / "web.yml").write_text(f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n")
        args.append(f"--web.config.file={root / 'web.yml'}")
    port = free_port()
    args.append(f"--web.listen-address=127.0.0.1:{port}")
    log = (root / "log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, root / "log", (USER, PASSWORD) if auth else None)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path,
                auth: tuple[str, str] | None, timeout: float = 30.0) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}: {log.read_text()}")
        try:
            return httpx.get(f"{url}/-/ready", auth=auth, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, timeout, f"prometheus to become ready ({log})")


# --- a scripted fake --------------------------------------------------------------------------


HOLD_LIMIT = 60.0  # a held answer is released by then at the latest (a forgotten reset)


@dataclass
class Answer:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # answer only once the test releases it (FakePrometheus.reset)


def success(data: Any, **extra: Any) -> Answer:
    """The API's success envelope."""
    return Answer(200, {"status": "success", "data": data, **extra})


def failure(status: int, error_type: str, error: str, **headers: str) -> Answer:
    """The API's error envelope."""
    return Answer(status, {"status": "error", "errorType": error_type, "error": error}, headers)


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]


class FakePrometheus:
    """Answers each path from its queue of scripted answers (the last one repeats)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.script: dict[str, deque[Answer]] = {}
        self.seen: list[Seen] = []
        # a held answer waits for this: the client's own timeout decides, never a fixed delay
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                fake.seen.append(Seen("GET", split.path, parse_qs(split.query),
                                      {k.lower(): v for k, v in self.headers.items()}))
                fake.answer(self, split.path)

            # recorded too, so tests can assert the connector never sends anything but GET
            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str, *answers: Answer) -> None:
        """Script the answers to `path`, in order; the last one repeats."""
        self.script[path] = deque(answers)

    def reset(self) -> None:
        """Release held answers; forget the script and the requests seen."""
        self.released.set()
        self.script.clear()
        self.seen.clear()
        self.released = threading.Event()

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        """Send the next scripted answer for `path` (404 text if none)."""
        queue = self.script.get(path)
        if queue:
            answer = queue.popleft() if len(queue) > 1 else queue[0]
        else:
            answer = Answer(404, "404 page not found")
        if answer.hold:
            self.released.wait(HOLD_LIMIT)
        raw = answer.body if isinstance(answer.body, bytes) else (
            answer.body.encode() if isinstance(answer.body, str) else json.dumps(answer.body).encode())
        handler.send_response(answer.status)
        kind = "application/json" if isinstance(answer.body, dict) else "text/plain; charset=utf-8"
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(raw)))
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            handler.wfile.write(raw)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
