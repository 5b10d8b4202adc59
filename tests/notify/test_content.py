"""Note text: what the first and final notes say, in plain text, within PagerDuty's size limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import make_settings, staged_demo
from triage.models import Source, StepKind, StepRecord
from triage.notify.content import (
    CUT,
    NOTE_BUDGET,
    PAGERDUTY_NOTE_LIMIT,
    NoteKind,
    compose,
    final_note,
    first_note,
    marker,
)
from triage.replay import replay
from triage.report.build import Report

LINK = "https://triage.example/reports/inv_1?t=1900000000.abc"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    tmp = tmp_path_factory.mktemp("content")
    workdir, config = staged_demo(tmp)
    return replay(make_settings(tmp), config, Source.PAGERDUTY,
                  (workdir / "alert.json").read_bytes()).report


def test_first_note_leads_with_the_strongest_signals(demo_report: Report) -> None:
    body, footer = first_note(demo_report, LINK)
    lines = body.splitlines()
    assert lines[0].startswith("Automated triage: first look")
    assert lines[1] == "Service: checkout · playbook high-error-rate · 5 queries run"
    strongest = max(demo_report.signals, key=lambda s: s.strength)
    assert lines[3] == "Strongest signals so far:"
    assert lines[4].startswith(f"- {strongest.title} (")
    assert footer == f"Live report: {LINK}"
    assert "**" not in body and "```" not in body  # PagerDuty shows notes as plain text


def test_final_note_ranks_hypotheses_and_names_their_evidence(demo_report: Report) -> None:
    body, footer = final_note(demo_report, [], LINK)
    assert body.startswith(f"Automated triage finished: {demo_report.summary}")
    assert "\n\nHypotheses:\n1. [bad-deploy] " in body
    assert "   evidence: " in body
    assert "Reproduction" not in body and "pull request" not in body
    assert footer == f"Report: {LINK}"


def _step(name: str, detail: dict[str, object]) -> StepRecord:
    return StepRecord(id=f"inv_1:fix:{name}", investigation_id="inv_1", stage="fix", seq=0,
                      kind=StepKind.STAGE, name=name, status="ok",
                      started_at=datetime(2026, 1, 1, tzinfo=UTC), duration_ms=1.0, summary="",
                      detail=detail)


def test_final_note_reports_the_repro_verdict_and_the_draft_pull_request(
        demo_report: Report) -> None:
    steps = [
        _step("repro", {"status": "reproduced", "reason": "TypeError at the deployed commit",
                        "commit": "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"}),
        _step("fix", {"status": "verified", "kind": "forward", "reason": "repro and tests pass"}),
        _step("publish", {"status": "published", "pull_request": {
            "number": 7, "url": "https://github.com/acme/checkout/pull/7", "state": "open",
            "draft": True, "action": "created"}}),
    ]
    body, _ = final_note(demo_report, steps, LINK)
    assert ("Reproduction: reproduced at 9f8e7d6c5b4a — TypeError at the deployed commit"
            in body)
    assert "Candidate fix (forward): verified in the sandbox (repro passes, tests pass)" in body
    assert "Draft pull request (not merged): https://github.com/acme/checkout/pull/7" in body


def test_a_skipped_repro_and_an_unpublished_fix_say_nothing(demo_report: Report) -> None:
    steps = [_step("repro", {"status": "skipped", "reason": "no repro configured"}),
             _step("publish", {"status": "skipped", "reason": "no fix"})]
    body, _ = final_note(demo_report, steps, LINK)
    assert "Reproduction" not in body and "pull request" not in body


def test_compose_keeps_short_notes_whole() -> None:
    tag = marker("inv_1", NoteKind.FIRST)
    assert compose("line one\nline two", f"Live report: {LINK}", tag) == (
        f"line one\nline two\n\nLive report: {LINK}\n[triage:inv_1:first]")


def test_compose_cuts_long_bodies_at_a_line_and_keeps_link_and_marker() -> None:
    tag = marker("inv_1", NoteKind.FINAL)
    body = "\n".join(f"- signal number {n} " + "x" * 60 for n in range(200))
    note = compose(body, f"Report: {LINK}", tag)
    assert len(note) <= NOTE_BUDGET
    assert note.endswith(f"\n\nReport: {LINK}\n[{tag}]")
    kept = note.split(f"\n{CUT}")[0].splitlines()
    assert all(line in body.splitlines() for line in kept)  # whole lines only


@given(body=st.text(max_size=40_000), limit=st.integers(min_value=200,
                                                        max_value=PAGERDUTY_NOTE_LIMIT + 5000))
def test_compose_never_exceeds_the_limit_nor_loses_the_footer(body: str, limit: int) -> None:
    tag = marker("inv_0123456789abcdef0123", NoteKind.FIRST)
    footer = f"Live report: {LINK}"
    note = compose(body, footer, tag, limit=limit)
    assert len(note) <= min(limit, PAGERDUTY_NOTE_LIMIT)
    assert note.endswith(f"\n\n{footer}\n[{tag}]")


def test_compose_refuses_a_limit_too_small_for_the_footer() -> None:
    with pytest.raises(ValueError, match="cannot hold its footer"):
        compose("body", "Report: " + "x" * 300, "triage:inv_1:first", limit=200)


def test_demo_notes_fit_the_budget(demo_report: Report) -> None:
    for body, footer in (first_note(demo_report, LINK), final_note(demo_report, [], LINK)):
        note = compose(body, footer, "triage:inv_1:first")
        assert CUT not in note  # a normal investigation's note is never cut
