"""Drill-down: synthetic traffic with a known cause, and the attribute value that must be found."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.analysis.drilldown import Contributor, attributes, drill_down

ONSET = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
HOSTS = [f"web-{k}" for k in range(1, 6)]

Row = dict[str, Any]
Build = Callable[[random.Random, bool], Row]


def rows_of(build: Build, baseline: int = 600, incident: int = 300, seed: int = 7) -> list[Row]:
    """Baseline rows over the hour before the onset, incident rows over the 15 minutes after."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for index in range(baseline):
        stamp = ONSET - timedelta(seconds=3600 * (baseline - index) / baseline)
        rows.append({"timestamp": stamp.isoformat(), **build(rng, False)})
    for index in range(incident):
        stamp = ONSET + timedelta(seconds=900 * index / incident)
        rows.append({"timestamp": stamp.isoformat().replace("+00:00", "Z"), **build(rng, True)})
    return rows


def by_level(row: Mapping[str, Any]) -> bool:
    return row.get("level") == "error"


def by_status(row: Mapping[str, Any]) -> bool:
    status = row.get("status")
    return isinstance(status, int) and status >= 500


def incident_share(rows: list[Row], test: Callable[[Row], bool],
                   among: Callable[[Row], bool] = lambda row: True) -> float:
    """The expected share, counted from the generated rows themselves."""
    window = [row for row in rows if row["timestamp"] >= ONSET.isoformat()[:19] and among(row)]
    return sum(1 for row in window if test(row)) / len(window)


def eur_checkout(rng: random.Random, incident: bool) -> Row:
    """EUR is ~30% of traffic; after the onset every EUR checkout fails with a 503."""
    currency = rng.choices(["EUR", "USD", "GBP"], [3, 5, 2])[0]
    failing = incident and currency == "EUR"
    status = 503 if failing else 200
    return {"service": "checkout", "host": rng.choice(HOSTS), "level": "error" if failing else "info",
            "status": status,
            "message": f"POST /api/orders/{rng.randrange(10**6)}?currency={currency} {status} "
                       f"in {rng.randrange(20, 900)}ms request_id={rng.getrandbits(48):012x}"}


@pytest.mark.parametrize("is_anomalous", [by_level, by_status])
def test_eur_causes_every_5xx(is_anomalous: Callable[[Mapping[str, Any]], bool]) -> None:
    rows = rows_of(eur_checkout)
    found = drill_down(rows, ONSET, is_anomalous=is_anomalous)
    assert found, "EUR explains every error"
    best = found[0]
    traffic = incident_share(rows, lambda row: "currency=EUR" in row["message"])
    assert (best.field, best.value, best.mode) == ("query.currency", "EUR", "concentration")
    assert best.anomaly_share == 1.0
    assert best.traffic_share == pytest.approx(traffic)
    assert best.describe() == f"query.currency=EUR: 100% of errors, {round(traffic * 100)}% of traffic"
    # Restating the anomaly (level, status) or naming the one service explains nothing.
    assert {item.field for item in found}.isdisjoint({"level", "status", "status_class", "service"})
    assert all(item.field != "host" for item in found)


def test_one_finding_per_value_seen_under_two_names() -> None:
    rows = rows_of(eur_checkout)
    for row in rows:  # the currency logged twice: in the query and as a pair
        row["message"] += " currency=" + row["message"].split("currency=")[1].split()[0]
    found = drill_down(rows, ONSET, is_anomalous=by_level)
    assert [(item.field, item.value) for item in found] == [("currency", "EUR")]


def one_bad_host(rng: random.Random, incident: bool) -> Row:
    host = rng.choice(HOSTS)
    failing = incident and host == "web-3" and rng.random() < 0.6
    return {"service": "api", "host": host, "level": "error" if failing else "info",
            "status": 500 if failing else 200, "message": "request handled"}


def test_one_host_of_five_produces_every_error() -> None:
    found = drill_down(rows_of(one_bad_host), ONSET, is_anomalous=by_status)
    assert [(item.field, item.value, item.mode) for item in found] == [("host", "web-3", "concentration")]
    assert found[0].anomalous == sum(1 for row in rows_of(one_bad_host) if by_status(row))


def surge(rng: random.Random, incident: bool) -> Row:
    """A campaign on ~64% of requests after the onset; requests outnumber background lines then."""
    if rng.random() < (0.1 if incident else 0.5):
        return {"service": "catalog", "level": "info", "message": f"cache hit ratio 0.{rng.randrange(99)}"}
    query = "?utm_campaign=blackfriday" if incident and rng.random() < 0.64 else ""
    return {"service": "catalog", "level": "info",
            "message": f"GET /api/catalog/{rng.randrange(10**5)}{query} 200 in {rng.randrange(900)}ms"}


