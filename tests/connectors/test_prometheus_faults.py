"""prometheus: what a healthy server will not do on demand — 429 / 503 and retries, slow answers,
bearer auth, echoed credentials, oversized or foreign answers, TLS — against a loopback fake that
speaks the API's documented envelope; and the settings' validation."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from connectors import ConnectorConfigError, EvidenceStatus, build_connector
from connectors.prometheus.connector import PrometheusConnector
from tests.connectors._util import T0, T1, req
from tests.connectors.prometheus_fixtures import Answer, FakePrometheus, failure, free_port, success

TOKEN = "prom-token-Wq3Planted-9xK"  # planted: must never appear in Evidence, checks or logs
VECTOR = {"resultType": "vector", "result": [
    {"metric": {"__name__": "up", "job": "api"}, "value": [1714564800, "1"]}]}
MATRIX = {"resultType": "matrix", "result": [
    {"metric": {"__name__": "up", "job": "api"}, "values": [[1714564800, "1"], [1714564815, "0"]]}]}
FLAGS = {"web.enable-admin-api": "false", "web.enable-lifecycle": "false",
         "web.enable-remote-write-receiver": "false", "enable-feature": ""}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh(fake: FakePrometheus, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.reset()
    monkeypatch.setenv("PROM_TOKEN", TOKEN)


def make(url: str, **extra: Any) -> PrometheusConnector:
    raw = {"type": "prometheus", "url": url, "bearer_token": {"env": "PROM_TOKEN"},
           "max_attempts": 3, **extra}
    conn = build_connector("prom", raw, Path("."))
    assert isinstance(conn, PrometheusConnector)
    return conn


def test_bearer_token_is_sent_and_only_get_is_used(fake: FakePrometheus):
    fake.on("/api/v1/query_range", success(MATRIX))
    ev = make(fake.url).query(req("up"))
    assert ev.status == EvidenceStatus.OK
    assert [r["value"] for r in ev.rows] == [1.0, 0.0]
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("GET", "/api/v1/query_range")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.params == {"query": ["up"], "start": [f"{T0.timestamp():.3f}"],
                           "end": [f"{T1.timestamp():.3f}"], "step": ["15"], "timeout": ["27s"]}


def test_path_prefix_of_the_url_is_kept(fake: FakePrometheus):
    fake.on("/prom/api/v1/query", success(VECTOR))
    ev = make(f"{fake.url}/prom/").query(req("instant: up"))
    assert ev.status == EvidenceStatus.OK
    assert [s.path for s in fake.seen] == ["/prom/api/v1/query"]
    assert (ev.link or "").startswith(f"{fake.url}/prom/graph?g0.expr=up&g0.tab=1&")


def test_429_is_retried_honouring_retry_after(fake: FakePrometheus):
    fake.on("/api/v1/query", failure(429, "too_many_requests", "slow down", **{"Retry-After": "0"}),
            Answer(429, "rate limited", {"Retry-After": "0"}), success(VECTOR))
    ev = make(fake.url).query(req("instant: up"))
    assert ev.status == EvidenceStatus.OK
    assert len(fake.seen) == 3


def test_429_after_every_attempt_is_error_evidence(fake: FakePrometheus):
    fake.on("/api/v1/query", failure(429, "too_many_requests", "tenant over limit",
                                     **{"Retry-After": "0"}))
    ev = make(fake.url).query(req("instant: up"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.query == "instant: up"
    assert ev.error == ("prometheus rejected the request (HTTP 429 Too Many Requests, "
                        "too_many_requests): tenant over limit (gave up after 3 attempts)")
    assert len(fake.seen) == 3


def test_503_is_transient(fake: FakePrometheus):
    fake.on("/api/v1/query_range", failure(503, "unavailable", "query queue full"), success(MATRIX))
    assert make(fake.url).query(req("up")).status == EvidenceStatus.OK
    assert len(fake.seen) == 2


@pytest.mark.parametrize(("answer", "error"), [
    (failure(400, "bad_data", "1:3: parse error: unexpected <EOF>"),
     "prometheus rejected the request (HTTP 400 Bad Request, bad_data): 1:3: parse error: "
     "unexpected <EOF>"),
    (failure(422, "execution", "query processing would load too many samples into memory"),
     "prometheus rejected the request (HTTP 422 Unprocessable Entity, execution): query processing "
     "would load too many samples into memory"),
    (Answer(403, "forbidden: tenant may not read"),
     "prometheus at {url}/api/v1/query_range answered an error (HTTP 403 Forbidden): forbidden: "
     "tenant may not read — check the credentials (bearer token from environment variable "
     "PROM_TOKEN)"),
    (Answer(200, "<html>Grafana login</html>"),
     "prometheus at {url}/api/v1/query_range is not the Prometheus API (HTTP 200 OK): "
     "<html>Grafana login</html>"),
])
def test_permanent_errors_are_not_retried(fake: FakePrometheus, answer: Answer, error: str):
    fake.on("/api/v1/query_range", answer)
    ev = make(fake.url).query(req("up"))
    assert ev.error == error.format(url=fake.url)
    assert len(fake.seen) == 1


def test_echoed_credentials_are_scrubbed(fake: FakePrometheus, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    fake.on("/api/v1/query_range", Answer(401, f"invalid token: Bearer {TOKEN}"))
    fake.on("/api/v1/status/buildinfo", failure(401, "unauthorized", f"bad token {TOKEN}"))
    conn = make(fake.url)
    ev = conn.query(req("up"))
    check = conn.check()
    assert ev.error is not None and "invalid token: Bearer [redacted]" in ev.error
    assert check.details == ["prometheus rejected the request (HTTP 401 Unauthorized, unauthorized): "
                             "bad token [redacted] — check the credentials (bearer token from "
                             "environment variable PROM_TOKEN)"]
    assert (check.reachable, check.can_write) == (False, None)
    assert TOKEN not in ev.model_dump_json() + check.model_dump_json() + caplog.text


def test_slow_answer_times_out_without_retry(fake: FakePrometheus):
    fake.on("/api/v1/query_range", Answer(200, {"status": "success", "data": MATRIX}, hold=True))
    ev = make(fake.url, timeout_seconds=0.2).query(req("up"))
    assert ev.error == ("prometheus did not answer within the 0.2s timeout (ReadTimeout); narrow the "
                        "query or the time range")
    assert len(fake.seen) == 1


def test_unreachable_server_is_error_evidence():
    ev = make(f"http://127.0.0.1:{free_port()}", max_attempts=2).query(req("up"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith("cannot reach prometheus at http://127.0.0.1:")
    assert ev.error.endswith("(gave up after 2 attempts)")


def test_oversized_answer_is_refused(fake: FakePrometheus):
    big = {"resultType": "vector", "result": [
        {"metric": {"__name__": "x", "i": str(i)}, "value": [1714564800, "1"]} for i in range(1000)]}
    fake.on("/api/v1/query", success(big))
    ev = make(fake.url, max_response_bytes=10_000).query(req("instant: x"))
    assert ev.error == ("prometheus answered more than 10,000 bytes; narrow the selector, aggregate "
                        "(sum by ...), or shorten the time range")


@pytest.mark.parametrize("data", [[], {"resultType": "vector"}, {"resultType": "matrix", "result": [
    {"metric": {}, "values": [["x", "1"]]}]}])
def test_a_success_of_another_shape_is_error_evidence(fake: FakePrometheus, data: Any):
    fake.on("/api/v1/query_range", success(data))
    ev = make(fake.url).query(req("up"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith("prometheus answered a query result this connector cannot read (")


def test_fractional_step_is_shown_as_it_ran(fake: FakePrometheus):
    fake.on("/api/v1/query_range", success(MATRIX))
    ev = make(fake.url).query(req("range step=1.5s: up", T0, T0 + timedelta(seconds=30)))
    assert ev.summary.startswith("range query up, step 1.5s: 1 series, 2 points")
    assert fake.seen[0].params["step"] == ["1.5"]


def test_warnings_and_infos_reach_the_summary(fake: FakePrometheus):
    fake.on("/api/v1/query", success(VECTOR, warnings=["partial response: store b down"],
                                     infos=["metric might not be a counter"]))
    ev = make(fake.url).query(req("instant: up"))
    assert ev.summary.endswith("; prometheus warning: partial response: store b down; "
                               "prometheus info: metric might not be a counter")


@pytest.mark.parametrize(("flags", "can_write", "says"), [
    (FLAGS, False, "admin API, remote-write and OTLP receivers are disabled"),
    ({**FLAGS, "enable-feature": "exemplar-storage,remote-write-receiver"}, True,
     "this server exposes the remote-write receiver (POST /api/v1/write)"),
    ({**FLAGS, "web.enable-otlp-receiver": "true"}, True,
     "this server exposes the OTLP receiver (POST /api/v1/otlp/v1/metrics)"),
    ({**FLAGS, "web.enable-admin-api": "true"}, True, "this server exposes the admin API"),
])
def test_check_reads_write_capability_from_flags(fake: FakePrometheus, flags, can_write, says):
    fake.on("/api/v1/status/buildinfo", success({"version": "3.1.0"}))
    fake.on("/api/v1/query", success(VECTOR))
    fake.on("/api/v1/rules", success({"groups": []}))
    fake.on("/api/v1/alerts", success({"alerts": []}))
    fake.on("/api/v1/status/flags", success(flags))
    result = make(fake.url).check()
    assert (result.reachable, result.can_write) == (True, can_write)
    assert result.details[0] == f"{fake.url}: Prometheus 3.1.0 answered; instant queries are readable"
    assert any(d.startswith(says) for d in result.details), result.details
    assert {s.method for s in fake.seen} == {"GET"}


def test_check_cannot_tell_when_flags_are_hidden(fake: FakePrometheus):
    """Thanos, Mimir or a proxy that hides /status/flags: writes are unknown, not denied."""
    fake.on("/api/v1/status/buildinfo", success({"version": "0.35.0"}))
    fake.on("/api/v1/query", success(VECTOR))
    fake.on("/api/v1/rules", success({"groups": []}))
    fake.on("/api/v1/alerts", failure(403, "forbidden", "not for you"))
    result = make(fake.url).check()
    assert (result.reachable, result.can_write) == (True, None)
    assert result.details[1].startswith("/api/v1/alerts is not readable: prometheus rejected")
    assert result.details[2].startswith("cannot read /api/v1/status/flags, so cannot tell whether the "
                                        f"admin API or a write receiver is enabled: prometheus at "
                                        f"{fake.url}/api/v1/status/flags answered an error (HTTP 404")


@pytest.fixture(scope="module")
def tls_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakePrometheus, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = FakePrometheus(tls=context)
    server.on("/api/v1/query", success(VECTOR))
    yield server, ca_file
    server.close()


def test_tls_with_a_private_ca(tls_fake: tuple[FakePrometheus, Path]):
    server, ca_file = tls_fake
    assert make(server.url, ca_file=str(ca_file)).query(req("instant: up")).status == EvidenceStatus.OK
    untrusted = make(server.url, max_attempts=1).query(req("instant: up"))
    assert untrusted.error is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error


@pytest.mark.parametrize(("raw", "message"), [
    ({"url": "http://admin:hunter22@prom:9090"}, "credentials in the URL are not allowed"),
    ({"url": "http://prom", "bearer_token": {"env": "A"},
      "basic_auth": {"username": "u", "password": {"env": "B"}}}, "give bearer_token or basic_auth"),
    ({"url": "http://prom", "token": "x"}, "token"),
    ({"url": "ftp://prom"}, "url"),
    ({"url": "http://prom", "max_points": 1}, "max_points"),
    ({"url": "http://prom", "bearer_token": "hunter22"}, "bearer_token"),
    ({"url": "http://prom", "basic_auth": {"username": "u", "password": "hunter22"}},
     "basic_auth.password"),
])
def test_bad_settings_are_config_errors(raw: dict[str, Any], message: str):
    with pytest.raises(ConnectorConfigError) as info:
        build_connector("prom", {"type": "prometheus", **raw}, Path("."))
    assert message in str(info.value)
    assert "hunter22" not in str(info.value)


def test_missing_secret_names_where_it_was_looked_for(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PROM_TOKEN")
    with pytest.raises(ConnectorConfigError) as info:
        make("http://127.0.0.1:9")
    assert str(info.value) == "secret not set: environment variable PROM_TOKEN is empty or unset"


def test_relative_ca_file_is_resolved_against_the_config_dir(
        tmp_path: Path, tls_fake: tuple[FakePrometheus, Path]):
    with pytest.raises(ConnectorConfigError) as info:
        build_connector("prom", {"type": "prometheus", "url": "http://p", "ca_file": "ca.pem"}, tmp_path)
    assert str(info.value).startswith(f"cannot load ca_file {tmp_path / 'ca.pem'}: ")
    (tmp_path / "ca.pem").write_bytes(tls_fake[1].read_bytes())
    conn = build_connector("prom", {"type": "prometheus", "url": tls_fake[0].url, "ca_file": "ca.pem"},
                           tmp_path)
    assert conn.settings.ca_file == tmp_path / "ca.pem"  # type: ignore[attr-defined]
    assert conn.query(req("instant: up")).status == EvidenceStatus.OK
