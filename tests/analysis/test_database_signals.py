"""Database signals end to end: a real lock held on a real PostgreSQL, an alert, and the rules
brain naming database contention from the `\\blocking` diagnostic."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import make_settings
from tests.postgres import fresh_database
from triage.config import parse_config
from triage.models import Source
from triage.replay import replay


@pytest.fixture
def held_lock(postgres_dsn: str) -> Iterator[str]:
    """A database where one session holds a row lock and another waits behind it."""
    dsn = fresh_database(postgres_dsn, f"orders_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE orders (id int PRIMARY KEY, status text)")
        setup.execute("INSERT INTO orders VALUES (1, 'new')")
    holder = psycopg.connect(dsn, application_name="nightly-export")
    holder.execute("UPDATE orders SET status = 'exporting' WHERE id = 1")  # opens a transaction
    waiter = psycopg.connect(dsn, autocommit=True, application_name="orders-api")
    blocked = threading.Thread(
        target=lambda: waiter.execute("UPDATE orders SET status = 'paid' WHERE id = 1"), daemon=True)
    blocked.start()
    with psycopg.connect(dsn, autocommit=True) as probe:  # wait until the waiter really waits
        for _ in range(100):
            if probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                             ).fetchone() == (1,):
                break
            threading.Event().wait(0.05)
    yield dsn
    holder.rollback()
    blocked.join(timeout=10)
    holder.close()
    waiter.close()


def test_a_held_lock_is_named_as_database_contention(held_lock: str, tmp_path: Path) -> None:
    config = parse_config({
        "services": [{"name": "orders", "connectors": ["orders_db"]}],
        "connectors": {"orders_db": {"type": "postgres", "dsn": held_lock}},
    }, tmp_path, "test")
    alert = {"version": "4", "status": "firing", "receiver": "triage", "externalURL": "",
             "alerts": [{"status": "firing", "fingerprint": "0a1b2c3d",
                         "labels": {"alertname": "OrdersLockWaits", "service": "orders"},
                         "annotations": {"summary": "orders database lock waits are high"},
                         "startsAt": datetime.now(UTC).isoformat()}]}
    outcome = replay(make_settings(tmp_path), config, Source.ALERTMANAGER, json.dumps(alert).encode())
    report = outcome.report
    assert report.playbook == "database-saturation"
    assert {q.name for q in report.queries} >= {"blocked_queries on orders_db",
                                                 "connections on orders_db"}
    blocking = [s for s in report.signals if s.kind.value == "db_blocking"]
    assert blocking and "nightly-export" in blocking[0].title
    assert report.findings is not None and not report.findings.abstained
    assert report.findings.hypotheses[0].category == "db-contention"


def test_sessions_idle_in_a_transaction_are_named_with_their_last_statement() -> None:
    from connectors import Evidence, EvidenceKind, EvidenceStatus
    from triage.analysis.database import database_signals
    from triage.analysis.signals import CitedEvidence

    at = datetime(2026, 10, 14, 9, 30, tzinfo=UTC)
    rows = [{"pid": 70 + n, "application_name": "refund-worker", "idle_seconds": 40 + n,
             "last_query": f"SELECT id FROM orders WHERE status = 'refund_pending' -- {n}"}
            for n in range(3)] + [{"pid": 9, "application_name": "psql", "idle_seconds": 5,
                                   "last_query": "SELECT 1"}]
    evidence = Evidence(connector="db", kind=EvidenceKind.DATABASE, status=EvidenceStatus.OK,
                        query="\\idle_in_transaction 30s", start=at, end=at, row_count=4, rows=rows)
    [found] = database_signals(CitedEvidence("idle", evidence))
    assert found.title == ("3 session(s) idle in an open transaction; longest 42s (pid 72, "
                           "refund-worker) after: SELECT id FROM orders WHERE status = "
                           "'refund_pending' -- 2")
