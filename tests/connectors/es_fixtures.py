"""Test servers and data for the Elasticsearch connector.

`osmem_engine()` starts osmem-server (the OpenSearch-compatible in-memory server from the
`osmem-server` dev dependency) on a free loopback port and bulk-loads `LOGS` into it with the real
`elasticsearch.helpers.bulk`. `ElasticFront` (tests/fakes/elasticsearch.py) sits in front of it to
play Elasticsearch 8 / 9 or OpenSearch, with security and scripted failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from elasticsearch import helpers
from osmem_server import OsmemServer  # type: ignore[import-untyped]

from connectors import build_connector
from connectors.elasticsearch.connector import ElasticsearchConnector
from tests.connectors._util import T0

API_KEY = "ZXM6YXBpa2V5LTlWcVBsYW50ZWQtWHg3Nw=="  # planted: must never leak
PASSWORD = "es-pw-3RtPlanted-Kk09"  # planted: must never leak
CHECKOUT = "logs-checkout-2024.05.01"
PAYMENTS = "logs-payments-2024.05.01"
AUDIT = "audit-2024.05.01"  # outside every allowlist used in the tests

MAPPING = {"properties": {
    "@timestamp": {"type": "date"},
    "service": {"properties": {"name": {"type": "keyword"}}},
    "log": {"properties": {"level": {"type": "keyword"}}},
    "message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
    "http": {"properties": {"status": {"type": "long"}}},
    "trace": {"properties": {"id": {"type": "keyword"}}},
}}


def _doc(seconds: float, service: str, level: str, message: str, **extra: Any) -> dict[str, Any]:
    stamp = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return {"@timestamp": stamp, "service": {"name": service}, "log": {"level": level},
            "message": message, **extra}


def logs() -> list[tuple[str, dict[str, Any]]]:
    """The data set: a checkout outage from 12:20 to 12:40 among steady traffic.

    - checkout, 12:00-12:59: one `info` "request served in N ms" per minute (60), HTTP 200;
    - checkout, 12:20:00-12:39:30: `error` "timeout talking to db after 5000 ms" every 30 s (40), 504;
    - checkout, 12:25-12:29: `warn` "connection refused by payments" each minute (5);
    - checkout, 12:30: one `ERROR` "Upstream Reset" (level in capitals);
    - checkout, 11:59:59 and 13:00:00: one `error` each, just outside [12:00, 13:00);
    - payments, 12:00-12:09: `info` "charge ok" each minute (10);
    - audit (not allowed): 3 "secret audit entry" documents inside the hour.
    """
    docs: list[tuple[str, dict[str, Any]]] = []
    for minute in range(60):
        docs.append((CHECKOUT, _doc(minute * 60, "checkout", "info", f"request served in {minute + 10} ms",
                                    http={"status": 200})))
    for step in range(40):
        docs.append((CHECKOUT, _doc(20 * 60 + step * 30, "checkout", "error",
                                    "timeout talking to db after 5000 ms", http={"status": 504},
                                    trace={"id": f"t-{step:03d}"})))
    for minute in range(25, 30):
        docs.append((CHECKOUT, _doc(minute * 60 + 5, "checkout", "warn", "connection refused by payments")))
    docs.append((CHECKOUT, _doc(30 * 60 + 1, "checkout", "ERROR", "Upstream Reset")))
    docs.append((CHECKOUT, _doc(-1, "checkout", "error", "just before the window")))
    docs.append((CHECKOUT, _doc(3600, "checkout", "error", "exactly at the end of the window")))
    for minute in range(10):
        docs.append((PAYMENTS, _doc(minute * 60 + 7, "payments", "info", "charge ok")))
    for seconds in (100, 200, 300):
        docs.append((AUDIT, _doc(seconds, "audit", "info", "secret audit entry")))
    return docs


IN_WINDOW = {"checkout": 60 + 40 + 5 + 1, "payments": 10}


@contextmanager
def osmem_engine() -> Iterator[str]:
    """A loaded osmem-server; yields its URL."""
    server = OsmemServer.start(japanese=False)
    try:
        loader = es_connector(server.url, compatibility="opensearch", indices=["*"]).client()
        for index in (CHECKOUT, PAYMENTS, AUDIT):
            loader.indices.create(index=index, mappings=MAPPING)
        helpers.bulk(loader, [{"_index": index, "_source": doc} for index, doc in logs()], refresh=True)
        loader.close()
        yield server.url
    finally:
        server.close()


def es_connector(url: str, name: str = "es-logs", **settings: Any) -> ElasticsearchConnector:
    """A connector from triage.yaml-style settings (defaults: logs-* and the ECS field names)."""
    raw: dict[str, Any] = {"type": "elasticsearch", "hosts": [url], "indices": ["logs-*"], **settings}
    connector: ElasticsearchConnector = build_connector(name, raw, Path.cwd())  # type: ignore[assignment]
    return connector
