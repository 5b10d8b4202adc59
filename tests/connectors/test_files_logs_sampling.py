"""files_logs under a cap: the newest lines, a per-minute sample, exact counts (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.connectors._util import T0, connector, req
from tests.connectors.sampling_fixtures import CAP, OOM, RARE, TOTAL, assert_capped, assert_whole, iso, window


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sampling") / "app.jsonl"
    with target.open("w", encoding="utf-8") as out:
        for entry in window().entries:
            out.write(json.dumps({"timestamp": iso(entry.stamp), "level": entry.level,
                                  "message": entry.message}) + "\n")
    return target


def test_a_capped_window_keeps_the_newest_lines_and_a_sample_of_every_minute(path: Path):
    evidence = connector("files_logs", path).query(req("", limit=CAP))
    assert_capped(evidence, "timestamp")
    assert evidence.summary.startswith(f"{TOTAL} lines (info=")


def test_rare_shapes_survive_the_sample(path: Path):
    kept = connector("files_logs", path).query(req("", limit=CAP))
    rare = [row["timestamp"][:16] for row in kept.rows if row["message"] == RARE]
    assert rare == [f"2024-05-01T12:{minute:02d}" for minute in range(0, 60, 10)]


def test_the_sample_is_the_same_on_every_run(path: Path):
    first = connector("files_logs", path).query(req("", limit=CAP))
    again = connector("files_logs", path).query(req("", limit=CAP))
    assert first.rows == again.rows
    other = connector("files_logs", path).query(req("level!=debug", limit=CAP))
    assert other.rows != first.rows  # seeded by the query: another query draws another sample


def test_a_filtered_query_counts_only_what_matched(path: Path):
    errors = sum(1 for entry in window().entries if entry.level == "error")
    evidence = connector("files_logs", path).query(req("level=error", limit=CAP))
    assert evidence.sampling is not None
    assert evidence.row_count == evidence.sampling.matched == errors
    assert {minute.minute for minute in evidence.sampling.per_minute if minute.count} == {
        f"2024-05-01T12:{minute:02d}:00Z" for minute in range(45, 60)}
    assert OOM in {row["message"] for row in evidence.rows}


def test_a_window_under_the_cap_is_returned_whole(path: Path):
    small = req("", start=T0, end=T0.replace(minute=3), limit=CAP)
    expected = sum(1 for entry in window().entries if entry.stamp < small.end)
    assert_whole(connector("files_logs", path).query(small), "timestamp", expected)
