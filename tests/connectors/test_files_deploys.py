"""files_deploys: service filter, half-open time range, oldest first, malformed files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors import EvidenceKind, EvidenceStatus
from tests.connectors._util import T0, T1, at, connector, iso, req


def deploy(seconds: float, service: str, commit: str, **extra: Any) -> dict[str, Any]:
    return {"service": service, "commit": commit, "deployed_at": iso(seconds), **extra}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def deploys(tmp_path: Path):
    path = write_json(tmp_path / "deploys.json", [
        deploy(1800, "checkout", "c3" * 10, author="ana", description="Bump pool size"),
        deploy(-10, "checkout", "c0", description="yesterday's deploy"),
        deploy(0, "checkout", "c1", author="bo", description="Add retries"),
        deploy(600, "payments", "p1", description="new PSP client"),
        deploy(900, "Checkout", "c2", description="rollback retries", ticket="OPS-1"),
        deploy(3600, "checkout", "c4", description="at the end: excluded"),
    ])
    return connector("files_deploys", path, name="deploys")


def commits(evidence) -> list[str]:
    return [row["commit"] for row in evidence.rows]


def test_everything_in_range_sorted_oldest_first(deploys):
    ev = deploys.query(req(""))
    assert ev.status == EvidenceStatus.OK
    assert (ev.connector, ev.kind) == ("deploys", EvidenceKind.DEPLOYS)
    assert commits(ev) == ["c1", "p1", "c2", "c3" * 10]
    assert ev.row_count == 4


def test_filter_by_service_is_case_insensitive(deploys):
    assert commits(deploys.query(req("service=checkout"))) == ["c1", "c2", "c3" * 10]
    assert commits(deploys.query(req("service=PAYMENTS"))) == ["p1"]
    assert commits(deploys.query(req("service!=checkout"))) == ["p1"]


def test_filter_terms_search_the_description(deploys):
    assert commits(deploys.query(req("retries"))) == ["c1", "c2"]
    assert commits(deploys.query(req("retries !rollback"))) == ["c1"]
    assert commits(deploys.query(req('"pool size" author=ana'))) == ["c3" * 10]


def test_time_range_is_half_open(deploys):
    assert commits(deploys.query(req("", start=at(0), end=at(600)))) == ["c1"]
    assert commits(deploys.query(req("", start=at(-10), end=at(1)))) == ["c0", "c1"]
    assert commits(deploys.query(req("", start=T1, end=T1))) == []
    assert commits(deploys.query(req("", start=at(900), end=at(3601)))) == ["c2", "c3" * 10, "c4"]


def test_mixed_timestamp_formats_sort_in_utc(tmp_path: Path):
    path = write_json(tmp_path / "d.json", [
        {"service": "s", "commit": "b", "deployed_at": "2024-05-01T14:10:00+02:00"},  # 12:10Z
        {"service": "s", "commit": "a", "deployed_at": "2024-05-01T12:05:00"},  # naive = UTC
        {"service": "s", "commit": "c", "deployed_at": str(int(at(1200).timestamp()))},  # 12:20Z
    ])
    assert commits(connector("files_deploys", path).query(req(""))) == ["a", "b", "c"]


def test_rows_keep_every_field(deploys):
    row = deploys.query(req("ticket=ops-1")).rows[0]
    assert row == {
        "service": "Checkout", "commit": "c2", "deployed_at": iso(900), "id": "",
        "previous_commit": None, "author": "", "description": "rollback retries", "url": None,
        "files": [], "ticket": "OPS-1",
    }


def test_summary_lists_latest_five(tmp_path: Path):
    path = write_json(tmp_path / "d.json", [
        deploy(i * 60, "svc", f"commit{i:02d}abcdef", author=f"a{i}") for i in range(7)])
    ev = connector("files_deploys", path).query(req(""))
    assert ev.summary.startswith("7 deploys; latest: ")
    assert "commit00ab" not in ev.summary
    assert "commit01ab" not in ev.summary
    assert ev.summary.endswith(f"{iso(360)} svc commit06ab by a6")
    assert ev.summary.count(" by ") == 5


def test_no_match_is_no_data(deploys):
    ev = deploys.query(req("service=inventory"))
    assert ev.status == EvidenceStatus.NO_DATA
    assert ev.summary == "no rows matched"


def test_empty_list_is_no_data(tmp_path: Path):
    path = write_json(tmp_path / "d.json", [])
    assert connector("files_deploys", path).query(req("")).status == EvidenceStatus.NO_DATA


def test_row_limit_truncates(tmp_path: Path):
    path = write_json(tmp_path / "d.json", [deploy(i, "s", f"c{i}") for i in range(9, -1, -1)])
    ev = connector("files_deploys", path).query(req("", limit=3))
    assert (ev.truncated, ev.row_count, commits(ev)) == (True, 10, ["c0", "c1", "c2"])


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "detail"), [
    ("[", "Expecting value: line 1 column 2 (char 1)"),
    ("", "Expecting value: line 1 column 1 (char 0)"),
    ("not json", "Expecting value"),
    ('{"service": "checkout"}', "Input should be a valid dictionary or instance of Deploy"),
    ('"a string"', "Input should be a valid dictionary or instance of Deploy"),
    ("42", "'int' object is not iterable"),
    ("null", "'NoneType' object is not iterable"),
    ('[["checkout", "c1"]]', "Input should be a valid dictionary or instance of Deploy"),
    ('[{"service": "checkout", "deployed_at": "2024-05-01T12:00:00Z"}]',
     "commit\n  Field required"),
    ('[{"service": "s", "commit": "c", "deployed_at": 1714564800}]',
     "deployed_at\n  Input should be a valid string"),
    ('[{"service": "s", "commit": "c", "deployed_at": "x", "files": "a.py"}]',
     "files\n  Input should be a valid list"),
])
def test_malformed_or_wrong_shape_is_error_evidence(tmp_path: Path, content: str, detail: str):
    path = tmp_path / "d.json"
    path.write_text(content, encoding="utf-8")
    request = req("service=checkout")
    ev = connector("files_deploys", path, name="deploys").query(request)
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith(f"{path} is not a JSON list of deploys: ")
    assert detail in ev.error
    assert ev.query == "service=checkout"
    assert (ev.start, ev.end) == (T0, T1)
    assert ev.rows == []


def test_non_utf8_file_is_error_evidence(tmp_path: Path):
    path = tmp_path / "d.json"
    path.write_bytes(b"[\xff]")
    ev = connector("files_deploys", path).query(req(""))
    assert ev.status == EvidenceStatus.ERROR
    assert "can't decode byte 0xff" in (ev.error or "")


def test_missing_file_is_error_evidence(tmp_path: Path):
    path = tmp_path / "nope.json"
    ev = connector("files_deploys", path).query(req(""))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == f"deploys file not found: {path}"


def test_bad_filter_is_error_evidence(deploys):
    ev = deploys.query(req('service="checkout'))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == "cannot parse filter 'service=\"checkout': No closing quotation"


def test_unparseable_deployed_at_is_error_evidence(tmp_path: Path):
    path = write_json(tmp_path / "d.json", [
        deploy(0, "s", "good"), {"service": "s", "commit": "bad", "deployed_at": "last tuesday"}])
    ev = connector("files_deploys", path).query(req(""))
    assert ev.status == EvidenceStatus.ERROR


def test_directory_instead_of_file_is_error_evidence(tmp_path: Path):
    ev = connector("files_deploys", tmp_path).query(req(""))
    assert ev.status == EvidenceStatus.ERROR
