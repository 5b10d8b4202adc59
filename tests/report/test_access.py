"""Who may read what: signed links open one report, API credentials open the API, and refusals say
precisely why (an HTML 403 for pages, a JSON 401/403 for the API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.conftest import DEMO, make_settings
from triage.app import create_app
from triage.config import parse_config
from triage.report.links import LinkSigner
from triage.runtime import Runtime
from triage.scenarios import load_scenario, run_scenario

KEY, OLD_KEY = "s" * 48, "o" * 48
TOKEN = "api-token-7f3e1d"
BASE = "http://triage.test"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("access")
    _, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=tmp / "demo")
    return tmp, outcome.investigation_id


def _client(demo: tuple[Path, str], **settings: Any) -> Iterator[TestClient]:
    tmp, _ = demo
    runtime = Runtime.from_settings(make_settings(tmp, data_dir=tmp / "demo", **settings),
                                    parse_config(load_scenario(DEMO).config, tmp / "demo", "demo"))
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


@pytest.fixture(scope="module")
def signed(demo: tuple[Path, str]) -> Iterator[TestClient]:
    """Signing keys (new first, old second), an API token and a trusted proxy header."""
    yield from _client(demo, report_signing_keys=[SecretStr(KEY), SecretStr(OLD_KEY)],
                       api_token=SecretStr(TOKEN), trusted_user_header="x-forwarded-user")


def token(investigation_id: str, key: str = KEY, expires: datetime | None = None) -> str:
    return LinkSigner([SecretStr(key)], timedelta(days=30)).token(investigation_id, expires)


def test_a_signed_link_opens_the_page_and_every_link_on_it(signed: TestClient,
                                                            demo: tuple[Path, str]) -> None:
    _, inv = demo
    t = token(inv)
    page = signed.get(f"/reports/{inv}?t={t}")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert f'href="{BASE}/api/investigations/{inv}/steps/{inv}:gather:1?t={t}"' in page.text
    data_url = f"/api/investigations/{inv}/steps/{inv}:gather:1?t={t}"
    assert signed.get(data_url).json()["id"] == f"{inv}:gather:1"
    assert signed.get(f"/reports/{inv}.md?t={t}").text.startswith("# Triage report")
    report = signed.get(f"/api/investigations/{inv}?t={t}").json()
    assert report["report_url"] == f"{BASE}/reports/{inv}?t={t}"  # the reader's own expiry


def test_a_link_signed_with_the_previous_key_still_opens(signed: TestClient,
                                                         demo: tuple[Path, str]) -> None:
    _, inv = demo
    assert signed.get(f"/reports/{inv}?t={token(inv, OLD_KEY)}").status_code == 200


@pytest.mark.parametrize(("query", "state", "says"), [
    ("", "unsigned", "the link carries no signature"),
    ("?t=123.abc", "tampered", "malformed"),
    ("?t={other}", "tampered", "does not match this report"),
    ("?t={expired}", "expired", "the link expired at 2026-01-01 00:00 UTC"),
    ("?t={unknown_key}", "tampered", "no longer configured"),
])
def test_refused_pages_say_which_of_unsigned_tampered_or_expired(
        signed: TestClient, demo: tuple[Path, str], query: str, state: str, says: str) -> None:
    _, inv = demo
    query = query.format(other=token("inv_other"), unknown_key=token(inv, "u" * 40),
                         expired=token(inv, expires=datetime(2026, 1, 1, tzinfo=UTC)))
    for path in (f"/reports/{inv}", f"/reports/{inv}.md"):
        page = signed.get(path + query)
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert f'data-state="{state}"' in page.text and says in page.text
        assert f"triage reports link {inv}" in page.text


def test_unknown_investigations_are_refused_before_they_are_looked_up(signed: TestClient) -> None:
    assert signed.get("/reports/inv_nope").status_code == 403  # no way to probe for ids
    assert signed.get(f"/reports/inv_nope?t={token('inv_nope')}").status_code == 404


def test_the_api_takes_a_bearer_token_or_the_proxy_header(signed: TestClient,
                                                          demo: tuple[Path, str]) -> None:
    _, inv = demo
    missing = signed.get("/api/investigations")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["detail"]
    wrong = signed.get("/api/investigations", headers={"authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "the API token does not match")
    basic = signed.get("/api/investigations", headers={"authorization": "Basic eDp5"})
    assert basic.status_code == 401 and "must be `Bearer" in basic.json()["detail"]
    listing = signed.get("/api/investigations", headers={"authorization": f"Bearer {TOKEN}"})
    assert listing.status_code == 200
    url = listing.json()["investigations"][0]["report_url"]
    assert url.startswith(f"{BASE}/reports/{inv}?t=")  # the list hands out signed links
    assert signed.get(url.removeprefix(BASE)).status_code == 200
    proxied = signed.get(f"/api/investigations/{inv}", headers={"x-forwarded-user": "ada"})
    assert proxied.status_code == 200
    assert signed.get(f"/reports/{inv}", headers={"x-forwarded-user": "ada"}).status_code == 200
    assert signed.get(f"/api/investigations/{inv}", headers={"x-forwarded-user": ""}
                      ).status_code == 403


def test_the_api_refuses_a_bad_link_with_json(signed: TestClient, demo: tuple[Path, str]) -> None:
    _, inv = demo
    refused = signed.get(f"/api/investigations/{inv}?t={token('inv_other')}")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("report link refused (tampered)")
    step = signed.get(f"/api/investigations/{inv}/steps/{inv}:gather:1")
    assert step.status_code == 403


def test_signing_without_api_auth_closes_the_list(demo: tuple[Path, str]) -> None:
    for client in _client(demo, report_signing_keys=[SecretStr(KEY)]):
        refused = client.get("/api/investigations")
        assert refused.status_code == 403
        assert "set TRIAGE_API_TOKEN or TRIAGE_TRUSTED_USER_HEADER" in refused.json()["detail"]


def test_api_auth_without_signing_keeps_pages_open_and_the_api_closed(
        demo: tuple[Path, str]) -> None:
    _, inv = demo
    for client in _client(demo, api_token=SecretStr(TOKEN)):
        assert client.get(f"/reports/{inv}").status_code == 200
        assert client.get(f"/api/investigations/{inv}").status_code == 401
        assert client.get("/api/investigations").status_code == 401
        ok = client.get("/api/investigations", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.json()["investigations"][0]["report_url"] == f"{BASE}/reports/{inv}"


def test_intake_answers_with_a_signed_link_that_opens(signed: TestClient) -> None:
    from tests.conftest import compact, pd_headers, sample

    body = compact(sample("pagerduty/incident_triggered.json"))
    answer = signed.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    url = answer["results"][0]["report_url"]
    inv = answer["results"][0]["investigation_id"]
    assert url.startswith(f"{BASE}/reports/{inv}?t=")
    page = signed.get(url.removeprefix(BASE))
    assert page.status_code == 200 and 'id="state">queued' in page.text


def test_cli_mints_links_and_config_check_describes_access(demo: tuple[Path, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from triage.cli import app

    tmp, inv = demo
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp / "demo"))
    monkeypatch.setenv("TRIAGE_PUBLIC_URL", BASE)
    monkeypatch.setenv("TRIAGE_REPORT_SIGNING_KEYS", KEY)
    runner = CliRunner()
    minted = runner.invoke(app, ["reports", "link", inv, "--ttl", "2h"])
    assert minted.exit_code == 0, minted.output
    url = minted.stdout.strip()
    t = url.split("?t=")[1]
    verdict = LinkSigner([SecretStr(KEY)], timedelta(days=1)).verify(inv, t)
    assert verdict.ok and verdict.expires is not None
    assert timedelta(hours=1) < verdict.expires - datetime.now(UTC) <= timedelta(hours=2)
    assert runner.invoke(app, ["reports", "link", "inv_nope"]).exit_code == 1
    bad = runner.invoke(app, ["reports", "link", inv, "--ttl", "-1d"])
    assert bad.exit_code == 2 and "--ttl '-1d'" in bad.output

    checked = runner.invoke(app, ["config", "check"]).stdout
    assert "report links: signed (1 key, the first signs; valid 30 days)" in checked
    assert "JSON API auth: none — the investigations list is closed while links are signed" in checked
    assert "PagerDuty notes: disabled — TRIAGE_PAGERDUTY_API_KEY is not set" in checked
    monkeypatch.delenv("TRIAGE_REPORT_SIGNING_KEYS")
    monkeypatch.setenv("TRIAGE_API_TOKEN", TOKEN)
    monkeypatch.setenv("TRIAGE_PAGERDUTY_API_KEY", "k")
    monkeypatch.setenv("TRIAGE_PAGERDUTY_FROM", "ops@example.com")
    checked = runner.invoke(app, ["config", "check"]).stdout
    assert "report links: unsigned — embedded/demo mode" in checked
    assert "JSON API auth: Bearer TRIAGE_API_TOKEN" in checked
    assert ("PagerDuty notes: enabled (posted as ops@example.com via https://api.pagerduty.com)"
            in checked)
    unsigned = runner.invoke(app, ["reports", "link", inv])
    assert unsigned.stdout.strip() == f"{BASE}/reports/{inv}"
    assert "links are unsigned" in unsigned.stderr
