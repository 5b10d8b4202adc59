"""Repro commands templated from the alert and the evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors import Evidence, EvidenceKind, EvidenceStatus
from triage.fix.config import ReproSpec
from triage.fix.template import InputMissing, render, resolve_inputs

AT = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


def evidence(kind: EvidenceKind, rows: list[dict[str, Any]],
             status: EvidenceStatus = EvidenceStatus.OK) -> Evidence:
    return Evidence(connector="c", kind=kind, status=status, query="q", start=AT, end=AT,
                    row_count=len(rows), rows=rows)


LOGS = evidence(EvidenceKind.LOGS, [
    {"message": "TypeError in total() order=1", "request": {"order": 1, "items": ["a"]}},
    {"message": "all good"},
    {"message": "TypeError in total() order=2", "request": {"order": 2, "items": ["b"]}},
])


def spec(**inputs: dict[str, Any]) -> ReproSpec:
    return ReproSpec.model_validate({"command": ["run", *(f"{{{n}}}" for n in inputs)],
                                     "inputs": inputs})


def test_a_field_of_the_newest_matching_row_becomes_json() -> None:
    values = resolve_inputs(spec(request={"match": "TypeError", "field": "request"}), [LOGS])
    assert values == {"request": '{"items": ["b"], "order": 2}'}


def test_first_pick_a_regex_group_or_the_whole_message() -> None:
    values = resolve_inputs(spec(order={"match": r"order=(\d+)", "pick": "first"},
                                 line={"match": "TypeError"}), [LOGS])
    assert values == {"order": "1", "line": "TypeError in total() order=2"}


def test_only_ok_evidence_of_the_right_kind_is_searched() -> None:
    failed = evidence(EvidenceKind.LOGS, [{"message": "TypeError order=9"}], EvidenceStatus.ERROR)
    metrics = evidence(EvidenceKind.METRICS, [{"message": "TypeError order=8"}])
    with pytest.raises(InputMissing) as caught:
        resolve_inputs(spec(order={"match": r"order=(\d+)"}), [failed, metrics])
    pattern = r"order=(\d+)"
    assert str(caught.value) == (f"input 'order': no gathered logs row matches {pattern!r} "
                                 "(0 row(s) searched)")


def test_a_missing_field_names_the_fields_there_are() -> None:
    with pytest.raises(InputMissing, match=r"has no field 'body' \(fields: message, request\)"):
        resolve_inputs(spec(r={"match": "TypeError", "field": "body"}), [LOGS])


def test_rows_without_a_message_are_searched_as_json() -> None:
    deploys = evidence(EvidenceKind.DEPLOYS, [{"commit": "abc123", "service": "checkout"}])
    values = resolve_inputs(spec(sha={"kind": "deploys", "match": '"commit": "([0-9a-f]+)"'}),
                            [deploys])
    assert values == {"sha": "abc123"}


def test_render_fills_placeholders_and_keeps_doubled_braces() -> None:
    argv = render(["jq", "{{.x}}", "--arg", "{name}", "pre-{name}-post"],
                  {"name": "a b; rm -rf /"})
    assert argv == ["jq", "{.x}", "--arg", "a b; rm -rf /", "pre-a b; rm -rf /-post"]


def test_an_object_a_backend_flattened_into_dotted_columns_is_rebuilt() -> None:
    # Elasticsearch rows: nested objects as `a.b` columns, lists as compact JSON text
    flat = evidence(EvidenceKind.LOGS, [
        {"message": "TypeError order=3", "request.order": 3, "request.body.items": '["c",1]',
         "request.body.note": "[not json", "requested": "x"},
    ])
    values = resolve_inputs(spec(request={"match": "TypeError", "field": "request"}), [flat])
    assert values == {"request": '{"body": {"items": ["c", 1], "note": "[not json"}, "order": 3}'}
