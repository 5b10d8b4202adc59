"""pagerduty: the real `pagerduty` client against a loopback HTTPS server speaking REST API v2."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pagerduty
import pytest
import yaml
from typer.testing import CliRunner

from connectors import ConnectorConfigError, EvidenceKind, EvidenceStatus, build_connector
from connectors.pagerduty.connector import PagerDutyConnector, parse_query
from tests.connectors._util import T0, iso, req
from tests.fakes.loopback import Reply
from tests.fakes.pagerduty import (
    FakePagerDuty,
    Key,
    alert,
    error,
    incident,
    log_entry,
    ref,
    service,
)
from triage.cli import app

SECRET = "pdkey-S3CRET-9f2c7e1d"  # planted: must never show up in output
USER_KEY = "pdkey-USER-41b7"
STAKEHOLDER_KEY = "pdkey-STAKE-8e0a"
OTHER = service("PSVC999", "search-api")


def _populate(fake: FakePagerDuty) -> None:
    fake.keys = {SECRET: Key(), USER_KEY: Key(kind="user", role="user", read_only=False),
                 STAKEHOLDER_KEY: Key(kind="user", role="read_only_user")}
    main = incident("Q1MAIN0001", 42, "Checkout 5xx above 5%", iso(300), alerts=3)
    big = incident("Q1BIG00002", 43, "Alert storm", iso(600), alerts=130)
    history = [
        incident("Q1OLD00001", 30, "Checkout 5xx above 5%", iso(-86_400 * 3), status="resolved"),
        incident("Q1OLD00002", 31, "Checkout 5xx above 5%", iso(-86_400 * 2), status="resolved"),
        incident("Q1OLD00003", 32, "Payment gateway latency", iso(-86_400), status="resolved"),
        incident("Q1OLD00004", 20, "Checkout 5xx above 5%", iso(-86_400 * 60), status="resolved"),
        incident("Q1OTHER001", 33, "Search down", iso(-3600), svc=OTHER),
    ]
    fake.incidents = {i["id"]: i for i in [main, big, *history]}
    fake.alerts = {
        "Q1MAIN0001": [
            alert(main, 1, iso(290), details={"region": "eu-west-1", "error_rate": 0.071,
                                              "deploy": {"sha": "9f8e7d6", "by": "lee"}}),
            alert(main, 2, iso(295), severity="error"),
            alert(main, 3, iso(299), severity="warning", details="free text, not an object"),
        ],
        "Q1BIG00002": [alert(big, n, iso(600 + n)) for n in range(130)],
    }
    alice = ref("user", "PALICE1", "Alice", "users")
    fake.log_entries = {"Q1MAIN0001": [
        log_entry(main, "trigger", iso(300), "Triggered through the API"),
        log_entry(main, "notify", iso(301), "Notified Alice by SMS", alice),
        log_entry(main, "acknowledge", iso(420), "Acknowledged by Alice", alice),
        log_entry(main, "annotate", iso(480), "Note added", alice, note="rolling back 9f8e7d6"),
        log_entry(main, "resolve", iso(7200), "Resolved by Alice", alice),  # after the window
    ]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePagerDuty]:
    server = FakePagerDuty()
    _populate(server)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def ca_file(fake: FakePagerDuty, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pd-tls") / "ca.pem"
    fake.ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(autouse=True)
def _fresh(fake: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.server.reset()
    monkeypatch.setenv("PD_TEST_KEY", SECRET)


def make(fake: FakePagerDuty, ca_file: Path, **extra: Any) -> PagerDutyConnector:
    raw = {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"}, "base_url": fake.url,
           "ca_bundle": str(ca_file), "timeout_seconds": 2, **extra}
    conn = build_connector("pd", raw, ca_file.parent)
    assert isinstance(conn, PagerDutyConnector)
    return conn


@pytest.fixture
def pd(fake: FakePagerDuty, ca_file: Path) -> Iterator[PagerDutyConnector]:
    conn = make(fake, ca_file)
    yield conn
    conn.close()


def test_incident_is_one_row_with_a_link_and_a_summary(pd: PagerDutyConnector, fake: FakePagerDuty):
    ev = pd.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.OK
    assert ev.kind == EvidenceKind.INCIDENTS
    assert ev.query == "incident: Q1MAIN0001"
    assert ev.link == "https://acme.pagerduty.com/incidents/Q1MAIN0001"
    row = ev.rows[0]
    assert (row["number"], row["status"], row["urgency"], row["priority"]) == (42, "triggered", "high", "P1")
    assert (row["service_id"], row["service"], row["assignees"]) == (
        "PSVC001", "checkout-api", "Grace Hopper")
    assert ev.summary.startswith("#42 triggered high-urgency P1: Checkout 5xx above 5%; service checkout-api")
    assert "3 alerts (3 triggered)" in ev.summary
    sent = fake.server.seen[-1]
    assert (sent.method, sent.path) == ("GET", "/incidents/Q1MAIN0001")
    assert sent.headers["authorization"] == f"Token token={SECRET}"
    assert sent.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def test_alerts_carry_their_custom_details_as_columns(pd: PagerDutyConnector):
    ev = pd.query(req("alerts: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.OK and ev.row_count == 3 and not ev.truncated
    first = ev.rows[0]
    assert first["details.region"] == "eu-west-1"
    assert first["details.error_rate"] == 0.071
    assert json.loads(first["details.deploy"]) == {"by": "lee", "sha": "9f8e7d6"}
    assert first["links"] == "Dashboard: https://grafana.example/d/checkout"
    assert (first["level"], first["timestamp"]) == ("critical", iso(290))
    assert ev.rows[2]["details"] == "free text, not an object"
    assert ev.link == "https://acme.pagerduty.com/incidents/Q1MAIN0001"
    assert "severity: critical ×1, error ×1, warning ×1" in ev.summary
    assert "custom detail fields: deploy, error_rate, pod, region" in ev.summary


def test_alerts_paginate_with_offset_limit_more_and_stop_at_the_cap(pd: PagerDutyConnector,
                                                                      fake: FakePagerDuty):
    ev = pd.query(req("alerts: Q1BIG00002", limit=120))
    assert ev.status == EvidenceStatus.OK
    assert (len(ev.rows), ev.row_count, ev.truncated) == (120, 130, True)
    pages = [(s.query["offset"], s.query["limit"], s.query["total"]) for s in fake.server.seen]
    assert pages == [(["0"], ["100"], ["true"]), (["100"], ["100"], ["true"])]
    assert len({r["id"] for r in ev.rows}) == 120


def test_log_is_the_overview_timeline_inside_the_window(pd: PagerDutyConnector, fake: FakePagerDuty):
    ev = pd.query(req("log: Q1MAIN0001"))
    assert [r["type"] for r in ev.rows] == ["trigger", "acknowledge", "annotate"]
    assert ev.rows[2]["note"] == "rolling back 9f8e7d6"
    assert ev.summary == ("3 timeline entries: 12:05:00 trigger by checkout-api; "
                          "12:07:00 acknowledge by Alice; 12:08:00 annotate by Alice")
    sent = fake.server.seen[-1].query
    assert sent["since"] == [T0.isoformat()] and sent["is_overview"] == ["true"]


def test_history_finds_the_service_incidents_seen_before(pd: PagerDutyConnector, fake: FakePagerDuty):
    ev = pd.query(req("history: PSVC001", start=T0 - timedelta(days=30)))
    assert ev.status == EvidenceStatus.OK
    assert [r["number"] for r in ev.rows] == [43, 42, 32, 31, 30]  # newest first; #20 is too old
    assert ev.summary.startswith("5 incidents of service checkout-api in the window; most frequent "
                                 "titles: 'Checkout 5xx above 5%' ×3 (last 2024-05-01T12:05:00Z)")
    assert ev.link == "https://acme.pagerduty.com/service-directory/PSVC001"
    sent = fake.server.seen[-1].query
    assert sent["service_ids[]"] == ["PSVC001"] and sent["sort_by"] == ["created_at:desc"]


def test_history_of_a_quiet_window_is_no_data(pd: PagerDutyConnector):
    ev = pd.query(req("history: PSVC001", start=T0 - timedelta(days=400), end=T0 - timedelta(days=300)))
    assert ev.status == EvidenceStatus.NO_DATA and ev.rows == []


@pytest.mark.parametrize(("query", "reason"), [
    ("", "cannot read ''"),
    ("Q1MAIN0001", "cannot read 'Q1MAIN0001'"),
    ("incidents: Q1MAIN0001", "cannot read"),
    ("delete: Q1MAIN0001", "cannot read"),
    ("incident: ../users/me", "'../users/me' is not a PagerDuty ID"),
    ("incident: Q1?x=1", "is not a PagerDuty ID"),
    ("alerts: Q1%2F..", "is not a PagerDuty ID"),
    ("history: PSVC001 PSVC999", "cannot read"),
    ("log: Q1MAIN0001\nresolve: Q1", "cannot read"),
])
def test_malformed_queries_are_refused_before_any_request(pd: PagerDutyConnector, fake: FakePagerDuty,
                                                           query: str, reason: str):
    ev = pd.query(req(query))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("refused: ") and reason in ev.error
    assert ev.query == query
    assert fake.server.seen == []


def test_parse_query_accepts_aliases_and_spacing():
    assert parse_query("  log_entries :Q1ABC ") == ("log", "Q1ABC")
    assert parse_query("history:PSVC001") == ("history", "PSVC001")


def test_not_found_carries_pagerduty_message_and_the_query(pd: PagerDutyConnector):
    ev = pd.query(req("incident: Q1NOPE0000"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == ("PagerDuty answered 404 to GET /incidents/Q1NOPE0000 (incident Q1NOPE0000): "
                        "Not Found (code 2100) — no such object, or the key cannot see it")
    assert ev.query == "incident: Q1NOPE0000"


def test_rate_limit_is_retried_after_retry_after(pd: PagerDutyConnector, fake: FakePagerDuty):
    fake.server.queue("/incidents/Q1MAIN0001",
                      error(429, "Rate Limit Exceeded", 2020, **{"Retry-After": "0"}),
                      error(429, "Rate Limit Exceeded", 2020, **{"Retry-After": "0"}))
    ev = pd.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.OK
    assert len(fake.server.seen) == 3


def test_rate_limit_that_persists_is_reported(fake: FakePagerDuty, ca_file: Path):
    conn = make(fake, ca_file, attempts=2)
    fake.server.queue("/incidents/Q1MAIN0001",
                      *[error(429, "Rate Limit Exceeded", 2020, **{"Retry-After": "0"})] * 2)
    ev = conn.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("PagerDuty answered 429 to GET /incidents/Q1MAIN0001")
    assert "Rate Limit Exceeded (code 2020) — rate limited; gave up after 2 attempts" in ev.error
    assert len(fake.server.seen) == 2
    conn.close()


def test_server_error_is_retried_then_succeeds(pd: PagerDutyConnector, fake: FakePagerDuty):
    fake.server.queue("/incidents/Q1MAIN0001/alerts", error(503, "Service Unavailable", 5000))
    ev = pd.query(req("alerts: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.OK and ev.row_count == 3


def test_forbidden_is_not_retried_and_explained(pd: PagerDutyConnector, fake: FakePagerDuty):
    fake.server.queue("/incidents/Q1MAIN0001/log_entries", error(403, "Access Denied", 2010))
    ev = pd.query(req("log: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and "403" in ev.error and "Access Denied (code 2010)" in ev.error
    assert "the key may not read this" in ev.error
    assert len(fake.server.seen) == 1


def test_timeout_is_an_error_naming_the_limit(fake: FakePagerDuty, ca_file: Path):
    conn = make(fake, ca_file, timeout_seconds=0.3, attempts=1)
    fake.server.queue("/incidents/Q1MAIN0001", Reply(200, {"incident": {}}, delay=1.0))
    ev = conn.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == ("PagerDuty did not answer (incident Q1MAIN0001) within the 0.3s timeout, "
                        "1 attempts")
    conn.close()


def test_unreachable_backend_is_an_error(ca_file: Path, monkeypatch: pytest.MonkeyPatch):
    conn = build_connector("pd", {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"},
                                  "base_url": "https://127.0.0.1:9", "attempts": 1}, ca_file.parent)
    ev = conn.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("cannot reach PagerDuty at https://127.0.0.1:9")
    conn.close()


def test_the_certificate_is_really_checked(fake: FakePagerDuty, ca_file: Path):
    conn = build_connector("pd", {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"},
                                  "base_url": fake.url, "attempts": 1}, ca_file.parent)
    ev = conn.query(req("incident: Q1MAIN0001"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and "CERTIFICATE_VERIFY_FAILED" in ev.error
    conn.close()


@pytest.mark.parametrize("url", ["http://api.pagerduty.com", "ftp://x", "api.pagerduty.com"])
def test_base_url_must_be_https(tmp_path: Path, url: str):
    with pytest.raises(ConnectorConfigError, match="base_url must be an https:// URL"):
        build_connector("pd", {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"},
                               "base_url": url}, tmp_path)


def test_missing_key_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PD_TEST_KEY")
    with pytest.raises(ConnectorConfigError, match="environment variable PD_TEST_KEY"):
        build_connector("pd", {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"}}, tmp_path)


def test_the_client_cannot_send_anything_but_get(pd: PagerDutyConnector, fake: FakePagerDuty):
    client: Any = getattr(pd, "_client")  # noqa: B009 (reaching in on purpose)
    with pytest.raises(pagerduty.Error, match="Permitted methods: GET"):
        client.rpost("/incidents", json={"type": "incident"})
    with pytest.raises(pagerduty.Error, match="Permitted methods: GET"):
        client.rput("/incidents/Q1MAIN0001", json={"status": "resolved"})
    with pytest.raises(pagerduty.Error, match="Permitted methods: GET"):
        client.rdelete("/incidents/Q1MAIN0001")
    assert fake.server.seen == []


def test_check_with_an_account_key_cannot_tell(pd: PagerDutyConnector):
    result = pd.check()
    assert result.reachable is True
    assert result.can_write is None
    assert "GET /incidents: read access works" in result.details
    assert "does not reveal whether it is read-only" in result.details[-1]


def test_check_with_a_user_key_warns_it_can_write(fake: FakePagerDuty, ca_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PD_TEST_KEY", USER_KEY)
    result = make(fake, ca_file).check()
    assert (result.reachable, result.can_write) == (True, True)
    assert "user-level key of Ada Lovelace with role user" in result.details[-1]


def test_check_with_a_stakeholder_key_is_read_only(fake: FakePagerDuty, ca_file: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PD_TEST_KEY", STAKEHOLDER_KEY)
    result = make(fake, ca_file).check()
    assert (result.reachable, result.can_write) == (True, False)
    assert "role read_only_user: cannot change anything" in result.details[-1]


def test_check_survives_users_me_failing(pd: PagerDutyConnector, fake: FakePagerDuty):
    fake.server.queue("/users/me", *[error(503, "Service Unavailable", 5000, **{"Retry-After": "0"})] * 4)
    result = pd.check()
    assert (result.reachable, result.can_write) == (True, None)
    assert result.details[-1].startswith("could not ask whose key this is: PagerDuty answered 503")


def test_check_with_a_rejected_key_is_unreachable(fake: FakePagerDuty, ca_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PD_TEST_KEY", "pdkey-WRONG-0000")
    result = make(fake, ca_file).check()
    assert (result.reachable, result.can_write) == (False, None)
    assert "401" in result.details[-1] and "the API key was rejected" in result.details[-1]
    assert "pdkey-WRONG-0000" not in json.dumps(result.model_dump())
    assert "0000" not in result.details[-1]  # not even the library's "*last4" hint


def test_secret_never_leaks_into_evidence_checks_or_logs(fake: FakePagerDuty, ca_file: Path,
                                                         caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    conn = make(fake, ca_file, attempts=2, timeout_seconds=0.3)
    echo = f"bad token: Token token={SECRET}"
    fake.server.queue("/incidents/Q1MAIN0001", error(400, echo, 2001, echo))
    fake.server.queue("/incidents/Q1MAIN0001/alerts", error(500, echo, 5000), error(500, echo, 5000))
    fake.server.queue("/incidents/Q1MAIN0001/log_entries", Reply(200, {}, delay=1), Reply(200, {}, delay=1))
    outputs = [conn.query(req(q)).model_dump_json()
               for q in ("incident: Q1MAIN0001", "alerts: Q1MAIN0001", "log: Q1MAIN0001",
                         "history: ../../x", "incident: Q1NOPE0000")]
    outputs.append(conn.check().model_dump_json())
    conn.close()
    assert all('"status":"error"' in out for out in outputs[:5])
    assert "[redacted]" in outputs[0]
    everything = "\n".join(outputs) + "\n" + caplog.text
    assert SECRET not in everything
    assert SECRET[-6:] not in everything


def test_cli_query_and_connectors_test(fake: FakePagerDuty, ca_file: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch):
    config = {"connectors": {"pd": {"type": "pagerduty", "api_key": {"env": "PD_TEST_KEY"},
                                    "base_url": fake.url, "ca_bundle": str(ca_file)}}}
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "triage.yaml"))
    runner = CliRunner()
    shown = runner.invoke(app, ["query", "pd", "incident: Q1MAIN0001"])
    assert shown.exit_code == 0, shown.output
    assert "ok: #42 triggered high-urgency P1: Checkout 5xx above 5%" in shown.output
    assert "open: https://acme.pagerduty.com/incidents/Q1MAIN0001" in shown.output
    refused = runner.invoke(app, ["query", "pd", "resolve: Q1MAIN0001"])
    assert refused.exit_code == 1
    assert "refused: cannot read 'resolve: Q1MAIN0001' as a PagerDuty query" in refused.output
    checked = runner.invoke(app, ["connectors", "test", "pd"])
    assert checked.exit_code == 0, checked.output
    assert "pd (incidents): ok" in checked.output
    assert "could not determine whether these credentials can write" in checked.output
    assert SECRET not in shown.output + refused.output + checked.output


def test_no_request_but_get_ever_reached_the_server(fake: FakePagerDuty):
    # Runs last in this module: every request of every test above was a GET.
    assert fake.server.methods == {"GET"}
