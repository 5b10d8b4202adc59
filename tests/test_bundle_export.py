"""Expectations from feedback and the alert body of an exported bundle (end to end:
tests/cli/test_feedback.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import Evidence
from connectors.base import EvidenceKind, EvidenceStatus, QueryRequest
from connectors.files_logs import FilesLogsConnector, FilesLogsSettings
from tests.conftest import sample
from triage.bundle_export import ExportError, expectations, log_fields, only_this_alert, write_logs
from triage.intake.alertmanager import AlertmanagerWebhook, normalize
from triage.scenarios import Expectations


def wrong(category: str, culprit: str | None = None) -> dict[str, Any]:
    return {"verdict": "wrong", "category": category, "culprit": culprit}


@pytest.mark.parametrize(("said", "expected", "truth"), [
    (wrong("false-alarm"), {"abstains": True, "blames_commit": False}, "false-alarm"),
    (wrong("abstain"), {"abstains": True, "blames_commit": False}, "false-alarm"),
    (wrong("db-contention"), {"top_category": "db-contention", "blames_commit": False},
     "db-contention"),
    (wrong("bad-deploy", "abc1234"), {"top_category": "bad-deploy", "culprit_commit": "abc1234"},
     "bad-deploy"),
    (wrong("config-change"), {"top_category": "config-change"}, "config-change"),
])
def test_a_wrong_verdict_expects_the_cause_people_named(said: dict[str, Any],
                                                        expected: dict[str, Any],
                                                        truth: str) -> None:
    found = expectations(said, None)
    assert found == expected
    assert Expectations.model_validate(found).truth() == truth  # what calibration scores against


def test_a_confirmed_verdict_needs_its_report() -> None:
    with pytest.raises(ExportError, match="no report"):
        expectations({"verdict": "right", "category": None, "culprit": None}, None)


def test_an_alertmanager_group_is_cut_to_the_investigated_alert() -> None:
    payload = sample("alertmanager/firing.json")
    webhook = AlertmanagerWebhook.model_validate(payload)
    second = normalize(webhook.alerts[1], webhook)
    body = only_this_alert(payload, second)
    assert [a["fingerprint"] for a in body["alerts"]] == [payload["alerts"][1]["fingerprint"]]
    assert body["groupKey"] == payload["groupKey"] and len(payload["alerts"]) == 2


def test_elasticsearch_log_rows_read_back_through_files_logs(tmp_path: Path) -> None:
    start, end = datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=UTC)
    rows = [{"@timestamp": f"2026-01-01T12:{m:02d}:00Z", "message": f"boom {m}", "level": "error"}
            for m in (30, 10, 20)]
    found = [Evidence(connector="es", kind=EvidenceKind.LOGS, status=EvidenceStatus.OK,
                      query="level=error", start=start, end=end, rows=rows[:2]),
             Evidence(connector="es", kind=EvidenceKind.LOGS, status=EvidenceStatus.OK,
                      query="*", start=start, end=end, rows=rows[1:])]
    fields = log_fields(found, None)
    assert fields == {"timestamp_field": "@timestamp"}
    write_logs(tmp_path / "logs.jsonl", found)
    reader = FilesLogsConnector("es", FilesLogsSettings(path=tmp_path / "logs.jsonl", **fields))
    read = reader.query(QueryRequest(query="level=error", start=start, end=end))
    assert [r["message"] for r in read.rows] == ["boom 10", "boom 20", "boom 30"]  # each once
