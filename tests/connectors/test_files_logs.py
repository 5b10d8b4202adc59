"""files_logs: half-open time range, the filter language, error evidence, bounded rows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import EvidenceKind, EvidenceStatus
from connectors.base import MAX_CELL_CHARS
from tests.connectors._util import T0, T1, at, connector, iso, req


def write_lines(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line(seconds: float, message: str = "hello", level: str = "info", **fields: Any) -> dict[str, Any]:
    return {"timestamp": iso(seconds), "level": level, "message": message, **fields}


def messages(evidence) -> list[str]:
    return [row["message"] for row in evidence.rows]


@pytest.fixture
def logs(tmp_path: Path):
    path = write_lines(tmp_path / "app.jsonl", [
        line(10, "connection refused by upstream db", "error", service="checkout"),
        line(20, "Connection REFUSED by cache", "ERROR", service="Checkout"),
        line(30, "connection was refused", "warn", service="checkout"),
        line(40, "debug connection refused dump", "debug", service="checkout"),
        line(50, "all good", "info", service="checkout"),
        line(60, "payment declined", "error", service="payments"),
        line(70, "no level here", service="checkout") | {"level": None},
    ])
    return connector("files_logs", path, name="app-logs")


# --- time range ---------------------------------------------------------------------------------

def test_time_range_is_half_open(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        {"timestamp": (T0 - timedelta(microseconds=1)).isoformat(), "message": "just before"},
        {"timestamp": T0.isoformat(), "message": "at start"},
        {"timestamp": (T1 - timedelta(microseconds=1)).isoformat(), "message": "just before end"},
        {"timestamp": T1.isoformat(), "message": "at end"},
        {"timestamp": (T1 + timedelta(seconds=1)).isoformat(), "message": "after"},
    ])
    ev = connector("files_logs", path).query(req(""))
    assert ev.status == EvidenceStatus.OK
    assert messages(ev) == ["at start", "just before end"]
    assert ev.row_count == 2


def test_time_range_applies_even_with_a_filter_and_with_an_empty_query(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        line(-5, "boom", "error"), line(5, "boom", "error"), line(3600, "boom", "error"),
    ])
    conn = connector("files_logs", path)
    assert messages(conn.query(req(""))) == ["boom"]
    assert [r["timestamp"] for r in conn.query(req("level=error")).rows] == [iso(5)]


def test_epoch_and_offset_timestamps_are_compared_in_utc(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        {"timestamp": at(1).timestamp(), "message": "epoch seconds"},
        {"timestamp": int(at(2).timestamp() * 1000), "message": "epoch millis"},
        {"timestamp": at(3).astimezone().isoformat(), "message": "local offset"},
        {"timestamp": "2024-05-01T14:00:04+02:00", "message": "plus two"},
        {"timestamp": "2024-05-01T12:00:05", "message": "naive is utc"},
        {"timestamp": "2024-05-01T14:30:00+02:00", "message": "outside (12:30Z is inside)"},
        {"timestamp": "2024-05-01T12:00:00-01:00", "message": "13:00Z is the end: excluded"},
    ])
    ev = connector("files_logs", path).query(req(""))
    assert messages(ev) == ["epoch seconds", "epoch millis", "local offset", "plus two",
                            "naive is utc", "outside (12:30Z is inside)"]


# --- filter language ----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ("service=checkout", [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "connection was refused", "debug connection refused dump", "all good", "no level here"]),
    ("SERVICE=checkout", []),  # field names are exact; only values are case-insensitive
    ("service=CHECKOUT level=ERROR", [
        "connection refused by upstream db", "Connection REFUSED by cache"]),
    ("level!=info level!=debug", [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "connection was refused", "payment declined", "no level here"]),
    ("level!=INFO level!=Debug service!=payments", [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "connection was refused", "no level here"]),
    ('"connection refused"', [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "debug connection refused dump"]),
    ("'CONNECTION refused'", [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "debug connection refused dump"]),
    ("connection refused", [  # two words, each must appear (not a phrase)
        "connection refused by upstream db", "Connection REFUSED by cache",
        "connection was refused", "debug connection refused dump"]),
    ('"connection refused" !debug', [
        "connection refused by upstream db", "Connection REFUSED by cache"]),
    ('"connection refused" !DEBUG !cache', ["connection refused by upstream db"]),
    ("!connection !good", ["payment declined", "no level here"]),
    ('level=error "connection refused" service=checkout', ["connection refused by upstream db",
                                                          "Connection REFUSED by cache"]),
    ("team=core", []),  # absent field equals "" only
    ("team!=core", [
        "connection refused by upstream db", "Connection REFUSED by cache",
        "connection was refused", "debug connection refused dump", "all good",
        "payment declined", "no level here"]),
])
def test_filter_terms(logs, query: str, expected: list[str]):
    ev = logs.query(req(query))
    assert messages(ev) == expected
    assert ev.row_count == len(expected)
    assert ev.status == (EvidenceStatus.OK if expected else EvidenceStatus.NO_DATA)
    assert ev.query == query


def test_quoted_value_with_space_in_field_term(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        line(1, "x", route="GET /cart"), line(2, "y", route="GET /pay"),
    ])
    ev = connector("files_logs", path).query(req('route="get /cart"'))
    assert messages(ev) == ["x"]


def test_repeated_equals_terms_are_anded(logs):
    ev = logs.query(req("level=warn level=error"))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.rows == []


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "message"), [
    ('level=error "connection refused', "cannot parse filter 'level=error \"connection refused': "
                                        "No closing quotation"),
    ("'oops", "cannot parse filter \"'oops\": No closing quotation"),
    ("=x", "filter term '=x' needs a field and a value, like level=error"),
    ("level=", "filter term 'level=' needs a field and a value, like level=error"),
    ("!=x", "filter term '!=x' needs a field and a value, like level=error"),
    ("level!=", "filter term 'level!=' needs a field and a value, like level=error"),
    ("service=checkout  = ", "filter term '=' needs a field and a value, like level=error"),
])
def test_unparseable_filter_is_error_evidence_with_exact_query(logs, query: str, message: str):
    request = req(query)
    ev = logs.query(request)
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == message
    assert ev.summary == message
    assert ev.query == query
    assert (ev.connector, ev.kind) == ("app-logs", EvidenceKind.LOGS)
    assert (ev.start, ev.end) == (request.start, request.end)
    assert ev.rows == []
    assert ev.row_count == 0


def test_missing_file_is_error_evidence(tmp_path: Path):
    path = tmp_path / "nope.jsonl"
    ev = connector("files_logs", path).query(req("level=error"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"log file not found: {path}"
    assert ev.query == "level=error"
    assert not path.exists()


def test_directory_instead_of_file_is_error_evidence(tmp_path: Path):
    ev = connector("files_logs", tmp_path).query(req(""))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"log file not found: {tmp_path}"


def test_filter_error_wins_over_missing_file(tmp_path: Path):
    ev = connector("files_logs", tmp_path / "nope.jsonl").query(req("=x"))
    assert ev.error == "filter term '=x' needs a field and a value, like level=error"


# --- unreadable lines ---------------------------------------------------------------------------

def test_non_json_lines_are_skipped_and_counted(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        "plain text line",
        line(1, "first", "error"),
        "",
        "   ",
        "{not json",
        json.dumps({"message": "json without timestamp"}),
        json.dumps({"timestamp": "yesterday-ish", "message": "bad timestamp"}),
        json.dumps([1, 2, 3]),
        json.dumps("a string"),
        "null",
        line(2, "second 42", "error"),
    ])
    ev = connector("files_logs", path).query(req(""))
    assert messages(ev) == ["first", "second 42"]
    assert ev.summary.endswith("(7 lines were not JSON with a timestamp and were skipped)")
    assert ev.summary.startswith("2 lines (error=2); top: ")
    assert "1× second N" in ev.summary  # digits are normalised in the top messages


def test_summary_without_unreadable_lines_has_no_note(logs):
    ev = logs.query(req("service=payments"))
    assert ev.summary == "1 lines (error=1); top: 1× payment declined"


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(json.dumps(line(1, "ok")).encode() + b"\n\xff\xfe garbage\n")
    ev = connector("files_logs", path).query(req(""))
    assert messages(ev) == ["ok"]
    assert "(1 lines were not JSON" in ev.summary


@pytest.mark.parametrize("stamp", ["1e300", "Infinity", '"99999999999999999999"'])
def test_out_of_range_timestamp_line_is_skipped(tmp_path: Path, stamp: str):
    path = write_lines(tmp_path / "a.jsonl", [
        '{"timestamp": ' + stamp + ', "message": "bad"}',
        line(1, "good"),
    ])
    ev = connector("files_logs", path).query(req(""))
    assert messages(ev) == ["good"]
    assert "(1 lines were not JSON" in ev.summary


# --- results ------------------------------------------------------------------------------------

def test_no_match_is_no_data(logs):
    ev = logs.query(req('"no such phrase anywhere"'))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.rows == []
    assert ev.row_count == 0
    assert ev.truncated is False
    assert ev.summary == "no rows matched"
    assert ev.error is None


def test_empty_file_is_no_data(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text("")
    assert connector("files_logs", path).query(req("")).status == EvidenceStatus.NO_DATA


def test_rows_come_back_oldest_first(tmp_path: Path):
    order = [40, 5, 3000, 0, 17, 1200]
    path = write_lines(tmp_path / "a.jsonl", [line(s, f"m{s}") for s in order])
    ev = connector("files_logs", path).query(req(""))
    assert messages(ev) == [f"m{s}" for s in sorted(order)]
    assert ev.rows[0] == line(0, "m0")  # whole record, fields untouched


def test_row_limit_truncates_and_reports_true_total(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [line(s, f"m{s}") for s in range(50, 0, -1)])
    ev = connector("files_logs", path).query(req("", limit=7))
    assert ev.status == EvidenceStatus.OK
    assert ev.truncated is True
    assert ev.row_count == 50
    kept = messages(ev)
    assert kept[-4:] == ["m47", "m48", "m49", "m50"]  # the newest are kept, oldest first
    assert len(kept) == 7 and set(kept[:3]) <= {f"m{s}" for s in range(1, 47)}
    assert kept == messages(connector("files_logs", path).query(req("", limit=7)))  # same on a rerun
    assert ev.summary.startswith("50 lines (info=50)")
    assert ev.summary.endswith("(sampled: newest 4 + per-minute stratified sample of 3 from 50 matched)")
    assert ev.sampling is not None
    assert (ev.sampling.matched, ev.sampling.kept, ev.sampling.newest, ev.sampling.sampled) == (50, 7, 4, 3)


def test_exactly_limit_rows_is_not_truncated(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [line(s) for s in range(5)])
    ev = connector("files_logs", path).query(req("", limit=5))
    assert (ev.truncated, ev.row_count, len(ev.rows)) == (False, 5, 5)


def test_long_cell_is_clipped_in_the_middle_with_a_marker(tmp_path: Path):
    half = MAX_CELL_CHARS // 2
    long_message = "A" * half + "M" * 3000 + "Z" * half
    path = write_lines(tmp_path / "a.jsonl", [line(1, long_message, extra="B" * 4000)])
    ev = connector("files_logs", path).query(req(""))
    clipped = ev.rows[0]["message"]
    assert clipped == "A" * half + "…[3000 chars cut]…" + "Z" * half
    assert ev.rows[0]["extra"] == "B" * half + "…[2000 chars cut]…" + "B" * half
    assert ev.rows[0]["level"] == "info"


def test_cell_at_the_limit_is_not_clipped(tmp_path: Path):
    exact = "x" * MAX_CELL_CHARS
    path = write_lines(tmp_path / "a.jsonl", [line(1, exact)])
    assert connector("files_logs", path).query(req("")).rows[0]["message"] == exact


def test_custom_field_names(tmp_path: Path):
    path = write_lines(tmp_path / "a.jsonl", [
        {"ts": iso(1), "msg": "Disk FULL", "severity": "crit"},
        {"ts": iso(2), "msg": "disk ok", "severity": "info"},
    ])
    conn = connector("files_logs", path, timestamp_field="ts", message_field="msg",
                     level_field="severity")
    ev = conn.query(req('"disk full"'))
    assert [r["msg"] for r in ev.rows] == ["Disk FULL"]
    assert ev.summary.startswith("1 lines (crit=1)")
