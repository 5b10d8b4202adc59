"""datadog: rate limits, outages, permissions, timeouts and missing secrets come back as error
Evidence with Datadog's own message; retries happen on transient errors only; the keys never leak."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors import EvidenceStatus, build_connector
from tests.connectors._util import req
from tests.connectors.datadog_fixtures import (
    API_KEY,
    APP_KEY,
    ERRORS_QUERY,
    SECRETS,
    WRONG_KEY,
    make,
    seed,
    write_secrets,
)
from tests.fakes.datadog import FakeDatadog, Scripted, rate_limited


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDatadog]:
    with FakeDatadog(API_KEY, APP_KEY) as server:
        yield seed(server)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_secrets(tmp_path_factory.mktemp("dd-secrets"))


@pytest.fixture
def dd(fake: FakeDatadog, secrets: dict[str, Any]) -> Iterator[Any]:
    fake.reset()
    connector = make(fake, secrets, retry_attempts=3)
    yield connector
    connector.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- retries --------------------------------------------------------------------------------------

def test_rate_limit_is_retried_after_x_ratelimit_reset(dd, fake: FakeDatadog):
    fake.script("logs", rate_limited(reset=1))
    started = time.monotonic()
    ev = dd.query(req("logs: service:checkout"))
    assert ev.status == EvidenceStatus.OK
    assert fake.routes() == ["logs", "logs"]
    assert time.monotonic() - started >= 0.95  # waited as Datadog asked, not the 0.2 s backoff


def test_rate_limit_that_persists_is_an_error_after_the_attempts(dd, fake: FakeDatadog):
    fake.script("metrics", *[rate_limited(reset=0)] * 5)
    ev = dd.query(req(f"metrics: {ERRORS_QUERY}"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == ("Datadog metrics query failed: HTTP 429 Too Many Requests: Rate limit exceeded "
                        "(rate limited by Datadog; gave up after retrying)")
    assert ev.query == f"metrics: {ERRORS_QUERY}"
    assert fake.routes() == ["metrics"] * 3


def outage(status: int, message: str = "Internal Server Error") -> Scripted:
    """A 5xx that says when to come back (`Retry-After: 0`), so the test does not wait."""
    return Scripted(status, {"errors": [message]}, {"Retry-After": "0"})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_datadog_outage_is_retried(dd, fake: FakeDatadog, status: int):
    fake.script("events", outage(status))
    ev = dd.query(req("events: tags:deploy"))
    assert ev.status == EvidenceStatus.OK
    assert fake.routes() == ["events", "events"]


def test_outage_without_a_hint_backs_off_and_retries(dd, fake: FakeDatadog):
    fake.script("events", Scripted(502, "<html>Bad Gateway</html>"))
    assert dd.query(req("events: tags:deploy")).status == EvidenceStatus.OK
    assert fake.routes() == ["events", "events"]


def test_persistent_outage_reports_datadogs_message(dd, fake: FakeDatadog):
    fake.script("monitor", *[outage(503, "Service Unavailable: try again later")] * 3)
    ev = dd.query(req("monitor: 12345"))
    assert ev.error == ("Datadog monitor lookup failed: HTTP 503 Service Unavailable: "
                        "Service Unavailable: try again later")


@pytest.mark.parametrize(("route", "text"), [
    ("logs", "logs: (unbalanced"), ("metrics", "metrics: sum:broken{service:x"),
    ("monitor", "monitor: 424242"),
])
def test_client_errors_are_not_retried_and_carry_the_backend_message(dd, fake: FakeDatadog, route: str,
                                                                     text: str):
    ev = dd.query(req(text))
    assert ev.status == EvidenceStatus.ERROR
    assert fake.routes() == [route]
    call = {"logs": "logs search", "metrics": "metrics query", "monitor": "monitor lookup"}[route]
    assert str(ev.error).startswith(f"Datadog {call} failed: HTTP 40")
    assert ev.query == text


def test_bad_metrics_query_keeps_datadogs_parse_error(dd):
    ev = dd.query(req("metrics: sum:broken{service:x"))
    assert ev.error == ("Datadog metrics query failed: HTTP 400 Bad Request: Error parsing query: \n "
                        "unable to parse sum:broken{service:x: Rule 'scope_expr' didn't match")


# --- permissions ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "text", "scope"), [
    ("logs", "logs: *", "logs_read_data"), ("metrics", f"metrics: {ERRORS_QUERY}", "timeseries_query"),
    ("monitor", "monitor: 12345", "monitors_read"), ("events", "events: *", "events_read"),
])
def test_missing_permission_is_a_clear_403(dd, fake: FakeDatadog, route: str, text: str, scope: str):
    fake.denied.add(route)
    ev = dd.query(req(text))
    assert ev.status == EvidenceStatus.ERROR
    assert "HTTP 403 Forbidden: Failed permission authorization checks" in ev.error
    assert ev.error.endswith(f"lacks permission; this call needs the `{scope}` permission)")
    assert fake.routes() == [route]


def test_wrong_api_key_is_forbidden(fake: FakeDatadog, tmp_path: Path):
    fake.reset()
    dd = make(fake, write_secrets(tmp_path, api_key=WRONG_KEY))
    ev = dd.query(req("logs: *"))
    assert str(ev.error).startswith("Datadog logs search failed: HTTP 403 Forbidden (the API key is invalid")
    assert WRONG_KEY not in ev.model_dump_json()


# --- timeouts, outages, secrets that are not there ------------------------------------------------

def test_slow_answer_times_out_and_is_not_retried(fake: FakeDatadog, secrets: dict[str, Any]):
    fake.reset()
    fake.script("logs", Scripted(200, {"data": []}, delay=1.5))
    dd = make(fake, secrets, timeout_seconds=0.3)
    started = time.monotonic()
    ev = dd.query(req("logs: *"))
    assert ev.error == "Datadog logs search timed out after 0.3s"
    assert fake.routes() == ["logs"]
    assert time.monotonic() - started < 1.2


def test_unreachable_api_is_an_error_after_retries(secrets: dict[str, Any]):
    dd = build_connector("dd", {"type": "datadog", "base_url": f"http://127.0.0.1:{closed_port()}",
                                "retry_attempts": 2, **secrets}, Path("."))
    ev = dd.query(req("logs: *"))
    assert ev.status == EvidenceStatus.ERROR
    assert str(ev.error).startswith("Datadog logs search failed: cannot reach the Datadog API: ")
    assert "Connection refused" in str(ev.error)


def test_missing_secret_is_error_evidence_not_a_crash(fake: FakeDatadog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DD_TEST_API_KEY", raising=False)
    dd = make(fake, {"api_key": {"env": "DD_TEST_API_KEY"}, "app_key": {"env": "DD_TEST_APP_KEY"}})
    ev = dd.query(req("logs: *"))
    assert ev.error == "secret not set: environment variable DD_TEST_API_KEY is empty or unset"
    check = dd.check()
    assert not check.reachable
    assert check.details[-1].endswith(
        "secret not set: environment variable DD_TEST_API_KEY is empty or unset")


# --- the keys never leak --------------------------------------------------------------------------

def echo(status: int) -> Scripted:
    """A misbehaving backend that echoes both keys in its error message."""
    return Scripted(status, {"errors": [f"bad request from key {API_KEY} / {APP_KEY}"]},
                    {"X-Echo": API_KEY, "Retry-After": "0"})


def test_keys_appear_nowhere(fake: FakeDatadog, secrets: dict[str, Any], caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    fake.reset()
    dd = make(fake, secrets, retry_attempts=2)
    fake.script("logs", echo(400))
    fake.script("metrics", echo(503), echo(503))  # retried once, then reported
    fake.script("monitor", echo(403))
    leaky_line = {"id": "x", "type": "log", "attributes": {
        "timestamp": "2024-05-01T12:10:00.000Z", "status": "error", "message": f"auth with {API_KEY}",
        "attributes": {"header": f"DD-APPLICATION-KEY: {APP_KEY}"}}}
    fake.script("events", Scripted(400, f"plain text echo {APP_KEY}"))
    outputs = [dd.query(req(text)).model_dump_json() for text in
               ["logs: *", f"metrics: {ERRORS_QUERY}", "monitor: 12345", "events: *"]]
    fake.script("logs", Scripted(200, {"data": [leaky_line], "meta": {"status": "done"}}))
    leaked = dd.query(req("logs: *"))
    outputs.append(leaked.model_dump_json())
    fake.denied.add("validate")
    fake.script("validate", echo(403))
    outputs.append(dd.check().model_dump_json())
    fake.reset()
    fake.script("app_keys", echo(403))
    outputs.append(dd.check().model_dump_json())
    dd.close()
    assert "[redacted]" in outputs[0] and "[redacted]" in leaked.rows[0]["message"]
    assert any("response body" in r.getMessage() for r in caplog.records)  # the client did log bodies
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in SECRETS:
        for text in [*outputs, logged]:
            assert secret not in text
            assert json.dumps(secret)[1:-1] not in text
