"""datadog: logs, metrics, monitor and events reads through the real `datadog-api-client`, against a
loopback server speaking Datadog's documented shapes (tests/fakes/datadog.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import EvidenceKind, EvidenceStatus
from connectors.base import MAX_CELL_CHARS
from tests.connectors._util import T0, T1, at, req
from tests.connectors.datadog_fixtures import (
    API_KEY,
    APP_KEY,
    COMMIT,
    CPU_QUERY,
    ERRORS_QUERY,
    MONITOR_ID,
    make,
    ms,
    seed,
    write_secrets,
)
from tests.fakes.datadog import FakeDatadog, Scripted
from triage.analysis.runner import analyze
from triage.analysis.signals import AnalysisWindow, CitedEvidence, SignalKind

UI = "https://app.datadoghq.eu"


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
    connector = make(fake, secrets, page_size=5)
    yield connector
    connector.close()


def link_params(link: str | None) -> tuple[str, dict[str, list[str]]]:
    assert link is not None
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


# --- logs -----------------------------------------------------------------------------------------

def test_logs_search_returns_lines_oldest_first_with_the_exact_request(dd, fake: FakeDatadog):
    ev = dd.query(req("logs: service:checkout status:error"))
    assert (ev.status, ev.kind, ev.connector) == (EvidenceStatus.OK, EvidenceKind.LOGS, "dd")
    assert ev.query == "logs: service:checkout status:error"
    assert ev.row_count == 12 and not ev.truncated
    assert [r["timestamp"] for r in ev.rows] == sorted(r["timestamp"] for r in ev.rows)
    assert ev.rows[0] == {
        "timestamp": at(300).isoformat(), "level": "error", "service": "checkout", "host": "i-0a1b2c",
        "message": "connection refused by db-0 after 30ms", "tags": "service:checkout,env:prod",
        "attributes": '{"db":{"pool":"primary","wait_ms":30},"service":"checkout"}',
        "id": ev.rows[0]["id"]}
    assert ev.summary == "12 log lines (error=12); top: 12× connection refused by db-N after Nms"
    first = fake.requests[0]
    assert (first.method, first.path) == ("POST", "/api/v2/logs/events/search")
    assert first.body == {"filter": {"query": "service:checkout status:error", "from": T0.isoformat(),
                                     "to": T1.isoformat(), "indexes": ["*"]},
                          "page": {"limit": 5}, "sort": "-timestamp"}


def test_logs_follow_cursors_until_the_last_page(dd, fake: FakeDatadog):
    ev = dd.query(req("logs: service:checkout"))
    assert ev.row_count == 18 and not ev.truncated
    assert fake.routes() == ["logs"] * 4
    cursors = [r.body["page"].get("cursor") for r in fake.requests]
    assert cursors[0] is None and len(set(cursors[1:])) == 3
    assert ev.summary.startswith("18 log lines (error=12, info=6); top: 12× connection refused")


def test_logs_over_the_limit_keep_the_newest_and_a_per_minute_sample(dd, fake: FakeDatadog):
    ev = dd.query(req("logs: service:checkout", limit=7))
    assert fake.routes()[:2] == ["logs", "logs_aggregate"]
    assert fake.requests[0].body["page"]["limit"] == 4  # the newest half of the limit
    assert ev.row_count == 18 and ev.truncated and len(ev.rows) == 7
    stamps = [r["timestamp"] for r in ev.rows]
    assert stamps == sorted(stamps)
    assert stamps[-1] == at(300 + 60 * 11).isoformat()  # the newest line, last
    assert ev.summary.startswith("18 log lines (error=12, info=6); top: ")
    assert ev.summary.endswith("(sampled: newest 4 + per-minute stratified sample of 3 from 18 matched, "
                               "per-minute searches)")
    assert ev.sampling is not None
    assert sum(minute.count for minute in ev.sampling.per_minute) == 18


def test_logs_at_the_page_cap_sample_the_rest(fake: FakeDatadog, secrets: dict[str, Any]):
    fake.reset()
    dd = make(fake, secrets, page_size=2, max_pages=3)
    ev = dd.query(req("logs: service:checkout"))
    assert fake.routes()[:4] == ["logs", "logs", "logs", "logs_aggregate"]  # newest lines up to the cap
    assert [r.body["page"].get("cursor") is None for r in fake.requests if r.route == "logs"][:4] == [
        True, False, False, True]  # then fresh searches over the older minutes
    # the older minutes are read by one search each (one line per minute here): every line is kept
    assert (ev.row_count, len(ev.rows), ev.truncated) == (18, 18, False)


def test_logs_time_range_and_no_data(dd):
    everything = dd.query(req("logs: *"))
    messages = {r["message"] for r in everything.rows}
    assert "before the window" not in messages and "after the window" not in messages
    empty = dd.query(req("logs: service:nothing-here"))
    assert (empty.status, empty.row_count, empty.summary) == (EvidenceStatus.NO_DATA, 0, "no rows matched")
    assert empty.link is not None


def test_logs_link_opens_the_explorer_on_the_query_and_range(dd):
    base, params = link_params(dd.query(req("logs: service:checkout @db.pool:primary")).link)
    assert base == f"{UI}/logs"
    assert params == {"query": ["service:checkout @db.pool:primary"], "from_ts": [str(ms(T0))],
                      "to_ts": [str(ms(T1))], "live": ["false"]}


def test_huge_message_is_clipped(dd):
    ev = dd.query(req("logs: service:bulky"))
    assert len(ev.rows[0]["message"]) < MAX_CELL_CHARS + 50
    assert "chars cut" in ev.rows[0]["message"]


def test_empty_logs_query_means_everything(dd, fake: FakeDatadog):
    dd.query(req("logs:"))
    assert fake.requests[0].body["filter"]["query"] == "*"


WARNING = {"code": "unknown_index", "detail": "indexes: foo", "title": "One or several indexes are missing"}


def test_datadog_warnings_and_partial_results_reach_the_summary(dd, fake: FakeDatadog):
    fake.script("logs", Scripted(200, {"data": [], "meta": {"status": "timeout", "warnings": [WARNING]}}))
    assert dd.query(req("logs: service:checkout")).summary == "no rows matched"
    fake.script("logs", Scripted(200, {"data": [fake.logs[1]],
                                       "meta": {"status": "timeout", "warnings": [WARNING]}}))
    ev = dd.query(req("logs: service:checkout"))
    assert ev.summary.endswith("; Datadog warning: One or several indexes are missing: indexes: foo; "
                               "Datadog timed out the search: results are partial")


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_query_returns_points_per_series(dd, fake: FakeDatadog):
    ev = dd.query(req(f"metrics: {ERRORS_QUERY}"))
    assert (ev.status, ev.kind) == (EvidenceStatus.OK, EvidenceKind.METRICS)
    assert ev.row_count == 60  # 61 points, one null gap skipped
    assert ev.rows[0] == {"timestamp": T0.isoformat(), "metric": "trace.http.request.errors",
                          "scope": "service:checkout", "value": 1.0}
    assert ev.summary == (f"1 series, 60 points; {ERRORS_QUERY}: 60 points, first 1, last 40, min 1, "
                          "max 40, mean 21.1")
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("GET", "/api/v1/query")
    assert sent.query == {"from": [str(int(T0.timestamp()))], "to": [str(int(T1.timestamp()))],
                          "query": [ERRORS_QUERY]}


def test_metrics_range_is_rounded_outwards_to_whole_seconds(dd, fake: FakeDatadog):
    dd.query(req(f"metrics: {ERRORS_QUERY}", start=T0 + timedelta(milliseconds=700),
                 end=T1 + timedelta(milliseconds=200)))
    assert fake.requests[0].query["from"] == [str(int(T0.timestamp()))]
    assert fake.requests[0].query["to"] == [str(int(T1.timestamp()) + 1)]


def test_metrics_grouped_query_keeps_series_apart(dd):
    ev = dd.query(req(f"metrics: {CPU_QUERY}"))
    assert {r["scope"] for r in ev.rows} == {"env:prod,host:a", "env:prod,host:b"}
    assert ev.summary.startswith("2 series, 122 points; avg:system.cpu.user{env:prod,host:a}: 61 points")
    base, params = link_params(ev.link)
    assert base == f"{UI}/metric/explorer"
    assert params == {"exp_metric": ["system.cpu.user"], "exp_scope": ["env:prod"], "exp_agg": ["avg"],
                      "exp_group": ["host"], "exp_row_type": ["metric"], "from_ts": [str(ms(T0))],
                      "to_ts": [str(ms(T1))], "live": ["false"]}


def test_metrics_unknown_series_is_no_data(dd):
    ev = dd.query(req("metrics: avg:nothing.here{*}"))
    assert ev.status == EvidenceStatus.NO_DATA


def test_metrics_status_error_in_a_200_is_an_error(dd, fake: FakeDatadog):
    fake.script("metrics", Scripted(200, {"status": "error", "error": "Rule 'scope_expr' didn't match",
                                          "series": [], "res_type": "time_series"}))
    ev = dd.query(req(f"metrics: {ERRORS_QUERY}"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == "Datadog metrics query failed: Rule 'scope_expr' didn't match"


def test_empty_metrics_query_is_refused_without_a_call(dd, fake: FakeDatadog):
    ev = dd.query(req("metrics:   "))
    assert ev.status == EvidenceStatus.ERROR and str(ev.error).startswith("refused: empty metrics query")
    assert fake.requests == []


# --- monitor --------------------------------------------------------------------------------------

def test_monitor_gives_its_query_state_and_groups(dd, fake: FakeDatadog):
    ev = dd.query(req(f"monitor: {MONITOR_ID}"))
    assert ev.status == EvidenceStatus.OK
    head, alerting, ok = ev.rows
    assert head["row"] == "monitor" and head["state"] == "Alert" and head["type"] == "query alert"
    assert head["query"] == f"sum(last_5m):{ERRORS_QUERY} > 50"
    assert head["message"] == "Error rate is high. @pagerduty-checkout"
    assert (alerting["group"], alerting["state"], alerting["last_triggered"]) == (
        "env:prod,service:checkout", "Alert", at(1860).isoformat())
    assert (ok["group"], ok["state"]) == ("env:staging,service:checkout", "OK")
    assert ev.summary == (f"monitor {MONITOR_ID} 'checkout error rate' (query alert) is Alert; "
                          f"query: sum(last_5m):{ERRORS_QUERY} > 50; groups: Alert=1, OK=1; "
                          "not OK: env:prod,service:checkout")
    assert fake.requests[0].path == f"/api/v1/monitor/{MONITOR_ID}"
    assert fake.requests[0].query == {"group_states": ["all"]}
    assert ev.link == (f"{UI}/monitors/{MONITOR_ID}?from_ts={ms(T0)}&to_ts={ms(T1)}&live=false")


def test_monitor_without_groups(dd):
    ev = dd.query(req("monitor: #777"))
    assert [r["row"] for r in ev.rows] == ["monitor"]
    assert ev.summary.startswith("monitor 777 'quiet' (query alert) is OK; query: avg(last_5m)")


def test_missing_monitor_is_an_error_with_datadogs_message(dd):
    ev = dd.query(req("monitor: 999"))
    assert ev.error == "Datadog monitor lookup failed: HTTP 404 Not Found: Monitor not found"


@pytest.mark.parametrize("text", ["monitor: checkout", "monitor: 12; DELETE", "monitor:", "monitor: -5",
                                  "monitor: ²", "monitor: 1 2", "monitor: 99999999999999999999"])
def test_non_numeric_monitor_is_refused_without_a_call(dd, fake: FakeDatadog, text: str):
    ev = dd.query(req(text))
    assert ev.status == EvidenceStatus.ERROR
    assert str(ev.error).startswith("refused: `monitor:` takes a numeric")
    assert fake.requests == []


# --- events ---------------------------------------------------------------------------------------

def test_events_come_back_as_deploy_records(dd, fake: FakeDatadog):
    ev = dd.query(req("events: tags:deploy service:checkout"))
    assert (ev.status, ev.kind, ev.row_count) == (EvidenceStatus.OK, EvidenceKind.DEPLOYS, 2)
    first, second = ev.rows
    assert (first["deployed_at"], first["service"], first["commit"], first["version"]) == (
        at(1200).isoformat(), "checkout", COMMIT, "1.4.2")
    assert (second["title"], second["commit"], second["version"]) == ("Deployed checkout 1.4.3", "", "1.4.3")
    assert ev.summary == ("2 events; latest: 2024-05-01T12:50:00+00:00 Deployed checkout 1.4.3 (checkout "
                          "1.4.3); 2024-05-01T12:20:00+00:00 Deployed checkout 1.4.2 (checkout abc123def4)")
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("GET", "/api/v2/events")
    assert sent.query == {"filter[query]": ["tags:deploy service:checkout"], "filter[from]": [str(ms(T0))],
                          "filter[to]": [str(ms(T1))], "sort": ["-timestamp"], "page[limit]": ["5"]}
    base, params = link_params(ev.link)
    assert (base, params["query"]) == (f"{UI}/event/explorer", ["tags:deploy service:checkout"])


def test_events_paginate(fake: FakeDatadog, secrets: dict[str, Any]):
    fake.reset()
    dd = make(fake, secrets, page_size=1)
    ev = dd.query(req("events: *"))
    assert ev.row_count == 4 and fake.routes() == ["events"] * 4
    assert fake.requests[1].query["page[cursor]"] != fake.requests[2].query["page[cursor]"]


# --- routing by kind, and the analyzers downstream ------------------------------------------------

@pytest.mark.parametrize(("kind", "text", "route", "evidence_kind"), [
    ("logs", "service:checkout", "logs", EvidenceKind.LOGS),
    ("metrics", ERRORS_QUERY, "metrics", EvidenceKind.METRICS),
    ("deploys", "tags:deploy", "events", EvidenceKind.DEPLOYS),
    ("deploys", f"monitor: {MONITOR_ID}", "monitor", EvidenceKind.LOGS),
    ("metrics", "LOGS: service:checkout", "logs", EvidenceKind.LOGS),
])
def test_unprefixed_queries_go_to_the_connectors_kind(fake: FakeDatadog, secrets: dict[str, Any],
                                                      kind: str, text: str, route: str,
                                                      evidence_kind: EvidenceKind):
    fake.reset()
    dd = make(fake, secrets, kind=kind)
    assert dd.kind == EvidenceKind(kind)
    ev = dd.query(req(text))
    assert ev.status == EvidenceStatus.OK, ev.error
    assert fake.routes()[0] == route and ev.kind == evidence_kind


def test_analyzers_read_datadog_evidence(dd):
    window = AnalysisWindow(start=T0, onset=at(1800), end=T1)
    cited = [CitedEvidence(step_id=f"s{i}", evidence=dd.query(req(q))) for i, q in enumerate([
        f"metrics: {ERRORS_QUERY}", "events: tags:deploy service:checkout", f"monitor: {MONITOR_ID}",
        "logs: service:checkout"])]
    signals = analyze(cited, window)
    kinds = {s.kind for s in signals}
    assert SignalKind.METRIC_SHIFT in kinds and SignalKind.RECENT_DEPLOY in kinds
    # The fake's error lines trickle from 12:05; the error metric jumps at 12:30. The trickle is
    # more than 20 minutes before the jump, so it does not date the incident: the onset is
    # 12:30, and the 12:20 deploy precedes it.
    deploy = next(s for s in signals if s.kind == SignalKind.RECENT_DEPLOY)
    assert "checkout" in deploy.title and COMMIT[:12] in deploy.title
    assert deploy.detail["minutes_before_onset"] == 10


def test_only_read_endpoints_are_ever_called(fake: FakeDatadog, secrets: dict[str, Any]):
    fake.reset()
    dd = make(fake, secrets, page_size=3)
    for text in ["logs: *", f"metrics: {CPU_QUERY}", f"monitor: {MONITOR_ID}", "events: *", "monitor: 1"]:
        dd.query(req(text))
    dd.check()
    reads = {("POST", "logs"), ("GET", "metrics"), ("GET", "monitor"), ("GET", "monitors"),
             ("GET", "events"), ("GET", "validate"), ("GET", "app_keys")}
    assert {(r.method, r.route) for r in fake.requests} == reads
    assert all(r.headers.get("DD-API-KEY") == API_KEY for r in fake.requests)


def test_unconfigured_site_links_use_the_site_ui(fake: FakeDatadog, secrets: dict[str, Any]):
    dd = make(fake, secrets, site="us5.datadoghq.com")
    assert str(dd.query(req("logs: x")).link).startswith("https://us5.datadoghq.com/logs?")
    custom = make(fake, secrets, app_url="https://acme.datadoghq.com")
    assert str(custom.query(req("logs: x")).link).startswith("https://acme.datadoghq.com/logs?")


def test_connector_survives_close_and_reuse(fake: FakeDatadog, secrets: dict[str, Any], tmp_path: Path):
    dd = make(fake, secrets)
    assert dd.query(req("logs: *")).status == EvidenceStatus.OK
    dd.close()
    dd.close()
    assert dd.query(req("logs: *")).status == EvidenceStatus.OK
    dd.close()
