"""Regression tests for the ten causes of 5xx on bad input (issue 12), on SQLite and PostgreSQL:
each answer is a 202 or a 4xx naming the field, and what is stored is storable."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import sample
from tests.intake.conftest import Intake, unique
from triage.intake.parsing import MAX_DEPTH, MAX_ID_LENGTH
from triage.store import alerts

PD = sample("pagerduty/incident_triggered.json")
AM = sample("alertmanager/firing.json")
DD = sample("datadog/triggered.json")


def pd_trigger(**data: Any) -> dict[str, Any]:
    """The PagerDuty sample with fresh ids and `data` fields replaced."""
    payload = copy.deepcopy(PD)
    payload["event"]["id"] = unique("ev-")
    payload["event"]["data"] |= {"id": unique("PINC")} | data
    return payload


def am_firing(**alert: Any) -> dict[str, Any]:
    """The Alertmanager sample with one alert, a fresh fingerprint and `alert` fields replaced."""
    payload = copy.deepcopy(AM)
    payload["alerts"] = [payload["alerts"][0] | {"fingerprint": unique("fp")} | alert]
    return payload


def dd_trigger(**fields: Any) -> dict[str, Any]:
    """The Datadog sample with fresh ids and `fields` replaced."""
    return DD | {"id": str(10**12 + int(unique(""))), "alert_cycle_key": unique("")} | fields


RAW = "@@raw@@"


def with_raw(payload: dict[str, Any], token: str) -> bytes:
    """The payload as JSON with the value `RAW` written as the literal `token`."""
    return json.dumps(payload).replace(json.dumps(RAW), token).encode()


def stored(intake: Intake, investigation_id: str) -> Any:
    """The alert row the 202 named (stored before the answer; its investigation follows)."""
    with intake.runtime.store.read() as conn:
        return conn.execute(sa.select(alerts).where(
            alerts.c.investigation_id == investigation_id)).one()


def refused(response: Any, field: str | None, words: str) -> None:
    """A 400 naming `field` (when given) and saying `words`."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body.get("field") == field, body
    assert words in body["error"], body


def accepted(response: Any) -> str:
    """The investigation id of a 202 `accepted`."""
    assert response.status_code == 202, response.text
    result = response.json()["results"][0]
    assert result["status"] == "accepted", result
    return str(result["investigation_id"])


def test_1_deep_nesting_is_400(intake: Intake) -> None:
    deep = "[" * 1000 + "]" * 1000
    refused(intake.pagerduty(with_raw(pd_trigger(urgency=RAW), deep)), None, "nested deeper")
    payload = am_firing()
    nested: Any = "x"
    for _ in range(MAX_DEPTH + 5):  # parses in Python, but deeper than the layer allows
        nested = {"a": nested}
    payload["alerts"][0]["annotations"] = nested
    response = intake.alertmanager(payload)
    refused(response, response.json().get("field"), f"nested deeper than {MAX_DEPTH} levels")
    assert response.json()["field"].startswith("alerts.0.annotations.a.a")


def test_2_integer_beyond_pythons_digit_limit_is_400_naming_the_field(intake: Intake) -> None:
    body = with_raw(dd_trigger(priority=RAW), "9" * 4301)
    refused(intake.datadog(body), "priority", "integer of 4301 digits")
    body = with_raw(pd_trigger(number=RAW), "-" + "1" * 5000)
    refused(intake.pagerduty(body), "event.data.number", "integer of 5000 digits")


@pytest.mark.parametrize("where", ["title", "label", "id", "event_type"])
def test_3_lone_surrogates_become_replacement_characters(intake: Intake, where: str) -> None:
    payload = am_firing()
    first = payload["alerts"][0]
    if where == "title":
        first["annotations"]["summary"] = "bad \ud800 title"
    elif where == "label":
        first["labels"]["zone\udfff"] = "eu-\ud83d"
    elif where == "id":
        first["fingerprint"] = unique("fp\udc00")
    else:
        pd = pd_trigger()
        pd["event"]["event_type"] = "incident.\ud800odd"
        answer = intake.pagerduty(pd)  # the "ignored" reply quotes it
        assert answer.status_code == 202, answer.text
        assert "incident.\ufffdodd does not start triage" in answer.json()["results"][0]["reason"]
        return
    row = stored(intake, accepted(intake.alertmanager(payload)))
    assert "bad \ufffd title" in row.title if where == "title" else True
    if where == "label":
        assert row.labels["zone\ufffd"] == "eu-\ufffd"
    if where == "id":
        assert "\ufffd" in row.external_id


@pytest.mark.parametrize(("value", "words"), [
    ("0001-01-01T00:00:00+01:00", "outside the representable range"),
    ("9999-12-31T23:59:59-00:01", "outside the representable range"),
    ("9999-12-31T23:59:59", "is not between 1970-01-01 and 2200-01-01"),
    ("0001-01-01T00:00:00", "is not between 1970-01-01 and 2200-01-01"),
])
def test_4_timestamps_at_the_range_edges_are_400(intake: Intake, value: str, words: str) -> None:
    refused(intake.pagerduty(pd_trigger(created_at=value)), "event.data.created_at", words)
    refused(intake.alertmanager(am_firing(startsAt=value)), "alerts.0.startsAt", words)
    pd = pd_trigger()
    pd["event"]["occurred_at"] = value
    if "+" in value or "-00:01" in value:  # unread, but still must not overflow
        refused(intake.pagerduty(pd), "event.occurred_at", words)


