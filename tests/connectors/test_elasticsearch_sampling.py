"""Elasticsearch under a cap, against osmem-server: the newest hits, a per-minute sample, and exact
per-minute counts from a date_histogram, in at most two searches (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import helpers
from osmem_server import OsmemServer  # type: ignore[import-untyped]

from connectors.base import Evidence
from connectors.elasticsearch.connector import ElasticsearchConnector
from tests.connectors._util import T0, req
from tests.connectors.es_fixtures import MAPPING, es_connector
from tests.connectors.sampling_fixtures import CAP, assert_capped, assert_whole, iso, window

pytestmark = pytest.mark.slow
INDEX = "logs-sampling-2024.05.01"


@pytest.fixture(scope="module")
def es() -> Iterator[ElasticsearchConnector]:
    server = OsmemServer.start(japanese=False)
    try:
        loader = es_connector(server.url, compatibility="opensearch", indices=["*"]).client()
        loader.indices.create(index=INDEX, mappings=MAPPING)
        docs = ({"_index": INDEX, "_source": {"@timestamp": iso(entry.stamp), "log": {"level": entry.level},
                                              "service": {"name": "checkout"}, "message": entry.message}}
                for entry in window().entries)
        helpers.bulk(loader, docs, chunk_size=5_000, refresh=True)
        loader.close()
        connector = es_connector(server.url, compatibility="opensearch", max_hits=CAP)
        yield connector
        connector.close()
    finally:
        server.close()


@pytest.fixture(scope="module")
def capped(es: ElasticsearchConnector) -> Evidence:
    return es.query(req("service=checkout", limit=CAP))


def test_a_capped_window_keeps_the_newest_hits_and_a_sample_of_every_minute(capped: Evidence):
    assert_capped(capped, "@timestamp")
    assert capped.summary.startswith("50000 hits; levels: info=")


def test_the_sample_is_the_same_on_every_run(es: ElasticsearchConnector, capped: Evidence):
    assert es.query(req("service=checkout", limit=CAP)).rows == capped.rows


def test_a_window_under_the_cap_is_returned_whole(es: ElasticsearchConnector):
    small = req("service=checkout", end=T0.replace(minute=3), limit=CAP)
    expected = sum(1 for entry in window().entries if entry.stamp < small.end)
    assert_whole(es.query(small), "@timestamp", expected)
