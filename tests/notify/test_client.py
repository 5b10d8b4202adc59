"""NotesClient: the real `pagerduty` client against a loopback HTTPS PagerDuty, posting notes once."""

from __future__ import annotations

import ssl
from pathlib import Path

import pagerduty
import pytest
from pydantic import SecretStr

from tests.fakes.pagerduty import FakePagerDuty, error
from tests.notify.fixtures import READ_KEY, SAMPLE_INCIDENT, SENDER, WRITE_KEY, posts
from triage.notify.pagerduty import NoteError, NotesClient

TAG = "triage:inv_test:first"


def client(pd: FakePagerDuty, ca: Path, key: str = WRITE_KEY, sender: str = SENDER,
           timeout: float = 5.0) -> NotesClient:
    return NotesClient(SecretStr(key), sender, base_url=pd.url,
                       verify=ssl.create_default_context(cafile=str(ca)), timeout=timeout)


def test_posts_a_note_as_the_sender_after_looking_for_its_marker(pd: FakePagerDuty,
                                                                 pd_ca: Path) -> None:
    notes = client(pd, pd_ca)
    posted = notes.post_once(SAMPLE_INCIDENT, f"hello\n[{TAG}]", TAG)
    assert not posted.recovered
    [note] = pd.notes[SAMPLE_INCIDENT]
    assert posted.note_id == note["id"]
    assert note["content"] == f"hello\n[{TAG}]"
    assert note["user"]["summary"] == "Triage Bot"
    listing, post = pd.server.seen
    assert (listing.method, listing.path) == ("GET", f"/incidents/{SAMPLE_INCIDENT}/notes")
    assert (post.method, post.path) == ("POST", f"/incidents/{SAMPLE_INCIDENT}/notes")
    assert post.json() == {"note": {"content": f"hello\n[{TAG}]"}}  # the documented wrapper
    assert post.headers["from"] == SENDER
    assert post.headers["authorization"] == f"Token token={WRITE_KEY}"
    assert post.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert notes.list_notes(SAMPLE_INCIDENT) == [note]
    notes.close()


def test_a_second_post_finds_the_first_instead_of_posting_again(pd: FakePagerDuty,
                                                                pd_ca: Path) -> None:
    notes = client(pd, pd_ca)
    first = notes.post_once(SAMPLE_INCIDENT, f"one\n[{TAG}]", TAG)
    again = notes.post_once(SAMPLE_INCIDENT, f"one, reworded\n[{TAG}]", TAG)
    assert again.recovered and again.note_id == first.note_id
    assert len(pd.notes[SAMPLE_INCIDENT]) == 1
    assert len(posts(pd)) == 1
    other = notes.post_once(SAMPLE_INCIDENT, "final\n[triage:inv_test:final]",
                            "triage:inv_test:final")
    assert not other.recovered and len(pd.notes[SAMPLE_INCIDENT]) == 2
    notes.close()


def test_a_lost_answer_is_retried_by_looking_first_so_the_note_is_posted_once(
        pd: FakePagerDuty, pd_ca: Path) -> None:
    pd.lost_answers, pd.lost_answer_delay = 1, 1.0  # stored, but answered after the timeout
    notes = client(pd, pd_ca, timeout=0.3)
    posted = notes.post_once(SAMPLE_INCIDENT, f"slow\n[{TAG}]", TAG)
    assert posted.recovered
    assert [n["id"] for n in pd.notes[SAMPLE_INCIDENT]] == [posted.note_id]
    assert len(posts(pd)) == 1
    notes.close()


def test_server_errors_and_rate_limits_are_retried(pd: FakePagerDuty, pd_ca: Path) -> None:
    path = f"/incidents/{SAMPLE_INCIDENT}/notes"
    pd.server.queue(path, error(503, "Service Unavailable", 2000),
                    error(429, "Rate Limit Exceeded", 2020, **{"Retry-After": "0"}))
    posted = client(pd, pd_ca).post_once(SAMPLE_INCIDENT, f"x\n[{TAG}]", TAG)
    assert not posted.recovered and len(pd.notes[SAMPLE_INCIDENT]) == 1


@pytest.mark.parametrize(("key", "sender", "incident_id", "expected"), [
    (READ_KEY, SENDER, SAMPLE_INCIDENT,
     "PagerDuty answered 403 to POST /incidents/PGR0VU2/notes: Access Denied (code 2010): "
     "Read-only API keys may only make GET requests — the key may not add notes"),
    (WRITE_KEY, "nobody@example.com", SAMPLE_INCIDENT,
     "PagerDuty answered 400 to POST /incidents/PGR0VU2/notes: Invalid Input Provided "
     "(code 2001): Requester User Not Found — check TRIAGE_PAGERDUTY_FROM"),
    (WRITE_KEY, SENDER, "QNOSUCH1",
     "PagerDuty answered 404 to POST /incidents/QNOSUCH1/notes: Not Found (code 2100) — no such "
     "incident"),
    ("pdkey-WRONG", SENDER, SAMPLE_INCIDENT,
     "PagerDuty answered 401 to POST /incidents/PGR0VU2/notes: Authentication failed (code 2006)"
     " — the API key was rejected"),
])
def test_refusals_name_the_call_and_the_answer_never_the_key(
        pd: FakePagerDuty, pd_ca: Path, key: str, sender: str, incident_id: str,
        expected: str) -> None:
    with pytest.raises(NoteError) as caught:
        client(pd, pd_ca, key=key, sender=sender).post_once(incident_id, f"x\n[{TAG}]", TAG)
    assert caught.value.message.startswith(expected)
    assert key not in caught.value.message
    assert not pd.notes.get(incident_id)


def test_a_list_refusal_is_described_too(pd: FakePagerDuty, pd_ca: Path) -> None:
    with pytest.raises(NoteError, match="PagerDuty answered 404 to GET /incidents/QNOSUCH1/notes"):
        client(pd, pd_ca).list_notes("QNOSUCH1")


def test_an_unreachable_api_is_described(pd: FakePagerDuty, pd_ca: Path) -> None:
    notes = NotesClient(SecretStr(WRITE_KEY), SENDER, base_url="https://127.0.0.1:9",
                        verify=ssl.create_default_context(cafile=str(pd_ca)), timeout=1.0,
                        attempts=1)
    with pytest.raises(NoteError, match=r"cannot reach PagerDuty at https://127.0.0.1:9 "
                                        r"\(POST /incidents/PGR0VU2/notes, 1 attempts\): Connect"):
        notes.post_once(SAMPLE_INCIDENT, f"x\n[{TAG}]", TAG)


def test_only_notes_can_be_written(pd: FakePagerDuty, pd_ca: Path) -> None:
    notes = client(pd, pd_ca)
    with pytest.raises(pagerduty.Error):
        notes._client.rput(f"/incidents/{SAMPLE_INCIDENT}", json={"status": "resolved"})
    with pytest.raises(NoteError, match="is not a PagerDuty incident id"):
        notes.post_once("../users", f"x\n[{TAG}]", TAG)
    with pytest.raises(ValueError, match="must carry its marker"):
        notes.post_once(SAMPLE_INCIDENT, "no marker", TAG)
    assert pd.server.seen == []


def test_the_fake_refuses_notes_over_the_size_limit(pd: FakePagerDuty, pd_ca: Path) -> None:
    with pytest.raises(NoteError, match="Note content is too long"):
        client(pd, pd_ca).post_once(SAMPLE_INCIDENT, "x" * 25_001 + f"[{TAG}]", TAG)
