"""The parsing layer on its own: bounded, total, and what it promises the stages after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from triage.intake.parsing import (
    EARLIEST,
    LATEST,
    MAX_DEPTH,
    AlertTime,
    EpochTime,
    Id,
    IntakeError,
    clean_text,
    parse_json,
    validate,
)
from triage.playbook import PlaybookLibrary


class Sample(BaseModel):
    """A model using each field type of the layer."""

    id: Id
    at: AlertTime
    date: EpochTime | None = None


def test_strings_keep_their_meaning_and_lose_only_what_cannot_be_stored() -> None:
    assert clean_text("a\x00b\x00") == "ab"
    assert clean_text("x\ud800y\udfff") == "x\ufffdy\ufffd"
    assert clean_text("\U0001f600 ok") == "\U0001f600 ok"  # a proper pair is one character
    parsed = parse_json(b'{"k\\u0000": ["\\ud83d\\ude00", "\\udc00"]}')
    assert parsed == {"k": ["\U0001f600", "\ufffd"]}


def test_nesting_exactly_at_the_limit_passes_and_one_more_level_is_refused() -> None:
    at_limit = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_json(f'{{"a": {at_limit}}}'.encode())["a"] is not None
    deeper = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    with pytest.raises(IntakeError, match=f"nested deeper than {MAX_DEPTH}") as refused:
        parse_json(f'{{"a": {deeper}}}'.encode())
    assert refused.value.field == "a" + ".0" * (MAX_DEPTH - 1)


def test_a_top_level_number_out_of_range_is_named_as_the_body() -> None:
    with pytest.raises(IntakeError, match=r"\(body\): number '1e999' is out of range"):
        parse_json(b"1e999")


@pytest.mark.parametrize(("value", "expected"), [
    (1715678123000, datetime(2024, 5, 14, 9, 15, 23, tzinfo=UTC)),
    ("1715678123", datetime(2024, 5, 14, 9, 15, 23, tzinfo=UTC)),
    ("1715678123500.0", datetime(2024, 5, 14, 9, 15, 23, 500000, tzinfo=UTC)),
    ("2024-05-14T11:15:23+02:00", datetime(2024, 5, 14, 9, 15, 23, tzinfo=UTC)),
])
def test_epoch_times_in_every_form_vendors_send(value: Any, expected: datetime) -> None:
    assert validate(Sample, {"id": 7, "at": expected.isoformat(), "date": value}).date == expected


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(value=st.one_of(st.integers(), st.floats(), st.text(max_size=40), st.none(), st.booleans(),
                       st.datetimes().map(str), st.datetimes(timezones=st.timezones()).map(str)))
def test_the_layer_is_total_a_value_or_a_400_naming_the_field(value: Any) -> None:
    for field in ("id", "at", "date"):
        data = {"id": "x", "at": "2024-05-14T09:15:23Z", field: value}
        try:
            parsed = validate(Sample, data)
        except IntakeError as exc:
            refusal: IntakeError | None = exc
        else:
            refusal = None
        if refusal is not None:
            assert (refusal.status_code, refusal.field) == (400, field)
            continue
        assert EARLIEST <= parsed.at < LATEST
        assert parsed.date is None or EARLIEST <= parsed.date < LATEST


@pytest.mark.parametrize("started_at", [EARLIEST, LATEST - timedelta(microseconds=1)])
def test_every_playbook_window_around_the_accepted_edges_stays_in_range(
        started_at: datetime) -> None:
    """An alert the layer accepts never overflows the first stage's window arithmetic."""
    library = PlaybookLibrary([])
    assert library.playbooks
    for playbook in library.playbooks.values():
        start, onset, end = playbook.window.bounds(started_at)
        assert start <= onset <= end
        assert start.isoformat() and end.isoformat()


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
              allow_infinity=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=30)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=_JSON, ascii_only=st.booleans())
def test_bodies_that_skip_the_cleaning_walk_parse_as_the_walk_would(value: Any,
                                                                     ascii_only: bool) -> None:
    """Most bodies need no cleaning and skip the walk; with or without escapes (`\\u0000`,
    lone surrogates, any other `\\u`), the result is what the walk makes of them."""
    import json

    from triage.intake.parsing import _clean

    body = json.dumps({"v": value}, ensure_ascii=ascii_only)
    assert parse_json(body.encode("utf-8", "surrogatepass")) == _clean(json.loads(body), [])
