"""prometheus: the query syntax, step choice and UI links (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import QueryRefused
from connectors.files_metrics import series_key
from connectors.prometheus.rows import graph_link, result_points, sample_value
from connectors.prometheus.syntax import (
    PromQuery,
    choose_step,
    format_duration,
    parse_duration,
    parse_query,
)


@pytest.mark.parametrize(("text", "parsed"), [
    ('up{job="api"}', PromQuery("range", expr='up{job="api"}')),
    ("  rate(errors_total[5m])  ", PromQuery("range", expr="rate(errors_total[5m])")),
    # recording-rule names have colons but no space after them: still PromQL
    ("job:errors:rate5m", PromQuery("range", expr="job:errors:rate5m")),
    ("instant:foo", PromQuery("range", expr="instant:foo")),
    ("sum(rules:x)", PromQuery("range", expr="sum(rules:x)")),
    ("range: up", PromQuery("range", expr="up")),
    ("range step=30s: up", PromQuery("range", expr="up", step=30.0)),
    ("range step=1m30s:\nsum(up)", PromQuery("range", expr="sum(up)", step=90.0)),
    ("range step=0.5: up", PromQuery("range", expr="up", step=0.5)),
    ('instant: up{job="api"} == 0', PromQuery("instant", expr='up{job="api"} == 0')),
    ("series: up", PromQuery("series", expr="up")),
    ("labels:", PromQuery("labels")),
    ("labels: up", PromQuery("labels", expr="up")),
    ("label_values: job", PromQuery("label_values", label="job")),
    ('label_values: instance up{job="a b"}',
     PromQuery("label_values", label="instance", expr='up{job="a b"}')),
    ("rules:", PromQuery("rules")),
    ("rules: type=alert state=firing", PromQuery("rules", filters=(("type", "alerting"),
                                                                   ("state", "firing")))),
    ('rules: name="High error rate"', PromQuery("rules", filters=(("name", "High error rate"),))),
    ("rules: type=recording", PromQuery("rules", filters=(("type", "recording"),))),
    ("alerts:", PromQuery("alerts")),
    ("alerts: severity=page service=checkout",
     PromQuery("alerts", filters=(("severity", "page"), ("service", "checkout")))),
])
def test_parse_query(text: str, parsed: PromQuery):
    assert parse_query(text) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty query: give a PromQL expression, or a command such as `labels:`"),
    ("   ", "empty query: give a PromQL expression, or a command such as `labels:`"),
    ("range:", "empty query: give a PromQL expression, or a command such as `labels:`"),
    ("range step=soon: up", "bad duration 'soon' (expected e.g. 30s, 5m, 1h30m)"),
    ("range step=0s: up", "bad duration '0s': must be positive"),
    ("range step=-5: up", "bad duration '-5': must be positive"),
    ("range step=5x: up", "bad duration '5x' (expected e.g. 30s, 5m, 1h30m)"),
    ("range every=5s: up", "range: unknown option 'every' (known: step)"),
    ("instant:", "instant: needs a PromQL expression or selector after the colon"),
    ("instant step=5s: up", "instant: takes no options (got step=5s)"),
    ("series: ", "series: needs a PromQL expression or selector after the colon"),
    ("label_values:", "label_values: needs a label name first, like `label_values: job` (got '')"),
    ("label_values: ../admin", "label_values: needs a label name first, like `label_values: job` "
                               "(got '../admin')"),
    ("rules: owner=me", "rules: unknown filter 'owner' (known: type, name, group, file, state, health)"),
    ("rules: type=other", "rules: type must be alerting or recording, not 'other'"),
    ("rules: firing", "rules: filter 'firing' must be key=value, like state=firing"),
    ("alerts: state=", "alerts: filter 'state=' must be key=value, like state=firing"),
    ('alerts: name="open', "alerts: cannot parse 'name=\"open': No closing quotation"),
])
def test_refusals_name_what_is_wrong(text: str, message: str):
    with pytest.raises(QueryRefused) as info:
        parse_query(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), ("1w", 604800),
    ("30", 30), ("0.25", 0.25),
])
def test_parse_duration(text: str, seconds: float):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("seconds", "text"), [
    (15, "15s"), (90, "90s"), (120, "2m"), (5400, "90m"), (3600, "1h"), (86400, "1d"),
    (1209600, "2w"), (0.2, "1s"), (59.5, "1m"),
])
def test_format_duration_uses_one_exact_unit(seconds: float, text: str):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("window", "cap", "default", "requested", "step"), [
    (3600, 250, 15, None, 15),      # 241 points: the default step fits
    (6 * 3600, 250, 15, None, 87),  # ceil(21600 / 249)
    (3600, 50, 15, None, 74),       # the row limit is the tighter cap
    (3600, 250, 15, 60, 60),        # a coarser requested step wins
    (3600, 250, 15, 5, 15),         # a finer one is raised to fit the cap
    (10, 250, 0.25, None, 0.25),    # short windows keep sub-second steps
    (0, 250, 15, None, 15),         # a single instant
    (100, 1, 15, None, 200),        # cap 1: one point
])
def test_choose_step_keeps_points_under_the_cap(window, cap, default, requested, step):
    chosen = choose_step(window, cap, default, requested)
    assert chosen == step
    if window:
        assert window // chosen + 1 <= max(cap, 1)


def test_graph_links():
    end = datetime(2024, 5, 1, 13, 0, 5, tzinfo=UTC)
    assert graph_link("http://p:9090", 'up{job="a"}', end=end, window=3600, step=15) == (
        "http://p:9090/graph?g0.expr=up%7Bjob%3D%22a%22%7D&g0.tab=0&g0.range_input=1h"
        "&g0.end_input=2024-05-01+13%3A00%3A05&g0.step_input=15")
    assert graph_link("https://p/prom", "up", end=end) == (
        "https://p/prom/graph?g0.expr=up&g0.tab=1&g0.moment_input=2024-05-01+13%3A00%3A05")


def test_sample_values_and_result_shapes():
    assert [sample_value(v) for v in ("1", "1e+03", "NaN", "+Inf", "-Inf")] == [
        1.0, 1000.0, "NaN", "+Inf", "-Inf"]
    matrix = [{"metric": {"__name__": "x", "value": "v", "timestamp": "t", "metric": "m", "a": "1"},
               "values": [[1714564800, "2"]], "histograms": [[1714564800, {"count": "1"}]]}]
    points = result_points("matrix", matrix)
    assert points.rows == [{"timestamp": "2024-05-01T12:00:00+00:00", "metric": "x", "value": 2.0,
                            "a": "1", "exported_metric": "m", "exported_timestamp": "t",
                            "exported_value": "v"}]
    assert points.skipped == 1
    assert points.series == {series_key(points.rows[0]): [2.0]}
    vector = [{"metric": {}, "histogram": [1714564800, {"count": "1"}]}]
    histograms = result_points("vector", vector)
    assert (histograms.rows, histograms.skipped) == ([], 1)
