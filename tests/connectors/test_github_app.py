"""github as a GitHub App installation: the JWT is verified by the fake with the App's public key,
exchanged for an installation token, and only that token opens the API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import EvidenceStatus
from tests.connectors._util import req
from tests.connectors.github_fixtures import (
    APP_ID,
    BAD,
    REPO,
    app_settings,
    fresh,
    make,
    new_key,
    start_fake,
)
from tests.fakes.github import FakeGitHub

EXCHANGE = "/api/v3/app/installations/654/access_tokens"


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return new_key()


@pytest.fixture(scope="module")
def fake(app_key: tuple[str, str]) -> Iterator[FakeGitHub]:
    server = start_fake(app_key[1])
    yield server
    server.server.stop()


@pytest.fixture(autouse=True)
def _fresh(fake: FakeGitHub, app_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fresh(fake, app_key[0], monkeypatch)


def test_queries_run_on_a_read_only_installation_token(fake: FakeGitHub, tmp_path: Path):
    conn = make(fake, tmp_path, app=app_settings())
    ev = conn.query(req("diff: 9f8e7d6"))
    assert ev.status == EvidenceStatus.OK and ev.rows[0]["filename"] == "src/cart.py"
    exchange, call = fake.server.seen
    assert (exchange.method, exchange.path) == ("POST", EXCHANGE)
    assert exchange.headers["authorization"].startswith("Bearer ey")
    assert exchange.json() == {"repositories": ["checkout"],
                               "permissions": {"contents": "read", "deployments": "read", "metadata": "read"}}
    claims = fake.exchanges[0]["claims"]
    assert claims["iss"] == str(APP_ID) and 0 < claims["exp"] - claims["iat"] <= 600
    assert call.headers["authorization"] == "token ghs_fake0001"
    assert fake.tokens["ghs_fake0001"].permissions["contents"] == "read"


def test_the_installation_token_is_reused(fake: FakeGitHub, tmp_path: Path):
    conn = make(fake, tmp_path, app=app_settings())
    assert conn.query(req("releases")).status == EvidenceStatus.OK
    assert conn.query(req(f"file: src/cart.py@{BAD}")).status == EvidenceStatus.OK
    assert [s.method for s in fake.server.seen] == ["POST", "GET", "GET"]


def test_check_reports_the_read_only_installation_token(fake: FakeGitHub, tmp_path: Path):
    result = make(fake, tmp_path, app=app_settings()).check()
    assert (result.reachable, result.can_write) == (True, False)
    assert "GitHub App installation from environment variable GH_TEST_APP_KEY" in result.details[0]
    assert result.details[-1] == ("installation token permissions: contents=read, deployments=read, "
                                  "metadata=read; read-only")


def test_check_warns_when_the_token_gets_everything_the_app_may_do(fake: FakeGitHub, tmp_path: Path):
    result = make(fake, tmp_path, app=app_settings(permissions=None)).check()
    assert (result.reachable, result.can_write) == (True, True)
    assert "it can write contents, pull_requests (including contents, pull_requests)" in result.details[-1]
    assert fake.exchanges[-1]["body"] == {"repositories": ["checkout"]}


def test_permissions_the_app_lacks_are_refused_by_github(fake: FakeGitHub, tmp_path: Path):
    conn = make(fake, tmp_path, app=app_settings(permissions={"issues": "read"}))
    ev = conn.query(req("releases"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == (f"GitHub answered 422 to POST {EXCHANGE}: The permissions requested are not granted "
                        "to this installation. — GitHub could not process the request while exchanging "
                        "the App JWT for an installation token")
    result = conn.check()
    assert result.reachable is False and "422" in result.details[-1]


def test_a_jwt_signed_with_another_key_is_rejected(fake: FakeGitHub, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture):
    other_private, _ = new_key()
    monkeypatch.setenv("GH_TEST_APP_KEY", other_private)
    caplog.set_level(logging.DEBUG)
    conn = make(fake, tmp_path, app=app_settings())
    ev = conn.query(req("releases"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and "401" in ev.error and "InvalidSignatureError" in ev.error
    assert [s.method for s in fake.server.seen] == ["POST"]  # no API call without a token
    key_body = other_private.splitlines()[1]
    assert key_body not in ev.model_dump_json() + conn.check().model_dump_json() + caplog.text


def test_a_key_that_is_not_a_key_is_an_error_not_a_crash(fake: FakeGitHub, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GH_TEST_APP_KEY", "-----BEGIN PRIVATE KEY-----\nnot-a-key-S3CRET\n"
                                          "-----END PRIVATE KEY-----")
    conn = make(fake, tmp_path, app=app_settings())
    ev = conn.query(req("releases"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == ("cannot sign the GitHub App JWT with the private key from environment variable "
                        "GH_TEST_APP_KEY: InvalidKeyError: Could not parse the provided public key.")
    assert "not-a-key-S3CRET" not in ev.model_dump_json()
    assert fake.server.seen == []


def test_jwt_alone_does_not_open_the_api(fake: FakeGitHub):
    import httpx

    answer = httpx.get(f"{fake.api_url}/repos/{REPO}", headers={"Authorization": "Bearer eyJhbGciOi.x.y"})
    assert answer.status_code == 401


def test_only_reads_and_the_token_exchange_reached_the_server(fake: FakeGitHub):
    assert fake.server.methods == {"GET", "POST"}
    assert set(fake.server.non_reads) == {f"POST {EXCHANGE}"}
