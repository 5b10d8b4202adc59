"""Expectations from feedback and the alert body of an exported bundle (end to end:
tests/cli/test_feedback.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import sample
from triage.bundle_export import ExportError, expectations, only_this_alert
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
