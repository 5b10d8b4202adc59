"""sqlite under a cap: a log-shaped result (it has a time column) keeps the newest rows and a
per-minute sample with exact counts, like the logs connectors (issue 17)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.connectors._util import T0, connector, req
from tests.connectors.sampling_fixtures import CAP, RARE, assert_capped, assert_whole, iso, window

WINDOW = "SELECT ts, level, msg FROM logs WHERE ts >= :start AND ts < :end"


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sampling") / "logs.db"
    conn = sqlite3.connect(target)
    # Stored like `QueryRequest` binds :start / :end (ISO 8601 with +00:00), so text compares in order.
    conn.execute("CREATE TABLE logs (id INTEGER PRIMARY KEY, ts TEXT, level TEXT, msg TEXT)")
    conn.executemany("INSERT INTO logs (ts, level, msg) VALUES (?, ?, ?)",
                     [(entry.stamp.isoformat(), entry.level, entry.message) for entry in window().entries])
    conn.commit()
    conn.close()
    return target


def test_a_capped_log_shaped_result_keeps_the_newest_rows_and_a_sample_of_every_minute(path: Path):
    evidence = connector("sqlite", path).query(req(WINDOW, limit=CAP))
    assert_capped(evidence, "ts", "msg")
    assert {row["ts"][:16] for row in evidence.rows if row["msg"] == RARE} == {
        iso(T0.replace(minute=minute))[:16] for minute in range(0, 60, 10)}


def test_a_result_under_the_cap_keeps_the_statement_order(path: Path):
    small = req(WINDOW + " ORDER BY ts DESC", end=T0.replace(minute=3), limit=CAP)
    expected = sum(1 for entry in window().entries if entry.stamp < small.end)
    evidence = connector("sqlite", path).query(small)
    assert evidence.rows[0]["ts"] > evidence.rows[-1]["ts"]
    assert evidence.sampling is not None
    assert (evidence.row_count, evidence.truncated, evidence.sampling.method) == (
        expected, False, f"all {expected} matched lines")
    ordered = connector("sqlite", path).query(req(WINDOW + " ORDER BY ts", end=small.end, limit=CAP))
    assert_whole(ordered, "ts", expected)


def test_a_result_without_a_time_column_keeps_its_first_rows_and_counts_the_rest(path: Path):
    evidence = connector("sqlite", path).query(req("SELECT id FROM logs ORDER BY id", limit=10))
    assert [row["id"] for row in evidence.rows] == list(range(1, 11))
    assert (evidence.row_count, evidence.truncated, evidence.sampling) == (len(window().entries), True, None)
