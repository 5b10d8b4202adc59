"""files_metrics: Prometheus-style selectors, half-open time range, per-series summary."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connectors import EvidenceKind, EvidenceStatus, QueryRefused
from connectors.files_metrics import parse_selector
from tests.connectors._util import T0, T1, at, connector, iso, req

HEADER = "timestamp,metric,value,service,instance\n"


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def metrics(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [
        f"{iso(30)},errors,3,checkout,a",
        f"{iso(0)},errors,1,checkout,a",
        f"{iso(10)},errors,5,checkout,b",
        f"{iso(20)},errors,2,payments,a",
        f"{iso(0)},latency,0.25,checkout,a",
        f"{iso(60)},latency,0.75,checkout,a",
        f"{iso(5)},cpu,0.5,,a",
        f"{iso(6)},errors,not-a-number,checkout,a",
    ])
    return connector("files_metrics", path, name="prom")


# --- selector parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("errors", ("errors", [])),
    ("  errors  ", ("errors", [])),
    ("http:requests_total", ("http:requests_total", [])),
    ("_x", ("_x", [])),
    ("errors{}", ("errors", [])),
    ('errors{a="b",c!="d"}', ("errors", [("a", "=", "b"), ("c", "!=", "d")])),
    ('errors{ a = "b" , c != "d" , }', ("errors", [("a", "=", "b"), ("c", "!=", "d")])),
    ('errors {a=""}', ("errors", [("a", "=", "")])),
    ('{service="checkout"}', ("", [("service", "=", "checkout")])),
    ('{service!="checkout"}', ("", [("service", "!=", "checkout")])),
    ('{path="/a b=c"}', ("", [("path", "=", "/a b=c")])),
])
def test_parse_valid_selectors(text: str, expected):
    assert parse_selector(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "not a metric selector: '' (expected name{label=\"value\"})"),
    ("   ", "not a metric selector: '   ' (expected name{label=\"value\"})"),
    ("{}", "not a metric selector: '{}' (expected name{label=\"value\"})"),
    ("{ }", "selector '{ }' selects every metric: name one or add a label"),
    ("{,}", "bad label matcher ',' in '{,}' (expected key=\"value\")"),
    ("1errors", "not a metric selector: '1errors' (expected name{label=\"value\"})"),
    ("errors total", "not a metric selector: 'errors total' (expected name{label=\"value\"})"),
    ('errors{a="b"', "not a metric selector: 'errors{a=\"b\"' (expected name{label=\"value\"})"),
    ("errors-total", "not a metric selector: 'errors-total' (expected name{label=\"value\"})"),
    ('errors{a=~"b.*"}', "bad label matcher 'a=~\"b.*\"' in 'errors{a=~\"b.*\"}' "
                         "(expected key=\"value\")"),
    ("errors{a=b}", "bad label matcher 'a=b' in 'errors{a=b}' (expected key=\"value\")"),
    ("errors{a='b'}", "bad label matcher \"a='b'\" in \"errors{a='b'}\" (expected key=\"value\")"),
    ('errors{="b"}', "bad label matcher '=\"b\"' in 'errors{=\"b\"}' (expected key=\"value\")"),
    ('errors{1a="b"}',
     "bad label matcher '1a=\"b\"' in 'errors{1a=\"b\"}' (expected key=\"value\")"),
    ('errors{a="b"}{c="d"}', "bad label matcher 'a=\"b\"}{c=\"d\"' in 'errors{a=\"b\"}{c=\"d\"}' "
                             "(expected key=\"value\")"),
    ('errors{a="b" c="d"}', "bad label matcher 'a=\"b\" c=\"d\"' in 'errors{a=\"b\" c=\"d\"}' "
                            "(expected key=\"value\")"),
])
def test_invalid_selectors_are_refused(text: str, message: str):
    with pytest.raises(QueryRefused) as info:
        parse_selector(text)
    assert str(info.value) == message


def test_comma_inside_quoted_label_value():
    assert parse_selector('http{path="/a,b"}') == ("http", [("path", "=", "/a,b")])


@pytest.mark.parametrize("text", ["{}", "", '{a=~"x"}', "cpu{a=b}", '{ }', "1x"])
def test_invalid_selector_is_error_evidence_with_exact_query(metrics, text: str):
    request = req(text)
    ev = metrics.query(request)
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error
    assert ev.summary == ev.error
    assert ev.query == text
    assert (ev.connector, ev.kind) == ("prom", EvidenceKind.METRICS)
    assert (ev.start, ev.end) == (request.start, request.end)
    assert ev.rows == []


# --- selection ----------------------------------------------------------------------------------

def points(evidence) -> list[tuple[str, str, float, str, str]]:
    return [(p["timestamp"], p["metric"], p["value"], p["service"], p["instance"])
            for p in evidence.rows]


def test_name_only_selects_every_series_of_that_metric_oldest_first(metrics):
    ev = metrics.query(req("errors"))
    assert ev.status == EvidenceStatus.OK
    assert points(ev) == [
        (at(0).isoformat(), "errors", 1.0, "checkout", "a"),
        (at(10).isoformat(), "errors", 5.0, "checkout", "b"),
        (at(20).isoformat(), "errors", 2.0, "payments", "a"),
        (at(30).isoformat(), "errors", 3.0, "checkout", "a"),
    ]
    assert ev.row_count == 4  # the non-numeric value row is skipped


def test_equal_and_not_equal_matchers(metrics):
    ev = metrics.query(req('errors{service="checkout",instance!="b"}'))
    assert [(p[0], p[2]) for p in points(ev)] == [(at(0).isoformat(), 1.0),
                                                  (at(30).isoformat(), 3.0)]


def test_label_values_are_case_sensitive(metrics):
    assert metrics.query(req('errors{service="Checkout"}')).status == EvidenceStatus.NO_DATA


def test_labels_without_name_select_across_metrics(metrics):
    ev = metrics.query(req('{service="checkout"}'))
    assert [(p[1], p[2]) for p in points(ev)] == [
        ("errors", 1.0), ("latency", 0.25), ("errors", 5.0), ("errors", 3.0), ("latency", 0.75)]


def test_empty_label_and_absent_label_match_empty_string(metrics):
    ev = metrics.query(req('{service=""}'))
    assert [(p[1], p[2]) for p in points(ev)] == [("cpu", 0.5)]
    ev = metrics.query(req('cpu{team=""}'))
    assert ev.row_count == 1


def test_unknown_metric_is_no_data(metrics):
    ev = metrics.query(req("nope"))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.summary == "no rows matched"


def test_time_range_is_half_open(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [
        f"{(T0 - timedelta(seconds=1)).isoformat()},q,1,s,i",
        f"{T0.isoformat()},q,2,s,i",
        f"{(T1 - timedelta(milliseconds=1)).isoformat()},q,3,s,i",
        f"{T1.isoformat()},q,4,s,i",
        f"{int(at(1).timestamp())},q,5,s,i",
        f"{int(at(2).timestamp() * 1000)},q,6,s,i",
    ])
    ev = connector("files_metrics", path).query(req("q"))
    assert [p["value"] for p in ev.rows] == [2.0, 5.0, 6.0, 3.0]


def test_narrower_window_excludes_points(metrics):
    ev = metrics.query(req("errors", start=at(10), end=at(30)))
    assert [p["value"] for p in ev.rows] == [5.0, 2.0]


def test_row_limit_truncates_keeping_the_oldest(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [f"{iso(s)},q,{s},s,i" for s in range(20, 0, -1)])
    ev = connector("files_metrics", path).query(req("q", limit=3))
    assert (ev.truncated, ev.row_count) == (True, 20)
    assert [p["value"] for p in ev.rows] == [1.0, 2.0, 3.0]


# --- summary ------------------------------------------------------------------------------------

def test_summary_mentions_each_series(metrics):
    ev = metrics.query(req("errors"))
    assert ev.summary == (
        'errors: 3 series; '
        'errors{instance="a",service="checkout"}: 2 points, first 1, last 3, min 1, max 3, '
        'mean 2; '
        'errors{instance="a",service="payments"}: 1 points, first 2, last 2, min 2, max 2, '
        'mean 2; '
        'errors{instance="b",service="checkout"}: 1 points, first 5, last 5, min 5, max 5, '
        'mean 5'
    )


def test_summary_of_label_only_selector(metrics):
    ev = metrics.query(req('{instance="a",service="checkout"}'))
    assert ev.summary.startswith("selector: 2 series; ")
    assert 'errors{instance="a",service="checkout"}: 2 points' in ev.summary
    assert 'latency{instance="a",service="checkout"}: 2 points, first 0.25, last 0.75' in ev.summary


def test_summary_caps_at_five_series(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [f"{iso(i)},q,{i},s,i{i}" for i in range(7)])
    ev = connector("files_metrics", path).query(req("q"))
    assert ev.summary.startswith("q: 7 series; ")
    assert ev.summary.endswith(" (+2 more series)")
    assert ev.summary.count(" points, ") == 5


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "missing"), [
    ("ts,metric,value\n", ["timestamp"]),
    ("timestamp,name,val\n", ["metric", "value"]),
    ("", ["metric", "timestamp", "value"]),
])
def test_missing_columns_is_error_evidence(tmp_path: Path, header: str, missing: list[str]):
    path = tmp_path / "m.csv"
    path.write_text(header + ("2024-05-01T12:00:00Z,q,1\n" if header else ""))
    ev = connector("files_metrics", path).query(req("q"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"{path} lacks columns: {missing}"
    assert ev.query == "q"


def test_missing_file_is_error_evidence(tmp_path: Path):
    path = tmp_path / "nope.csv"
    ev = connector("files_metrics", path).query(req("q"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"metrics file not found: {path}"


def test_selector_error_wins_over_missing_file(tmp_path: Path):
    ev = connector("files_metrics", tmp_path / "nope.csv").query(req("{}"))
    assert ev.error is not None
    assert ev.error.startswith("not a metric selector: '{}'")


def test_rows_with_bad_timestamp_or_value_are_skipped(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [
        "yesterday,q,1,s,i", f"{iso(1)},q,,s,i", f"{iso(2)},q,abc,s,i", f"{iso(3)},q,7,s,i",
    ])
    ev = connector("files_metrics", path).query(req("q"))
    assert [p["value"] for p in ev.rows] == [7.0]


def test_short_row_is_skipped(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", [f"{iso(1)},q", f"{iso(2)},q,7,s,i"])
    ev = connector("files_metrics", path).query(req("q"))
    assert [p["value"] for p in ev.rows] == [7.0]


@pytest.mark.parametrize(("header", "good", "long"), [
    (HEADER, f"{iso(2)},q,7,s,i", f"{iso(1)},q,1,s,i,surplus"),
    ("timestamp,metric,value\n", f"{iso(2)},q,7", f"{iso(1)},q,1,surplus"),
])
def test_long_row_does_not_crash_the_query(tmp_path: Path, header: str, good: str, long: str):
    path = write_csv(tmp_path / "m.csv", [long, good], header=header)
    ev = connector("files_metrics", path).query(req("q"))
    assert 7.0 in [p["value"] for p in ev.rows]


def test_out_of_range_timestamp_row_is_skipped(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", ["1" + "0" * 300 + ",q,1,s,i", f"{iso(2)},q,7,s,i"])
    ev = connector("files_metrics", path).query(req("q"))
    assert [p["value"] for p in ev.rows] == [7.0]


def test_non_utf8_file_is_error_evidence(tmp_path: Path):
    path = tmp_path / "m.csv"
    path.write_bytes(HEADER.encode() + b"\xff\xfe,q,1,s,i\n")
    ev = connector("files_metrics", path).query(req("q"))
    assert ev.status == EvidenceStatus.ERROR
