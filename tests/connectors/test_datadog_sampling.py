"""Datadog logs under a cap, against the loopback API through the real client: the newest lines, a
per-minute sample, exact per-minute counts from the logs aggregate API (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.base import Evidence
from connectors.datadog import DatadogConnector
from tests.connectors._util import T0, req
from tests.connectors.datadog_fixtures import API_KEY, APP_KEY, make, write_secrets
from tests.connectors.sampling_fixtures import CAP, assert_capped, assert_whole, iso, minute_key, window
from tests.fakes.datadog import FakeDatadog

QUERY = "logs: service:checkout"
# The fake filters its 50,000 lines in Python for every request: on a busy machine one answer can
# take seconds. What these tests check is the sampling, not the client's timeout, so the timeout
# is far beyond any such delay (a request that really hangs still ends the test).
PATIENT = {"timeout_seconds": 120.0}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDatadog]:
    with FakeDatadog(API_KEY, APP_KEY) as server:
        server.logs = [{"id": f"AQ{n:06d}", "type": "log", "attributes": {
            "timestamp": iso(entry.stamp), "status": entry.level, "service": "checkout",
            "host": "i-0a1b2c", "message": entry.message, "tags": ["service:checkout", "env:prod"],
            "attributes": {"service": "checkout"}}} for n, entry in enumerate(window().entries)]
        yield server


@pytest.fixture(scope="module")
def dd(fake: FakeDatadog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatadogConnector]:
    secrets: dict[str, Any] = write_secrets(tmp_path_factory.mktemp("dd-secrets"))
    connector = make(fake, secrets, **PATIENT)
    yield connector
    connector.close()


@pytest.fixture(scope="module")
def capped(fake: FakeDatadog, dd: DatadogConnector) -> Evidence:
    fake.reset()
    return dd.query(req(QUERY, limit=CAP))


def test_a_capped_window_keeps_the_newest_lines_and_a_sample_of_every_minute(capped: Evidence):
    assert_capped(capped, "timestamp")
    assert capped.summary.startswith("50000 log lines (info=")


def test_the_capped_read_is_bounded_in_requests(fake: FakeDatadog, capped: Evidence):
    routes = fake.routes()
    assert routes.count("logs_aggregate") == 1
    # 3 pages of 1,000 for the newest 2,500 lines, then one search per minute with older lines
    older = {minute_key(entry.stamp) for entry in window().entries[:-CAP // 2]}
    assert routes.count("logs") == 3 + len(older)
    aggregate = next(r for r in fake.requests if r.route == "logs_aggregate")
    assert aggregate.body == {
        "compute": [{"aggregation": "count", "type": "timeseries", "interval": "1m"}],
        "filter": {"query": "service:checkout", "from": T0.isoformat(),
                   "to": T0.replace(hour=13).isoformat(), "indexes": ["*"]},
        "group_by": [{"facet": "status", "limit": 100}]}


def test_fewer_sample_requests_group_neighbouring_minutes_and_rerun_the_same(
        fake: FakeDatadog, tmp_path_factory: pytest.TempPathFactory):
    fake.reset()
    connector = make(fake, write_secrets(tmp_path_factory.mktemp("dd-few")), max_sample_requests=10,
                     **PATIENT)
    evidence = connector.query(req(QUERY, limit=500))
    assert fake.routes().count("logs") == 1 + 10  # one page for the newest 250, ten sample searches
    assert evidence.sampling is not None
    assert (evidence.row_count, evidence.sampling.newest, len(evidence.rows)) == (50_000, 250, 500)
    assert evidence.rows[-1]["timestamp"] == window().newest.stamp.isoformat()
    assert connector.query(req(QUERY, limit=500)).rows == evidence.rows
    connector.close()


def test_a_window_under_the_cap_is_returned_whole(fake: FakeDatadog, dd: DatadogConnector):
    fake.reset()
    # Between two lines: the fake, like the search it imitates, includes a line at exactly `to`.
    small = req(QUERY, end=T0 + timedelta(minutes=2, seconds=59.95), limit=CAP)
    expected = sum(1 for entry in window().entries if entry.stamp < small.end)
    assert_whole(dd.query(small), "timestamp", expected)
    assert "logs_aggregate" not in fake.routes()  # every line was read: counted from the lines
