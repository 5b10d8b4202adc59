"""The Elasticsearch query language and guard, without a server: verbs, filters, raw DSL, allowlist."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import QueryRefused
from connectors.elasticsearch.dsl import (
    FieldNames,
    auto_interval,
    bucket_count,
    check_indices,
    index_allowed,
    parse_query,
)
from connectors.elasticsearch.links import discover_link, rison
from tests.connectors._util import T0, T1

NAMES = FieldNames(timestamp="@timestamp", message="message", message_keyword="message.keyword",
                   level="log.level", service="service.name")
ALLOW = ["logs-*", "app-checkout"]


def plan(text: str) -> Any:
    return parse_query(text, NAMES, ALLOW)


def refused(text: str) -> str:
    with pytest.raises(QueryRefused) as info:
        plan(text)
    return str(info.value)


# --- structured filters -------------------------------------------------------------------------

def test_filter_terms_become_phrase_clauses_with_aliases_and_case_kept():
    parsed = plan('service=Checkout level!=debug "Timed out" !healthcheck http.status=504')
    assert parsed.verb == "search"
    assert parsed.indices == ("logs-*", "app-checkout")
    assert parsed.query == {"bool": {
        "filter": [{"match_phrase": {"service.name": "Checkout"}},
                   {"match_phrase": {"message": "Timed out"}},
                   {"match_phrase": {"http.status": "504"}}],
        "must_not": [{"match_phrase": {"log.level": "debug"}},
                     {"match_phrase": {"message": "healthcheck"}}]}}
    assert parsed.kql == ('service.name:"Checkout" and not log.level:"debug" and message:"Timed out" '
                          'and not message:"healthcheck" and http.status:"504"')


def test_empty_filter_matches_everything():
    parsed = plan("")
    assert (parsed.verb, parsed.query, parsed.kql) == ("search", None, "")


@pytest.mark.parametrize(("text", "verb"), [
    ("count: level=error", "count"), ("COUNT:level=error", "count"), ("  histogram :x", "histogram"),
    ("top: x", "top"), ("fields:", "fields"), ("search: x", "search"), ("x count: y", "search"),
])
def test_verbs(text: str, verb: str):
    assert plan(text).verb == verb


def test_reserved_terms():
    assert plan("_index=logs-checkout-* x").indices == ("logs-checkout-*",)
    assert plan("_index=logs-a,app-checkout").indices == ("logs-a", "app-checkout")
    assert plan("histogram: _interval=5m level=error").interval == "5m"
    assert plan("top: level=error").term_field == "message.keyword"
    assert plan("top: _field=service.name").term_field == "service.name"
    assert plan("fields: log.* message").field_patterns == ("log.*", "message")
    assert plan("fields: _index=logs-a").indices == ("logs-a",)


@pytest.mark.parametrize(("text", "message"), [
    ('level=error "timed out', "cannot parse filter 'level=error \"timed out': No closing quotation"),
    ("=x", "filter term '=x' needs a field and a value, like level=error"),
    ("level=", "filter term 'level=' needs a field and a value, like level=error"),
    ("_index!=logs-a", "_index may be given once, with ="),
    ("_index=logs-a _index=logs-b", "_index may be given once, with ="),
    ("_interval=1m", "_interval only applies to histogram:"),
    ("_field=x", "_field only applies to top:"),
    ("histogram: _interval=5x", "bad interval '5x': use a whole number and ms, s, m, h or d, like 1m"),
    ("histogram: _interval=0s", "bad interval '0s': use a whole number and ms, s, m, h or d, like 1m"),
    ("fields: level=error", "fields takes field-name patterns and _index=, not field filters"),
    ('fields: {"query": {}}', "fields takes field-name patterns, not query DSL"),
    ("_index=audit-*", "index 'audit-*' is outside the allowlist (logs-*, app-checkout); "
                       "exclusions, remote clusters and date math are not accepted"),
    ("_index=,", "no index given"),
])
def test_filter_refusals(text: str, message: str):
    assert refused(text) == message


# --- raw DSL ------------------------------------------------------------------------------------

def test_raw_dsl_search_keeps_allowed_keys_and_splits_query_and_index():
    parsed = plan('{"index": "logs-a", "query": {"term": {"x": 1}}, "size": 5, "aggs": {"a": {}}}')
    assert (parsed.verb, parsed.indices, parsed.query, parsed.kql) == (
        "search", ("logs-a",), {"term": {"x": 1}}, None)
    assert parsed.body == {"size": 5, "aggs": {"a": {}}}


def test_raw_dsl_for_count_takes_only_query_and_index():
    assert plan('count: {"query": {"match_all": {}}}').query == {"match_all": {}}
    assert refused('count: {"query": {}, "size": 1}') == (
        "count does not accept size (allowed keys: index, query)")


# At least one way of scripting, reading outside the allowlist, or smuggling an unchecked payload,
# through every key family the guard knows; every one must be refused before anything is sent.
ATTACKS: list[tuple[str, dict[str, Any], str]] = [
    ("script query", {"query": {"script": {"script": {"source": "true"}}}}, "scripts are not allowed"),
    ("script_score", {"query": {"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}}},
     "scripts are not allowed"),
    ("function_score script", {"query": {"function_score": {"functions": [
        {"script_score": {"script": "1"}}]}}}, "scripts are not allowed"),
    ("stored script by id", {"query": {"script": {"script": {"id": "wipe"}}}}, "scripts are not allowed"),
    ("script sort", {"sort": [{"_script": {"type": "number", "script": "1"}}]}, "scripts are not allowed"),
    ("script_fields", {"script_fields": {"x": {"script": "1"}}}, "does not accept script_fields"),
    ("runtime_mappings", {"runtime_mappings": {"x": {"type": "long", "script": "emit(1)"}}},
     "does not accept runtime_mappings"),
    ("scripted_metric agg", {"aggs": {"m": {"scripted_metric": {"map_script": "x"}}}},
     "scripts are not allowed"),
    ("bucket_script agg", {"aggs": {"h": {"terms": {"field": "x"}, "aggs": {
        "b": {"bucket_script": {"buckets_path": {}, "script": "1"}}}}}}, "scripts are not allowed"),
    ("bucket_selector agg", {"aggs": {"h": {"terms": {"field": "x"}, "aggs": {
        "b": {"bucket_selector": {"script": "1"}}}}}}, "scripts are not allowed"),
    ("terms agg script", {"aggs": {"t": {"terms": {"script": {"source": "doc['x']"}}}}},
     "scripts are not allowed"),
    ("intervals script filter", {"query": {"intervals": {"message": {"match": {
        "query": "a", "filter": {"script": {"source": "true"}}}}}}}, "scripts are not allowed"),
    ("SCRIPT in capitals", {"query": {"SCRIPT": {}}}, "scripts are not allowed"),
    ("wrapper (base64 query)", {"query": {"wrapper": {"query": "eyJzY3JpcHQiOnt9fQ=="}}},
     "wrapper queries are not allowed"),
    ("terms lookup in another index", {"query": {"terms": {"user": {
        "index": "audit-2024", "id": "1", "path": "users"}}}}, "index 'audit-2024'"),
    ("more_like_this other index", {"query": {"more_like_this": {"fields": ["m"], "like": [
        {"_index": "audit-2024", "_id": "1"}]}}}, "index 'audit-2024'"),
    ("percolate stored doc", {"query": {"percolate": {"field": "q", "index": ".security-7", "id": "1"}}},
     "index '.security-7'"),
    ("geo_shape indexed shape", {"query": {"geo_shape": {"loc": {"indexed_shape": {
        "index": "shapes", "id": "x"}}}}}, "index 'shapes'"),
    ("pinned docs", {"query": {"pinned": {"docs": [{"_index": "audit", "_id": "1"}],
                                          "organic": {"match_all": {}}}}}, "index 'audit'"),
    ("index list smuggling", {"index": ["logs-a", "audit-*"]}, "index 'audit-*'"),
    ("comma smuggling", {"index": "logs-a,audit-*"}, "index 'audit-*'"),
    ("remote cluster", {"index": "remote:logs-*"}, "index 'remote:logs-*'"),
    ("exclusion", {"index": "logs-*,-logs-a"}, "index '-logs-a'"),
    ("date math", {"index": "<logs-{now/d}>"}, "index '<logs-{now/d}>'"),
    ("_all", {"index": "_all"}, "index '_all'"),
    ("hidden index", {"index": ".kibana"}, "index '.kibana'"),
    ("bare wildcard", {"index": "*"}, "index '*'"),
    ("non-string index", {"index": 7}, "index names at index must be strings"),
    ("pit", {"pit": {"id": "x"}}, "does not accept pit"),
    ("stored_fields", {"stored_fields": ["*"]}, "does not accept stored_fields"),
    ("suggest", {"suggest": {}}, "does not accept suggest"),
    ("query not an object", {"query": "x"}, "`query` must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), [(body, message) for _, body, message in ATTACKS],
                         ids=[name for name, _, _ in ATTACKS])
def test_attack_corpus_is_refused(body: dict[str, Any], message: str):
    assert message in refused(json.dumps(body))


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "query DSL is not valid JSON: Expecting property name enclosed in double quotes"),
    ('{"a": 1', "query DSL is not valid JSON: Expecting ',' delimiter"),
    ('{"query": {}} trailing', "query DSL is not valid JSON: Extra data"),
])
def test_bad_json_is_refused(text: str, message: str):
    assert refused(text).startswith(message)


def test_guard_names_where_the_script_is():
    assert refused('{"query": {"bool": {"should": [{"match_all": {}}, {"script": {}}]}}}') == (
        "scripts are not allowed: $.query.bool.should[1].script")


def test_a_field_named_like_a_keyword_is_fine_in_a_structured_filter():
    assert plan("index=logs-a script=x").query == {"bool": {
        "filter": [{"match_phrase": {"index": "logs-a"}}, {"match_phrase": {"script": "x"}}],
        "must_not": []}}


# --- index allowlist ----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "allowed"), [
    ("logs-a", True), ("logs-*", True), ("logs-checkout-*", True), ("logs-*-prod", True),
    ("logs", False), ("log*", False), ("*", False), ("*-logs-", False), ("app-checkout", True),
    ("app-checkout*", False), ("app-*", False), ("LOGS-A", False), ("logs-a:b", False),
    ("-logs-a", False), ("_all", False), (".logs-a", False), ("", False), ("logs-a b", False),
])
def test_index_allowed(name: str, allowed: bool):
    assert index_allowed(name, ALLOW) is allowed


def test_check_indices_splits_commas():
    assert check_indices(["logs-a, logs-b", "app-checkout"], ALLOW) == ("logs-a", "logs-b", "app-checkout")


_PART = st.text(alphabet="ab-.", min_size=0, max_size=3)
_PATTERN = st.lists(_PART, min_size=1, max_size=4).map("*".join).filter(
    lambda p: bool(re.match(r"^[a-z0-9*]", p)))


@given(allowed=_PATTERN, requested=_PATTERN, fills=st.lists(_PART, min_size=4, max_size=4))
def test_an_allowed_pattern_only_expands_to_allowed_names(allowed: str, requested: str, fills: list[str]):
    """Soundness: whatever a requested pattern's `*`s expand to, the name stays inside the allowlist."""
    if not index_allowed(requested, [allowed]):
        return
    pieces = requested.split("*")
    name = "".join(piece + (fills[i % 4] if i < len(pieces) - 1 else "") for i, piece in enumerate(pieces))
    assert re.fullmatch(".*".join(map(re.escape, allowed.split("*"))), name)


