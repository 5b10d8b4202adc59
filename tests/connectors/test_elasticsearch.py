"""Elasticsearch connector against a real osmem-server (OpenSearch-compatible) with bulk-loaded logs:
time range, filters, count, histogram, top values, field caps, raw DSL, allowlist, links, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors import EvidenceKind, EvidenceStatus
from connectors.elasticsearch.connector import ElasticsearchConnector
from tests.connectors._util import T0, T1, req
from tests.connectors.es_fixtures import AUDIT, CHECKOUT, IN_WINDOW, PAYMENTS, es_connector, osmem_engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Iterator[str]:
    with osmem_engine() as url:
        yield url


@pytest.fixture(scope="module")
def es(engine: str) -> Iterator[ElasticsearchConnector]:
    connector = es_connector(engine, compatibility="opensearch")
    yield connector
    connector.close()


def messages(evidence) -> list[str]:
    return [row["message"] for row in evidence.rows if "message" in row]


def count(es: ElasticsearchConnector, text: str, **kw: Any) -> int:
    evidence = es.query(req(f"count: {text}", **kw))
    assert evidence.status == EvidenceStatus.OK, evidence.error
    return int(evidence.rows[0]["count"])


def test_registered_as_a_logs_connector(es: ElasticsearchConnector):
    from connectors import CONNECTOR_TYPES, Connector

    assert CONNECTOR_TYPES["elasticsearch"] is ElasticsearchConnector
    assert isinstance(es, Connector)
    assert (es.name, es.kind) == ("es-logs", EvidenceKind.LOGS)


# --- time range ---------------------------------------------------------------------------------

def test_time_range_is_half_open_and_always_applied(es: ElasticsearchConnector):
    assert count(es, "service=checkout") == IN_WINDOW["checkout"]
    assert count(es, "service=checkout", start=T0 - timedelta(seconds=1)) == IN_WINDOW["checkout"] + 1
    assert count(es, "service=checkout", end=T1 + timedelta(milliseconds=1)) == IN_WINDOW["checkout"] + 1
    assert count(es, "") == IN_WINDOW["checkout"] + IN_WINDOW["payments"]
    assert count(es, '{"query": {"match_all": {}}}') == IN_WINDOW["checkout"] + IN_WINDOW["payments"]
    assert es.query(req('"just before the window"')).status == EvidenceStatus.NO_DATA
    assert es.query(req('"exactly at the end of the window"')).status == EvidenceStatus.NO_DATA


def test_time_range_applies_to_raw_dsl_search(es: ElasticsearchConnector):
    ev = es.query(req('{"query": {"match_phrase": {"message": "window"}}}',
                      start=T0 - timedelta(hours=1), end=T0))
    assert messages(ev) == ["just before the window"]


# --- search -------------------------------------------------------------------------------------

def test_search_keeps_the_newest_and_a_sample_oldest_first_flattened(es: ElasticsearchConnector):
    request = req('level=error "timeout"', limit=5)
    ev = es.query(request)
    assert ev.status == EvidenceStatus.OK
    assert (ev.connector, ev.kind, ev.query) == ("es-logs", EvidenceKind.LOGS, 'level=error "timeout"')
    assert (ev.start, ev.end) == (request.start, request.end)
    assert ev.row_count == 40
    assert ev.truncated is True
    assert len(ev.rows) == 5
    last = ev.rows[-1]
    assert last["@timestamp"] == "2024-05-01T12:39:30Z"
    assert last["_index"] == CHECKOUT
    assert (last["log.level"], last["service.name"], last["http.status"], last["trace.id"]) == (
        "error", "checkout", 504, "t-039")
    stamps = [row["@timestamp"] for row in ev.rows]
    assert stamps == sorted(stamps)
    assert stamps[-3:] == ["2024-05-01T12:38:30Z", "2024-05-01T12:39:00Z", "2024-05-01T12:39:30Z"]
    assert all(stamp < "2024-05-01T12:38:30Z" for stamp in stamps[:2])  # sampled from older minutes
    assert ev.summary == ("40 hits; levels: error=40; shown top: 5× timeout talking to db after N ms "
                          "(sampled: newest 3 + per-minute stratified sample of 2 from 40 matched, "
                          "random top hits per minute)")
    assert ev.sampling is not None
    assert sum(minute.count for minute in ev.sampling.per_minute) == 40
    assert ev.link is None


def test_search_without_truncation(es: ElasticsearchConnector):
    ev = es.query(req("service=payments"))
    assert ev.row_count == 10
    assert ev.truncated is False
    assert ev.summary == "10 hits; levels: info=10; shown top: 10× charge ok"
    assert ev.sampling is not None and ev.sampling.method == "all 10 matched lines"


def test_a_level_field_mapped_as_text_still_searches_with_counts_without_levels(engine: str):
    es = es_connector(engine, compatibility="opensearch", level_field="message")  # text: no terms
    ev = es.query(req("service.name=payments"))
    assert ev.status == EvidenceStatus.OK, ev.error
    assert ev.sampling is not None
    assert [(m.count, m.by_level) for m in ev.sampling.per_minute[:10]] == [(1, {"?": 1})] * 10
    assert ev.summary == ("10 hits; levels: ?=10; shown top: 10× charge ok; "
                          "per-minute counts without levels: message is not aggregatable")
    es.close()


@pytest.mark.parametrize(("query", "expected"), [
    ("service=checkout", IN_WINDOW["checkout"]),
    ("service=payments", 10),
    ("service=checkout level!=info", 46),
    ("level=error", 40),
    ("level=ERROR", 1),  # keyword fields match exactly, case included
    ("http.status=504", 40),
    ('"connection refused"', 5),
    ('"connection refused" !payments', 0),
    ("connection refused", 5),  # each word as its own phrase, AND-ed
    ("service=checkout !timeout !request level!=warn", 1),
    ('"served in 15 ms"', 1),
    ("trace.id=t-007", 1),
    ("team=core", 0),
])
def test_filters(es: ElasticsearchConnector, query: str, expected: int):
    assert count(es, query) == expected
    search = es.query(req(query))
    assert search.row_count == expected
    assert search.status == (EvidenceStatus.OK if expected else EvidenceStatus.NO_DATA)


# --- count, histogram, top, fields --------------------------------------------------------------

def test_count_evidence(es: ElasticsearchConnector):
    ev = es.query(req("count: level=error"))
    assert (ev.status, ev.rows, ev.row_count, ev.truncated) == (EvidenceStatus.OK, [{"count": 40}], 1, False)
    assert ev.summary == "40 documents match"
    zero = es.query(req("count: level=fatal"))
    assert (zero.status, zero.rows, zero.summary) == (EvidenceStatus.OK, [{"count": 0}], "0 documents match")


def test_histogram_counts_errors_per_minute_with_empty_buckets(es: ElasticsearchConnector):
    ev = es.query(req("histogram: service=checkout level=error"))
    assert ev.status == EvidenceStatus.OK
    assert len(ev.rows) == 60
    assert ev.rows[0] == {"time": "2024-05-01T12:00:00.000Z", "count": 0}
    assert [row["count"] for row in ev.rows] == [0] * 20 + [2] * 20 + [0] * 20
    assert ev.summary == ("40 documents in 60 buckets of 1m; peak 2 at 2024-05-01T12:20:00.000Z; "
                          "first at 2024-05-01T12:20:00.000Z, last at 2024-05-01T12:39:00.000Z")


def test_histogram_with_interval_and_row_limit(es: ElasticsearchConnector):
    ev = es.query(req("histogram: level=error _interval=10m"))
    assert [row["count"] for row in ev.rows] == [0, 0, 20, 20, 0, 0]
    small = es.query(req("histogram: level=error", limit=6))
    assert [row["count"] for row in small.rows] == [0, 0, 20, 20, 0, 0]  # auto interval fits the limit
    refused = es.query(req("histogram: level=error _interval=1m", limit=6))
    assert refused.status == EvidenceStatus.ERROR
    assert refused.error == ("refused: interval 1m would make 60 buckets over this range; "
                             "at most 6 fit (the row limit or the bucket cap)")


def test_histogram_of_nothing_is_no_data(es: ElasticsearchConnector):
    ev = es.query(req("histogram: level=fatal"))
    assert ev.status == EvidenceStatus.NO_DATA


def test_top_messages_and_top_of_another_field(es: ElasticsearchConnector):
    ev = es.query(req("top: service=checkout level!=info"))
    assert ev.rows == [{"value": "timeout talking to db after 5000 ms", "count": 40},
                       {"value": "connection refused by payments", "count": 5},
                       {"value": "Upstream Reset", "count": 1}]
    assert ev.summary == ("46 documents; top message.keyword: 40× timeout talking to db after 5000 ms; "
                          "5× connection refused by payments; 1× Upstream Reset")
    levels = es.query(req("top: _field=log.level service=checkout", limit=2))
    assert levels.rows == [{"value": "info", "count": 60}, {"value": "error", "count": 40}]
    assert levels.summary.endswith("; 6 more in other values")


def test_top_on_a_field_without_values_is_no_data(es: ElasticsearchConnector):
    ev = es.query(req("top: _field=trace.id service=payments"))
    assert ev.status == EvidenceStatus.NO_DATA


def test_fields_lists_types_from_field_caps(es: ElasticsearchConnector):
    ev = es.query(req("fields:"))
    by_name = {row["field"]: row for row in ev.rows}
    assert by_name["log.level"] == {"field": "log.level", "type": "keyword", "searchable": True,
                                    "aggregatable": True}
    assert by_name["message"]["type"] == "text"
    assert by_name["message"]["aggregatable"] is False
    assert by_name["@timestamp"]["type"] == "date"
    assert not any(name.startswith("_") for name in by_name)
    narrowed = es.query(req("fields: log.* http.*"))
    assert [row["field"] for row in narrowed.rows] == ["http.status", "log.level"]
    assert narrowed.summary == "2 fields: http.status (long), log.level (keyword)"


# --- raw DSL ------------------------------------------------------------------------------------

def test_raw_dsl_with_aggregations_gives_bucket_rows_then_hits(es: ElasticsearchConnector):
    ev = es.query(req('{"query": {"term": {"service.name": "checkout"}}, "size": 2,'
                      ' "aggs": {"levels": {"terms": {"field": "log.level"}}}}'))
    assert ev.status == EvidenceStatus.OK
    assert ev.rows[:4] == [
        {"aggregation": "levels", "key": "info", "doc_count": 60},
        {"aggregation": "levels", "key": "error", "doc_count": 40},
        {"aggregation": "levels", "key": "warn", "doc_count": 5},
        {"aggregation": "levels", "key": "ERROR", "doc_count": 1},
    ]
    assert [row["@timestamp"] for row in ev.rows[4:]] == ["2024-05-01T12:59:00Z", "2024-05-01T12:58:00Z"]
    assert "106 hits (showing the newest 2)" in ev.summary
    assert "levels: 4 buckets (largest: info=60, error=40, warn=5)" in ev.summary


def test_raw_dsl_size_is_capped_and_said_so(engine: str):
    es = es_connector(engine, compatibility="opensearch", max_hits=3)
    ev = es.query(req('{"query": {"match_all": {}}, "size": 50}'))
    assert len(ev.rows) == 3
    assert ev.summary.endswith("; size 50 capped at 3")
    es.close()


def test_raw_dsl_sort_and_source(es: ElasticsearchConnector):
    ev = es.query(req('{"query": {"term": {"service.name": "payments"}}, "sort": [{"@timestamp": "asc"}],'
                      ' "_source": ["message"], "size": 2}'))
    assert [row["message"] for row in ev.rows] == ["charge ok", "charge ok"]
    assert set(ev.rows[0]) == {"_index", "_id", "message"}


def test_raw_dsl_top_and_histogram_use_the_caller_query(es: ElasticsearchConnector):
    top = es.query(req('top: {"query": {"term": {"log.level": "warn"}}}'))
    assert top.rows == [{"value": "connection refused by payments", "count": 5}]
    hist = es.query(req('histogram: {"query": {"term": {"service.name": "payments"}}}', limit=12))
    assert [row["count"] for row in hist.rows] == [5, 5] + [0] * 10


@pytest.mark.parametrize("query", [
    '{"query": {"match_all": {}}, "aggs": {"t": {"terms": {"field": "log.level", "size": 100000}}}}',
    '{"query": {"match_all": {}}, "size": -1}',
    '{"query": {"match_all": {}}, "size": "10"}',
    '{"query": {"match_all": {}}, "from": -5}',
])
def test_raw_dsl_bad_sizes_are_refused(es: ElasticsearchConnector, query: str):
    ev = es.query(req(query))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("refused: ")


# --- allowlist ----------------------------------------------------------------------------------

def test_default_target_is_the_allowlist_only(es: ElasticsearchConnector):
    assert es.query(req('"secret audit entry"')).status == EvidenceStatus.NO_DATA
    ev = es.query(req("top: _field=service.name"))
    assert {row["value"] for row in ev.rows} == {"checkout", "payments"}


def test_index_selection_inside_the_allowlist(es: ElasticsearchConnector):
    assert count(es, "_index=logs-payments-*") == 10
    assert count(es, f"_index={PAYMENTS},{CHECKOUT}") == IN_WINDOW["checkout"] + 10
    assert count(es, '{"index": "logs-checkout-*", "query": {"match_all": {}}}') == IN_WINDOW["checkout"]


@pytest.mark.parametrize("query", [
    f"_index={AUDIT}",
    "_index=audit-*",
    "_index=*",
    f'{{"index": "{AUDIT}"}}',
    f'{{"query": {{"terms": {{"message": {{"index": "{AUDIT}", "id": "1", "path": "message"}}}}}}}}',
])
def test_indices_outside_the_allowlist_are_refused(es: ElasticsearchConnector, query: str):
    ev = es.query(req(query))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("refused: index ")
    assert "outside the allowlist (logs-*)" in ev.error


def test_scripts_are_refused_before_reaching_a_server_that_would_run_them(es: ElasticsearchConnector):
    # osmem evaluates script queries; the guard must stop them first.
    ev = es.query(req('{"query": {"script": {"script": {"source": "true"}}}}'))
    assert ev.error == "refused: scripts are not allowed: $.query.script"


# --- links --------------------------------------------------------------------------------------

def test_kibana_link_carries_the_filter_and_range(engine: str):
    es = es_connector(engine, compatibility="opensearch", ui_url="https://kibana.example",
                      ui_data_view="logs-dv")
    ev = es.query(req("level=error"))
    assert ev.link == ("https://kibana.example/app/discover#/?_g=(time:(from:'2024-05-01T12:00:00.000Z',"
                       "to:'2024-05-01T13:00:00.000Z'))&_a=(index:'logs-dv',query:(language:'kuery',"
                       "query:'log.level:%22error%22'))")
    dsl = es.query(req('{"query": {"match_all": {}}}'))
    assert dsl.link is not None and "query:''" in dsl.link
    assert es.query(req("fields:")).link is None
    assert es.query(req("level=")).link is None  # refused: no link
    es.close()


# --- backend errors -----------------------------------------------------------------------------

def test_bad_query_dsl_returns_the_backend_message_and_what_was_sent(es: ElasticsearchConnector):
    ev = es.query(req('{"query": {"no_such_query": {}}}'))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.query == '{"query": {"no_such_query": {}}}'
    assert ev.error is not None
    assert ev.error.startswith("HTTP 400: parsing_exception: unknown query [no_such_query]")
    assert ('[sent: POST /logs-*/_search?timeout=10000ms {"query":{"bool":{"filter":[{"range":'
            '{"@timestamp":{"gte":"2024-05-01T12:00:00Z","lt":"2024-05-01T13:00:00Z",'
            '"format":"strict_date_optional_time"}}},{"no_such_query":{}}]}}') in ev.error


def test_missing_index_is_error_evidence(es: ElasticsearchConnector):
    ev = es.query(req("_index=logs-nope"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith("HTTP 404: index_not_found_exception: no such index [logs-nope]")


def test_aggregating_a_text_field_is_error_evidence(es: ElasticsearchConnector):
    ev = es.query(req("top: _field=message"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and "Text fields are not optimised" in ev.error
