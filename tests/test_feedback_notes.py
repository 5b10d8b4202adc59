"""What a PagerDuty note says about a verdict: read strictly, so that conversation is not feedback."""

from __future__ import annotations

import pytest

from triage.feedback_notes import SaidInNote, judge, read_note


@pytest.mark.parametrize(("note", "said"), [
    ("Root cause: db-contention", SaidInNote(None, "db-contention", None)),
    ("resolved.\nRoot Cause: DB contention from the nightly batch", SaidInNote(
        None, "db-contention", None)),
    ("- cause = bad_deploy\n- culprit: 9F3A1C2d", SaidInNote(None, "bad-deploy", "9f3a1c2d")),
    ("Triage: right", SaidInNote(True, None, None)),
    ("triage: WRONG\nroot-cause: dependency-failure, the ledger DB", SaidInNote(
        False, "dependency-failure", None)),
    ("Cause: false alarm", SaidInNote(None, "false-alarm", None)),
    ("Rolled back at 14:20. Root cause: config change (pool size)", SaidInNote(
        None, "config-change", None)),
])
def test_a_note_that_names_a_cause_or_judges_is_read(note: str, said: SaidInNote) -> None:
    assert read_note(note) == said


@pytest.mark.parametrize("note", [
    "Looking into it, probably the database?",
    "The cause is unclear so far",  # prose, not the `Cause:` line
    "Because: the pager went off",  # "cause" inside a word
    "The cause: unclear",  # a bare "cause:" mid-line
    "Root cause: gremlins",  # not a category triage knows
    "Root cause: bad-deployment-ish",  # a prefix of a word is not the category
    "Culprit: 9f3a1c2",  # a commit alone says nothing about the verdict
    # Triage's own notes carry its marker: never read back as feedback.
    "Triage: right\nRoot cause: bad-deploy\ntriage:inv_0123abcd:final",
])
def test_conversation_and_triages_own_notes_are_not_feedback(note: str) -> None:
    assert read_note(note) is None


def test_a_named_cause_is_judged_against_the_verdict() -> None:
    said = SaidInNote(None, "db-contention", None)
    assert judge(said, "db-contention", "grace", "n").right is True
    wrong = judge(said, "bad-deploy", "grace", "n")
    assert (wrong.right, wrong.category) == (False, "db-contention")
    # Said outright, the judgement stands even when the cause's category differs.
    assert judge(SaidInNote(True, "bad-deploy", None), "config-change", "g", "n").right is True