# --- intervals ----------------------------------------------------------------------------------

def test_auto_interval_and_bucket_count():
    start, end = int(T0.timestamp() * 1000), int(T1.timestamp() * 1000)
    assert auto_interval(start, end) == "1m"
    assert bucket_count(start, end, "1m") == 60
    assert bucket_count(start + 30_000, end + 30_000, "1m") == 61  # straddles one more minute
    assert auto_interval(start + 30_000, end + 30_000) == "1m"
    assert auto_interval(start, end, 12) == "5m"
    assert auto_interval(start, end, 1) == "1h"
    assert auto_interval(start, start + 10_000) == "1s"
    assert auto_interval(start, start + 400 * 86_400_000) == "7d"


# --- links --------------------------------------------------------------------------------------

def test_rison():
    assert rison({"a": [1, True, None, "it's!"], "b": {"c": False}}) == "(a:!(1,!t,!n,'it!'s!!'),b:(c:!f))"


def test_kibana_discover_link():
    link = discover_link("https://kibana.example/", "kibana", T0, T1, 'log.level:"error"', "logs-dv")
    assert link == ("https://kibana.example/app/discover#/?_g=(time:(from:'2024-05-01T12:00:00.000Z',"
                    "to:'2024-05-01T13:00:00.000Z'))&_a=(index:'logs-dv',query:(language:'kuery',"
                    "query:'log.level:%22error%22'))")


def test_opensearch_dashboards_discover_link():
    link = discover_link("https://osd.example", "opensearch_dashboards", T0, T1, "a and b", None)
    assert link == ("https://osd.example/app/data-explorer/discover#?_a=(metadata:(view:'discover'))"
                    "&_g=(time:(from:'2024-05-01T12:00:00.000Z',to:'2024-05-01T13:00:00.000Z'))"
                    "&_q=(query:(language:'kuery',query:'a%20and%20b'))")
