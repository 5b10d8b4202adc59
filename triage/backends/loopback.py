"""A threaded JSON HTTP(S) server on 127.0.0.1 for vendor fakes: routes, a request log, and
scripted one-shot answers (errors, rate limits, slow replies) queued per path."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    """One answer: status, JSON body (or raw bytes), headers, and an optional delay first."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[Seen], Reply]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop the connection (TLS rejection, timeouts) are expected here."""


class LoopbackServer:
    """Serves `handle(seen) -> Reply` on 127.0.0.1:<free port>, over TLS when given a context."""

    def __init__(self, handle: Route, tls: ssl.SSLContext | None = None) -> None:
        self.handle = handle
        self.seen: list[Seen] = []
        self.methods: set[str] = set()  # every method ever received; `reset` keeps it
        self.non_reads: list[str] = []  # `METHOD /path` of every request but GET / HEAD; kept too
        self.script: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        if tls is not None:
            # Handshake in the handler thread, so a client that rejects the certificate cannot
            # stall the accept loop.
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def queue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with these replies, in order, before the routes."""
        with self._lock:
            self.script.setdefault(path, []).extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.script.clear()

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            self.methods.add(seen.method)
            if seen.method not in ("GET", "HEAD"):
                self.non_reads.append(f"{seen.method} {seen.path}")
            queued = self.script.get(seen.path)
            if queued:
                return queued.pop(0)
        return self.handle(seen)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                reply = server._answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up (a timeout test); nothing to answer

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read `seen` instead."""

        return Handler