def test_campaign_appearing_after_onset_is_a_shift() -> None:
    rows = rows_of(surge, incident=900)
    found = drill_down(rows, ONSET, is_anomalous=by_level)
    expected = incident_share(rows, lambda row: "utm_campaign" in row["message"],
                              among=lambda row: row["message"].startswith("GET"))
    assert [(item.field, item.value, item.mode) for item in found] == [
        ("query.utm_campaign", "blackfriday", "shift")]
    assert found[0].baseline_share == 0.0
    assert found[0].incident_share == pytest.approx(expected)
    assert found[0].describe() == (
        f"query.utm_campaign=blackfriday: 0% -> {round(expected * 100)}% of requests")


def partner_surge(rng: random.Random, incident: bool) -> Row:
    client = "partner-x" if rng.random() < (0.7 if incident else 0.02) else rng.choice(["acme", "globex"])
    return {"service": "api", "host": rng.choice(HOSTS), "level": "info",
            "message": f"charge accepted client={client} region=eu-west-1 amount={rng.randrange(10**4)}"}


def test_client_shift() -> None:
    rows = rows_of(partner_surge)
    found = drill_down(rows, ONSET, is_anomalous=by_level)
    assert found[0].field == "client" and found[0].value == "partner-x" and found[0].mode == "shift"
    assert found[0].baseline_share == pytest.approx(
        sum(1 for row in rows[:600] if "partner-x" in row["message"]) / 600)
    assert found[0].baseline_share < 0.05 < 0.6 < found[0].incident_share
    assert "amount" not in {item.field for item in found}  # nearly all distinct


@pytest.mark.parametrize("seed", range(5))
def test_errors_spread_evenly_over_every_host_explain_nothing(seed: int) -> None:
    def uniform(rng: random.Random, incident: bool) -> Row:
        failing = incident and rng.random() < 0.3
        return {"service": "api", "host": rng.choice(HOSTS), "level": "error" if failing else "info",
                "message": f"GET /api/items/{rng.randrange(999)} {503 if failing else 200} in 5ms"}

    rows = rows_of(uniform, seed=seed)
    assert sum(map(by_level, rows)) > 50
    assert drill_down(rows, ONSET, is_anomalous=by_level) == []


def test_fields_only_some_lines_carry_are_compared_among_those_lines() -> None:
    def mixed(rng: random.Random, incident: bool) -> Row:
        if rng.random() < 0.5:
            return {"level": "info", "message": f"worker heartbeat ok pid={rng.randrange(9999)}"}
        failing = incident and rng.random() < 0.3
        row: Row = {"level": "error" if failing else "info",
                    "user_agent": rng.choice(["ios", "android", "web"]),
                    "message": f"GET /api/items/{rng.randrange(999)} {503 if failing else 200} in 5ms"}
        if failing:  # error context, logged only with errors
            row["request"] = {"method": "GET", "body": {"shipping": "express"}}
        return row

    # Errors hit every user agent alike: only against all rows (heartbeats too) would each one
    # look concentrated, and only against the baseline would the error context look new.
    assert drill_down(rows_of(mixed, incident=600), ONSET, is_anomalous=by_level) == []


def test_dependency_called_by_every_failing_line() -> None:
    def dependency(rng: random.Random, incident: bool) -> Row:
        if incident and rng.random() < 0.25:
            return {"level": "error", "host": rng.choice(HOSTS),
                    "message": "charge failed: POST https://api.cardproc.example/v1/charges timed out"}
        return {"level": "info", "host": rng.choice(HOSTS),
                "message": f"POST /api/payments {201} in {rng.randrange(900)}ms"}

    rows = rows_of(dependency)
    found = drill_down(rows, ONSET, is_anomalous=by_level)
    assert [(item.field, item.value, item.mode) for item in found] == [
        ("host_called", "api.cardproc.example", "concentration")]
    assert found[0].traffic_share == pytest.approx(incident_share(rows, lambda row: "://" in row["message"]))


def test_id_like_fields_are_not_attributes() -> None:
    row = {"timestamp": "2026-10-14T09:00:00Z", "request_id": "0f217765547d", "traceId": "ab12",
           "dd": {"span_id": 42}, "id": 7, "user": "550e8400-e29b-41d4-a716-446655440000",
           "db_password": "hunter2", "message": "done request_id=1f2e3d4c5b6a trace_id=77", "shard": "s1"}
    assert attributes(row) == {"shard": "s1"}


