"""Signed report links: HMAC over the investigation and the expiry, rotation, expiry, tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from triage.report.access_settings import AccessSettings
from triage.report.links import LinkSigner, LinkState, ReportLinks

NEW, OLD = "n" * 40, "o" * 40
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def signer(*keys: str, ttl: timedelta = timedelta(days=30), now: datetime = NOW) -> LinkSigner:
    return LinkSigner([SecretStr(k) for k in keys], ttl, clock=lambda: now)


def test_a_fresh_token_opens_its_report_until_it_expires() -> None:
    token = signer(NEW).token("inv_1")
    assert token.startswith(f"{int((NOW + timedelta(days=30)).timestamp())}.")
    verdict = signer(NEW).verify("inv_1", token)
    assert verdict.ok and verdict.expires == NOW + timedelta(days=30)
    late = signer(NEW, now=NOW + timedelta(days=30)).verify("inv_1", token)
    assert late.state == LinkState.EXPIRED
    assert late.detail == "the link expired at 2026-03-31 12:00 UTC"


def test_a_token_opens_only_its_own_investigation() -> None:
    token = signer(NEW).token("inv_1")
    assert signer(NEW).verify("inv_2", token).state == LinkState.TAMPERED


@pytest.mark.parametrize("change", [
    lambda t: t.replace(t.split(".")[0], str(int(t.split(".")[0]) + 86_400)),  # a longer life
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one signature character
    lambda t: t[:-2],  # cut short
    lambda t: t + "=",
    lambda t: "." + t.split(".")[1],
    lambda t: "not a token",
])
def test_an_altered_token_is_tampered(change) -> None:
    token = signer(NEW).token("inv_1")
    verdict = signer(NEW).verify("inv_1", change(token))
    assert verdict.state == LinkState.TAMPERED


def test_no_token_is_unsigned() -> None:
    assert signer(NEW).verify("inv_1", None).state == LinkState.UNSIGNED
    assert signer(NEW).verify("inv_1", "").state == LinkState.UNSIGNED


def test_keys_rotate_new_first_then_old_dropped() -> None:
    issued_before = signer(OLD).token("inv_1")
    rotating = signer(NEW, OLD)
    assert rotating.verify("inv_1", issued_before).ok  # old links keep working
    assert signer(OLD).verify("inv_1", rotating.token("inv_1")).state == LinkState.TAMPERED
    assert rotating.verify("inv_1", rotating.token("inv_1")).ok  # new links are signed by NEW
    retired = signer(NEW).verify("inv_1", issued_before)
    assert retired.state == LinkState.TAMPERED
    assert "no longer configured" in retired.detail


@given(investigation_id=st.text(min_size=1, max_size=80), days=st.integers(1, 3650))
def test_every_minted_token_verifies(investigation_id: str, days: int) -> None:
    mint = signer(NEW, OLD, ttl=timedelta(days=days))
    assert mint.verify(investigation_id, mint.token(investigation_id)).ok


def test_report_links_are_plain_without_keys_and_signed_with() -> None:
    assert ReportLinks("http://t.test/", signer()).report("inv_1") == "http://t.test/reports/inv_1"
    url = ReportLinks("http://t.test", signer(NEW)).report("inv_1")
    token = url.split("?t=")[1]
    assert url.startswith("http://t.test/reports/inv_1?t=") and signer(NEW).verify("inv_1", token).ok
    step = ReportLinks("http://t.test", signer(NEW)).step_data("inv_1", "inv_1:gather:2", token)
    assert step == f"http://t.test/api/investigations/inv_1/steps/inv_1:gather:2?t={token}"


@pytest.mark.parametrize(("raw", "expected"), [
    ("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
    ("3600", timedelta(hours=1)), ("2w", timedelta(weeks=2)), ("P7D", timedelta(days=7)),
])
def test_link_lifetimes_read_like_people_write_them(raw: str, expected: timedelta) -> None:
    assert AccessSettings.model_validate({"report_link_ttl": raw}).report_link_ttl == expected


@pytest.mark.parametrize(("values", "message"), [
    ({"report_link_ttl": "0"}, "must be longer than zero"),
    ({"report_link_ttl": "soon"}, "report_link_ttl"),
    ({"report_signing_keys": "short," + NEW}, "key 1 has 5 characters; use at least 32"),
    ({"trusted_user_header": "X User"}, "is not an HTTP header name"),
])
def test_bad_access_settings_are_refused_precisely(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AccessSettings.model_validate(values)


def test_signing_keys_come_comma_separated() -> None:
    settings = AccessSettings.model_validate({"report_signing_keys": f" {NEW} , {OLD} "})
    assert [k.get_secret_value() for k in settings.report_signing_keys] == [NEW, OLD]
