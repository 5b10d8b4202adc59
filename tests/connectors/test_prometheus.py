"""prometheus: every query form against a real Prometheus scraping an exporter the test drives."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from connectors import EvidenceStatus, QueryRequest, build_connector
from connectors.files_metrics import group_series
from connectors.prometheus.connector import NO_WRITE_DETAIL, PrometheusConnector
from tests.connectors.prometheus_fixtures import (
    PASSWORD,
    USER,
    Exporter,
    exporter,
    prometheus_server,
)
from tests.waiting import wait_for
from triage.analysis.metrics import metric_shifts
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.cli import app

STEP = 0.25  # the scrape interval: one point per scrape


@dataclass(frozen=True)
class Live:
    """The running server and the moments the test changed the exporter."""

    url: str
    exporter: Exporter
    first: datetime   # first scraped sample
    change: datetime  # the first sample of shard a's queue depth at 50 (5 before)
    end: datetime     # shard a has been at 50 a while and the alert fires


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(when: datetime) -> datetime:
    return datetime.fromtimestamp(round(when.timestamp(), 3), tz=UTC)


def _raw(url: str, query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, auth=(USER, PASSWORD))
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with exporter() as exp, prometheus_server(exp.port) as url:
        # Prometheus hands static targets to the scraper only after ~5 s (its discovery
        # manager's fixed update period), so the first sample is the slow part of this module.
        wait_for(lambda: _raw(url, 'up{job="exporter"} == 1'), what="the first scrape")
        first = _now()
        wait_for(lambda: _raw(url, 'count_over_time(triage_queue_depth{shard="a"}[10s]) >= 5'),
                 what="five baseline scrapes")
        exp.depth.labels("checkout", "a").set(50)
        exp.requests.labels("checkout", "500").inc(3)
        wait_for(lambda: _raw(url, 'ALERTS{alertname="TriageQueueDeep",alertstate="firing"}'),
                 what="the alert to fire")
        wait_for(lambda: _raw(url, 'count_over_time((triage_queue_depth{shard="a"} == 50)[10s:250ms])'
                                   ' >= 5'), what="five incident scrapes")
        # The change is the timestamp of the first sample that saw 50. (A scrape is stamped when
        # it starts, so a clock reading taken just before `set(50)` could follow a 50 sample.)
        (stored,) = _raw(url, 'triage_queue_depth{shard="a"}[30s]')
        change = next(float(t) for t, v in stored["values"] if v == "50")
        yield Live(url, exp, first, datetime.fromtimestamp(change, tz=UTC), _now())


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "prom_password"
    path.write_text(PASSWORD + "\n")
    return path


def make(url: str, secret: Path | None, name: str = "prom", **extra: Any) -> PrometheusConnector:
    raw: dict[str, Any] = {"type": "prometheus", "url": url, "default_step_seconds": STEP, **extra}
    if secret is not None:
        raw["basic_auth"] = {"username": USER, "password": {"file": str(secret)}}
    conn = build_connector(name, raw, Path("."))
    assert isinstance(conn, PrometheusConnector)
    return conn


@pytest.fixture(scope="module")
def prom(live: Live, secret_file: Path) -> Iterator[PrometheusConnector]:
    conn = make(live.url, secret_file)
    yield conn
    conn.close()


def ask(conn: PrometheusConnector, query: str, start: datetime, end: datetime,
        limit: int = 500) -> Any:
    return conn.query(QueryRequest(query=query, start=start, end=end, limit=limit))


# --- range queries: points in the analyzer's shape -------------------------------------------


def test_range_query_is_the_default_and_rows_are_points(prom, live: Live):
    query = 'triage_queue_depth{service="checkout"}'
    ev = ask(prom, query, live.first, live.end)
    assert ev.status == EvidenceStatus.OK
    assert (ev.connector, ev.kind.value, ev.query) == ("prom", "metrics", query)
    series = group_series(ev.rows)
    assert len(series) == 2
    first = ev.rows[0]
    assert set(first) == {"timestamp", "metric", "value", "instance", "job", "service", "shard"}
    assert (first["metric"], first["service"], first["job"]) == ("triage_queue_depth", "checkout",
                                                                  "exporter")
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    by_shard = {pts[0]["shard"]: [p["value"] for p in pts] for pts in series.values()}
    assert set(by_shard["b"]) == {7.0}
    assert by_shard["a"][0] == 5.0 and by_shard["a"][-1] == 50.0
    assert set(by_shard["a"]) == {5.0, 50.0}
    stamps = [p["timestamp"] for p in next(iter(series.values()))]
    assert stamps == sorted(stamps)
    assert ev.summary.startswith(f"range query {query}, step 0.25s: 2 series, {len(ev.rows)} points; "
                                 'triage_queue_depth{instance="')
    assert "first 5, last 50, min 5, max 50" in ev.summary


def test_points_per_series_follow_the_step(prom, live: Live):
    start = live.first + timedelta(seconds=0.5)
    ev = ask(prom, 'triage_queue_depth{shard="b"}', start, start + timedelta(seconds=2))
    assert ev.row_count == 9  # floor(2 / 0.25) + 1 evaluation points
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in ev.rows]
    assert stamps[0] == _ms(start)  # the API speaks milliseconds
    assert {(b - a).total_seconds() for a, b in pairwise(stamps)} == {0.25}


def test_step_grows_to_keep_points_under_the_cap(prom, live: Live, secret_file: Path):
    ev = ask(prom, 'triage_queue_depth{shard="b"}', live.first, live.first + timedelta(seconds=3),
             limit=4)
    assert ev.row_count == 4  # step 1s over 3 s: floor(3 / 1) + 1
    assert not ev.truncated
    assert "step 1s" in ev.summary
    assert "g0.step_input=1" in (ev.link or "")
    capped = make(live.url, secret_file, max_points=3)
    few = ask(capped, 'triage_queue_depth{shard="b"}', live.first, live.first + timedelta(seconds=3))
    assert few.row_count == 2  # step 2s (ceil(3 / 2)): floor(3 / 2) + 1
    assert "step 2s" in few.summary


def test_explicit_step_is_honoured_and_raised_only_for_the_cap(prom, live: Live):
    start = live.first
    ev = ask(prom, 'range step=1s: triage_queue_depth{shard="b"}', start, start + timedelta(seconds=3))
    assert ev.row_count == 4
    raised = ask(prom, 'range step=250ms: triage_queue_depth{shard="b"}', start,
                 start + timedelta(seconds=3), limit=4)
    assert raised.row_count == 4
    assert "step raised from 0.25s to keep at most 4 points per series" in raised.summary


def test_more_rows_than_the_limit_are_truncated_and_counted(prom, live: Live):
    ev = ask(prom, "range step=250ms: triage_queue_depth", live.first, live.first + timedelta(seconds=2),
             limit=12)
    assert (len(ev.rows), ev.truncated) == (12, True)
    assert ev.row_count > 12


def test_metric_analyzer_finds_the_shift_in_connector_rows(prom, live: Live):
    ev = ask(prom, 'triage_queue_depth{service="checkout"}', live.first, live.end)
    window = AnalysisWindow(live.first, live.change, live.end)
    signals = metric_shifts(CitedEvidence("step-1", ev), window)
    assert [s.detail["series"] for s in signals] == [
        f'triage_queue_depth{{instance="127.0.0.1:{live.exporter.port}",job="exporter",'
        'service="checkout",shard="a"}']
    assert signals[0].title.endswith("rose from 5 to 50 (+900%, 10.0×)")


def test_range_link_opens_the_graph_over_the_window(prom, live: Live):
    end = live.end
    ev = ask(prom, "up", end - timedelta(minutes=90), end)
    moment = end.strftime("%Y-%m-%d+%H%%3A%M%%3A%S")
    assert ev.link == (f"{live.url}/graph?g0.expr=up&g0.tab=0&g0.range_input=90m"
                       f"&g0.end_input={moment}&g0.step_input=22")
    page = httpx.get(ev.link, auth=(USER, PASSWORD), follow_redirects=True)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_ui_url_replaces_the_api_url_in_links(live: Live, secret_file: Path):
    conn = make(live.url, secret_file, ui_url="https://prometheus.example.com/")
    ev = ask(conn, "instant: up", live.first, live.end)
    assert (ev.link or "").startswith("https://prometheus.example.com/graph?g0.expr=up&g0.tab=1&")


# --- instant queries, special values -----------------------------------------------------------


def test_instant_query_is_evaluated_at_the_window_end(prom, live: Live):
    just_before = live.change - timedelta(milliseconds=1)
    before = ask(prom, "instant: triage_queue_depth", live.first, just_before)
    after = ask(prom, "instant: triage_queue_depth", live.first, live.end)
    assert {r["shard"]: r["value"] for r in before.rows} == {"a": 5.0, "b": 7.0}
    assert {r["shard"]: r["value"] for r in after.rows} == {"a": 50.0, "b": 7.0}
    assert {r["timestamp"] for r in after.rows} == {_ms(live.end).isoformat()}
    assert after.summary.startswith(f"instant query triage_queue_depth at {live.end.isoformat()}: "
                                    "2 series, 2 points")
    assert "g0.tab=1&g0.moment_input=" in (after.link or "")


def test_counter_aggregation(prom, live: Live):
    ev = ask(prom, "instant: sum by (code) (triage_requests_total)", live.first, live.end)
    assert {r["code"]: r["value"] for r in ev.rows} == {"200": 10.0, "500": 3.0}
    assert {r["metric"] for r in ev.rows} == {""}


@pytest.mark.parametrize(("query", "value"), [
    ("instant: vector(0) / 0", "NaN"),
    ("instant: vector(1) / 0", "+Inf"),
    ("instant: vector(-1) / 0", "-Inf"),
    ("instant: scalar(vector(4))", 4.0),
    ('instant: "text"', "text"),
])
def test_special_values_survive_json(prom, live: Live, query: str, value: Any):
    ev = ask(prom, query, live.first, live.end)
    assert ev.rows[0]["value"] == value
    assert json.loads(ev.model_dump_json())["rows"][0]["value"] == value


def test_labels_that_clash_with_point_columns_are_renamed(prom, live: Live):
    ev = ask(prom, 'instant: label_replace(vector(1), "value", "x", "", "")', live.first, live.end)
    assert ev.rows[0]["exported_value"] == "x" and ev.rows[0]["value"] == 1.0


def test_no_matching_series_is_no_data(prom, live: Live):
    ev = ask(prom, "triage_no_such_metric", live.first, live.end)
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.row_count == 0


# --- errors from the server ---------------------------------------------------------------------


def test_bad_promql_is_error_evidence_with_prometheus_message(prom, live: Live):
    ev = ask(prom, "sum(rate(triage_requests_total[1m])", live.first, live.end)
    assert ev.status == EvidenceStatus.ERROR
    assert ev.query == "sum(rate(triage_requests_total[1m])"
    assert ev.error == ("prometheus rejected the request (HTTP 400 Bad Request, bad_data): "
                        "1:36: parse error: unclosed left parenthesis")


def test_evaluation_error_is_error_evidence(prom, live: Live):
    ev = ask(prom, 'instant: label_replace(triage_queue_depth, "shard", "x", "", "")', live.first,
             live.end)
    assert ev.error == ("prometheus rejected the request (HTTP 422 Unprocessable Entity, execution): "
                        "vector cannot contain metrics with the same labelset")


# --- series, labels, rules, alerts ------------------------------------------------------------


def test_series_lists_label_sets(prom, live: Live):
    ev = ask(prom, 'series: {__name__=~"triage_.*"}', live.first, live.end)
    assert {(r["metric"], r.get("shard"), r.get("code")) for r in ev.rows} == {
        ("triage_queue_depth", "a", None), ("triage_queue_depth", "b", None),
        ("triage_requests_total", None, "200"), ("triage_requests_total", None, "500"),
        ("triage_requests_created", None, "200"), ("triage_requests_created", None, "500")}
    assert ev.summary.startswith('series {__name__=~"triage_.*"}: 6 in the window; triage_')


def test_labels_and_label_values(prom, live: Live):
    names = ask(prom, "labels:", live.first, live.end)
    assert {"__name__", "shard", "code", "service", "alertname"} <= {r["label"] for r in names.rows}
    scoped = ask(prom, "labels: triage_requests_total", live.first, live.end)
    assert [r["label"] for r in scoped.rows] == ["__name__", "code", "instance", "job", "service"]
    values = ask(prom, "label_values: shard", live.first, live.end)
    assert values.rows == [{"label": "shard", "label_value": "a"}, {"label": "shard", "label_value": "b"}]
    assert values.summary == "values of shard: 2; a, b"
    codes = ask(prom, 'label_values: code triage_requests_total{service="checkout"}', live.first,
                live.end)
    assert [r["label_value"] for r in codes.rows] == ["200", "500"]


def test_rules_with_their_state_and_health(prom, live: Live):
    ev = ask(prom, "rules:", live.first, live.end)
    states = {r["name"]: (r["type"], r["state"], r["health"]) for r in ev.rows}
    assert states == {
        "TriageQueueDeep": ("alerting", "firing", "ok"),
        "TriageNeverFires": ("alerting", "inactive", "ok"),
        "TriageBroken": ("alerting", "inactive", "err"),
        "service:triage_requests:rate10s": ("recording", "", "ok"),
    }
    assert ev.link == f"{live.url}/rules"
    assert ev.summary == ("4 rules (current state): 3 alerting, 1 recording; firing: TriageQueueDeep; "
                          "unhealthy: TriageBroken (err: vector cannot contain metrics with the same "
                          "labelset)")
    firing = ask(prom, "rules: type=alert state=firing", live.first, live.end)
    assert [(r["name"], r["query"], r["active_alerts"], r["labels"]) for r in firing.rows] == [
        ("TriageQueueDeep", "last_over_time(triage_queue_depth[1m]) > 10", 1,
         {"severity": "page"})]
    slow = ask(prom, "rules: name=TriageNeverFires", live.first, live.end)
    assert slow.rows[0]["for"] == 300


def test_alerts_with_labels_and_annotations(prom, live: Live):
    ev = ask(prom, "alerts:", live.first, live.end)
    assert len(ev.rows) == 1
    alert = ev.rows[0]
    assert (alert["alertname"], alert["state"], alert["value"]) == ("TriageQueueDeep", "firing", 50.0)
    assert alert["labels"]["shard"] == "a"
    assert alert["annotations"] == {"summary": "queue a is 50 deep"}
    assert live.change <= datetime.fromisoformat(alert["active_at"]) < live.end
    assert ev.summary.startswith("1 active alerts (current state): 1 firing, 0 pending; "
                                 'TriageQueueDeep{instance="')
    assert ev.link == f"{live.url}/alerts"
    assert ask(prom, "alerts: severity=page state=firing", live.first, live.end).row_count == 1
    none = ask(prom, "alerts: shard=b", live.first, live.end)
    assert none.status == EvidenceStatus.NO_DATA


# --- check(): read access and write capability --------------------------------------------------


def test_check_reads_and_reports_no_write_endpoints(prom):
    result = prom.check()
    assert result.reachable is True
    assert result.can_write is False
    assert result.details[0].endswith("answered; instant queries are readable")
    assert "Prometheus 2." in result.details[0] or "Prometheus 3." in result.details[0]
    assert NO_WRITE_DETAIL in result.details


# --- credentials -------------------------------------------------------------------------------


def _leaks(text: str) -> list[str]:
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [s for s in (PASSWORD, encoded, PASSWORD[:12]) if s in text]


def test_wrong_password_is_reported_without_leaking_it(live: Live, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    wrong = tmp_path / "pw"
    wrong.write_text(PASSWORD[::-1])  # a planted wrong secret
    conn = make(live.url, wrong)
    ev = ask(conn, "up", live.first, live.end)
    result = conn.check()
    assert ev.error == (f"prometheus at {live.url}/api/v1/query_range answered an error "
                        f"(HTTP 401 Unauthorized): Unauthorized — check the credentials (basic auth "
                        f"as 'triage', password from file {wrong})")
    assert (result.reachable, result.can_write) == (False, None)
    everything = ev.model_dump_json() + result.model_dump_json() + caplog.text
    assert PASSWORD[::-1] not in everything
    assert _leaks(everything) == []


def test_secret_never_appears_in_evidence_checks_or_logs(prom, live: Live,
                                                         caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch):
    for name in ("httpx", "httpcore"):  # whatever logging setup ran before, log every request
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    outputs = [ask(prom, q, live.first, live.end).model_dump_json() for q in (
        "up", "instant: up", "foo(", "range step=x: up", "series: up", "labels:", "rules:", "alerts:",
        'instant: label_replace(triage_queue_depth, "shard", "x", "", "")')]
    outputs.append(prom.check().model_dump_json())
    assert caplog.records  # httpx logged the requests: they are part of what is checked
    assert _leaks("\n".join(outputs) + caplog.text) == []


# --- the CLI, through triage.yaml --------------------------------------------------------------


@pytest.fixture
def cli_config(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    monkeypatch.delenv("TRIAGE_CONFIG", raising=False)
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    config = {"connectors": {"prom": {
        "type": "prometheus", "url": live.url,
        "basic_auth": {"username": USER, "password": {"env": "PROM_PASSWORD"}}}}}
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_cli_connectors_test_and_query(cli_config: Path):
    runner = CliRunner()
    checked = runner.invoke(app, ["connectors", "test", "prom"])
    assert checked.exit_code == 0, checked.output
    assert "prom (metrics): ok" in checked.output
    assert NO_WRITE_DETAIL in checked.output
    assert "CAN WRITE" not in checked.output
    queried = runner.invoke(app, ["query", "prom", "instant: triage_queue_depth", "--json"])
    assert queried.exit_code == 0, queried.output
    evidence = json.loads(queried.output)
    assert {r["shard"]: r["value"] for r in evidence["rows"]} == {"a": 50.0, "b": 7.0}
    refused = runner.invoke(app, ["query", "prom", "range step=soon: up"])
    assert refused.exit_code == 1
    assert "refused: bad duration 'soon' (expected e.g. 30s, 5m, 1h30m)" in refused.output
    assert _leaks(checked.output + queried.output + refused.output) == []