def test_high_cardinality_fields_offer_only_a_dominant_value() -> None:
    def customers(rng: random.Random, incident: bool) -> Row:
        customer = f"c{rng.randrange(200)}"
        # Ten of two hundred customers fail (each ~10% of the errors): no single value dominates.
        failing = incident and int(customer[1:]) < 10
        return {"customer": customer, "level": "error" if failing else "info", "message": "ok"}

    rows = rows_of(customers, baseline=2000, incident=2000)
    assert drill_down(rows, ONSET, is_anomalous=by_level) == []

    def whale(rng: random.Random, incident: bool) -> Row:
        row = customers(rng, False)
        if incident and rng.random() < 0.2:
            row.update(customer="c-whale", level="error")
        return row

    found = drill_down(rows_of(whale, baseline=2000, incident=2000), ONSET, is_anomalous=by_level)
    assert [(item.field, item.value) for item in found if item.mode == "concentration"] == [
        ("customer", "c-whale")]


def test_nested_fields() -> None:
    row = {"timestamp": "t", "message": "m", "http": {"request": {"method": "PUT"}, "status_code": 502},
           "ctx": {"region": {"name": "eu"}, "tags": ["a", "b"]}}
    assert attributes(row) == {"http.request.method": "PUT", "http.status_code": "502",
                               "status_class": "5xx", "ctx.region.name": "eu"}

    def nested(rng: random.Random, incident: bool) -> Row:
        region = rng.choice(["eu", "us", "ap"])
        failing = incident and region == "ap"
        return {"level": "error" if failing else "info", "message": "served",
                "ctx": {"region": {"name": region}, "pod": {"zone": rng.choice("abc")}}}

    found = drill_down(rows_of(nested), ONSET, is_anomalous=by_level)
    assert (found[0].field, found[0].value) == ("ctx.region.name", "ap")


def test_request_lines_paths_and_query_parameters() -> None:
    assert attributes({"message": "GET /api/orders/123?utm_campaign=x&currency=EUR 200 in 45ms"}) == {
        "method": "GET", "path": "/api/orders/<id>", "status": "200", "status_class": "2xx",
        "query.utm_campaign": "x", "query.currency": "EUR"}
    assert attributes({"message": '10.0.0.1 - - "POST /v1/charge HTTP/1.1" 503 12'}) == {
        "method": "POST", "path": "/v1/charge", "status": "503", "status_class": "5xx"}
    called = "upstream failed: https://api.cardproc.example/v1/charges?mode=live, retrying"
    assert attributes({"message": called}) == {"host_called": "api.cardproc.example", "query.mode": "live"}
    # A call to a dependency is not the request served: no method, path or status from it.
    assert attributes({"message": "POST https://pay.example:8443/v2/charge?token=s3cr3t took 200ms"}) == {
        "host_called": "pay.example"}
    assert attributes({"request": {"path": "/api/profile/20451?x=1"}, "route": "/v1/users/{id}"}) == {
        "request.path": "/api/profile/<id>", "route": "/v1/users/{id}"}


def test_key_value_pairs_in_messages() -> None:
    message = 'charge failed currency=EUR region=eu-west-1, client="acme corp" GET /x?page=2 200'
    assert attributes({"message": message, "region": "structured wins"}) == {
        "region": "structured wins", "currency": "EUR", "client": "acme corp", "method": "GET",
        "path": "/x", "status": "200", "status_class": "2xx", "query.page": "2"}


def test_window_end_and_no_baseline() -> None:
    rows = [row for row in rows_of(eur_checkout) if row["timestamp"] >= ONSET.isoformat()[:19]]
    found = drill_down(rows, ONSET, is_anomalous=by_level)
    assert found and {item.mode for item in found} == {"concentration"}
    assert (found[0].field, found[0].value) == ("query.currency", "EUR")
    # Everything after `end` is ignored: here that is the whole incident.
    assert drill_down(rows, ONSET, is_anomalous=by_level, end=ONSET) == []


@pytest.mark.parametrize("shape", [
    lambda stamp: stamp.timestamp(), lambda stamp: int(stamp.timestamp() * 1000),
    lambda stamp: stamp.replace(tzinfo=None), lambda stamp: str(stamp.timestamp())])
def test_timestamps_of_every_shape(shape: Callable[[datetime], object]) -> None:
    rows = rows_of(eur_checkout)
    expected = drill_down(rows, ONSET, is_anomalous=by_level)
    reshaped = [{**row, "timestamp": shape(datetime.fromisoformat(row["timestamp"]))} for row in rows]
    assert drill_down(reshaped, ONSET.replace(tzinfo=None), is_anomalous=by_level) == expected