def test_4_alertmanagers_zero_end_time_is_still_accepted(intake: Intake) -> None:
    accepted(intake.alertmanager(am_firing(endsAt="0001-01-01T00:00:00Z")))


def test_5_empty_pagerduty_incident_id_is_400(intake: Intake) -> None:
    refused(intake.pagerduty(pd_trigger(id="")), "event.data.id", "must not be empty")
    resolved = sample("pagerduty/incident_resolved.json")
    resolved["event"]["id"] = unique("ev-")
    resolved["event"]["data"]["id"] = " "
    refused(intake.pagerduty(resolved), "event.data.id", "must not be empty")


@pytest.mark.parametrize("date", ["253402300800000", "9" * 19, "9" * 30, 9 * 10**40, -5, 1e300])
def test_6_datadog_dates_out_of_range_are_400(intake: Intake, date: Any) -> None:
    refused(intake.datadog(dd_trigger(date=date)), "date", "not between")


@pytest.mark.parametrize(("date", "last_updated"), [
    (1715678123000, 1715678123000),  # unquoted template variables: JSON numbers
    ("1715678123", "1715678123000"),  # seconds, as a hand-written template may send
    (1715678123.0, None),
    ("2024-05-14T09:15:23Z", None),
])
def test_datadog_date_as_number_or_text_is_accepted(intake: Intake, date: Any,
                                                    last_updated: Any) -> None:
    payload = dd_trigger(date=date, last_updated=last_updated, id=int(unique("9")))
    row = stored(intake, accepted(intake.datadog(payload)))
    assert row.started_at.isoformat() == "2024-05-14T09:15:23+00:00"


def test_7_offset_past_the_bound_is_refused_not_a_500(intake: Intake) -> None:
    response = intake.client.get("/api/investigations?offset=9223372036854775808")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    edge = intake.client.get("/api/investigations?offset=1000000000")
    assert edge.status_code == 200
    assert edge.json()["investigations"] == []


def test_8_nul_characters_are_removed_before_storing(intake: Intake) -> None:
    payload = am_firing()
    payload["alerts"][0]["annotations"]["summary"] = "nul\u0000inside"
    payload["alerts"][0]["labels"]["k\u0000"] = "v\u0000"
    payload["commonAnnotations"] = {"x": "\u0000"}
    row = stored(intake, accepted(intake.alertmanager(payload)))
    assert "nulinside" in row.title
    assert row.labels["k"] == "v"
    assert row.payload["commonAnnotations"] == {"x": ""}


@pytest.mark.parametrize("path", ["/reports/%00", "/reports/%00.md", "/api/investigations/%00",
                                  "/api/investigations/inv_x/steps/%00",
                                  "/reports/inv_%00/fix.patch", "/reports/" + "x" * 600])
def test_8_nul_or_overlong_ids_in_paths_are_404(intake: Intake, path: str) -> None:
    assert intake.client.get(path).status_code == 404


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999"])
def test_9_non_finite_numbers_anywhere_are_400_naming_the_field(intake: Intake,
                                                                token: str) -> None:
    response = intake.datadog(with_raw(dd_trigger(priority=RAW), token))
    refused(response, "priority", "")
    assert any(words in response.json()["error"] for words in ("not a JSON number", "out of range"))
    nested = with_raw(pd_trigger(urgency=[1, RAW]), token)
    refused(intake.pagerduty(nested), "event.data.urgency.1", "")


def test_10_ids_longer_than_the_limit_are_400_naming_the_field(intake: Intake) -> None:
    long = "x" * (MAX_ID_LENGTH + 1)
    refused(intake.pagerduty(pd_trigger(id=long)), "event.data.id", "at most 200 characters, not 201")
    pd = pd_trigger()
    pd["event"]["id"] = long
    refused(intake.pagerduty(pd), "event.id", "at most 200")
    refused(intake.pagerduty(pd_trigger(), {"x-webhook-id": long}), "X-Webhook-Id", "longer")
    refused(intake.alertmanager(am_firing(fingerprint="f" * 600)), "alerts.0.fingerprint",
            "at most 200")
    refused(intake.datadog(dd_trigger(id="1" * 600)), "id", "at most 200")
    refused(intake.datadog(dd_trigger(alert_cycle_key="1" * 600)), "alert_cycle_key", "at most")
    # the longest ids accepted still fit every column they are stored in
    both = dd_trigger(alert_id="7" * MAX_ID_LENGTH, alert_cycle_key=unique("8").ljust(200, "8"))
    accepted(intake.datadog(both))
    accepted(intake.pagerduty(pd_trigger(id=unique("P").ljust(MAX_ID_LENGTH, "p")),
                              {"x-webhook-id": unique("w").ljust(MAX_ID_LENGTH, "w")}))