def test_empty_and_tiny_inputs() -> None:
    assert drill_down([], ONSET, is_anomalous=by_level) == []
    assert drill_down(rows_of(eur_checkout), ONSET, is_anomalous=by_level, top=0) == []
    tiny = rows_of(eur_checkout, baseline=5, incident=10)
    assert drill_down(tiny, ONSET, is_anomalous=by_level) == []


def counted(hosts: dict[str, tuple[int, int]]) -> list[Row]:
    """Incident rows with exact (rows, errors) per host, after a baseline of the same mix."""
    rows: list[Row] = []
    for host, (total, errors) in hosts.items():
        for index in range(total):
            rows.append({"timestamp": (ONSET - timedelta(seconds=index + 1)).isoformat(), "host": host,
                         "level": "info", "message": "ok"})
            level = "error" if index < errors else "info"
            rows.append({"timestamp": (ONSET + timedelta(seconds=index)).isoformat(), "host": host,
                         "level": level, "message": "ok"})
    return rows


@pytest.mark.parametrize(("hosts", "why"), ids=["chance", "small-gain", "small-lift"], argvalues=[
    ({"web-1": (40, 5), "web-2": (40, 2), "web-3": (40, 1), "web-4": (40, 1), "web-5": (40, 1)},
     "5 of 10 errors on one of five hosts: chance (z 2.4)"),
    ({"web-1": (9800, 1930), "web-6": (200, 70)}, "3.5% of errors on 2% of traffic: too little gained"),
    ({"web-1": (6000, 1500), "web-2": (4000, 500)}, "75% of errors on 60% of traffic: too little lift"),
])
def test_bars_a_finding_must_clear(hosts: dict[str, tuple[int, int]], why: str) -> None:
    assert drill_down(counted(hosts), ONSET, is_anomalous=by_level) == [], why
    # The same shape, made stark, is found: the bars, not the counting, rejected it.
    stark = {host: (total, total if index == 0 else 0) for index, (host, (total, _)) in
             enumerate(sorted(hosts.items(), key=lambda item: item[1][1] / item[1][0], reverse=True))}
    assert drill_down(counted(stark), ONSET, is_anomalous=by_level)


def test_two_rows_never_win() -> None:
    def rare(rng: random.Random, incident: bool) -> Row:
        return {"host": rng.choice(HOSTS), "level": "info", "message": "ok"}

    rows = rows_of(rare)
    rows[-1].update(host="web-9", level="error")
    rows[-2].update(host="web-9", level="error")
    assert drill_down(rows, ONSET, is_anomalous=by_level) == []


def test_order_is_deterministic() -> None:
    rows = rows_of(eur_checkout) + rows_of(partner_surge, seed=3)
    found = drill_down(rows, ONSET, is_anomalous=by_level, top=10)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert drill_down(shuffled, ONSET, is_anomalous=by_level, top=10) == found
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    assert len(drill_down(rows, ONSET, is_anomalous=by_level, top=1)) == 1


def test_describe_rounds_honestly() -> None:
    item = Contributor(field="host", value="web-3", mode="concentration", anomaly_share=0.996,
                       traffic_share=0.004, baseline_share=0.0, incident_share=0.004, anomalous=249,
                       total=250, score=0.992)
    assert item.describe() == "host=web-3: >99% of errors, <1% of traffic"


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
messages = st.text(max_size=80) | st.builds(
    lambda method, path, query, status: f"{method} {path}?{query} {status} a=b",
    st.sampled_from(["GET", "POST"]), st.text(max_size=20), st.text(max_size=20), st.integers())
stamps = st.sampled_from(["2026-10-14T08:30:00Z", "2026-10-14T09:05:00+00:00", 1791968000, "soon"]) \
    | json_values
rows_strategy = st.lists(st.fixed_dictionaries(
    {"timestamp": stamps, "message": messages | json_values},
    optional={"level": st.sampled_from(["error", "info"]) | json_values, "host": json_values,
              "http": json_values}).map(dict) | st.dictionaries(st.text(max_size=8), json_values),
    max_size=60)


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy)
def test_never_raises_on_json_ish_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in attributes(row).items())
    for min_rows in (0, 1):
        found = drill_down(rows, ONSET, is_anomalous=by_level, min_rows=min_rows)
        assert len(found) <= 5
        assert all(0 <= share <= 1 for item in found for share in (
            item.anomaly_share, item.traffic_share, item.baseline_share, item.incident_share))
