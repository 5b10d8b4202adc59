"""github: the real githubkit client against a loopback server speaking GitHub's REST API."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors import ConnectorConfigError, EvidenceKind, EvidenceStatus, build_connector
from connectors.github.auth import ReadOnlyViolation
from connectors.github.connector import GitHubConnector
from connectors.github.query import parse_query
from connectors.github.rows import web_url_for
from tests.connectors._util import T0, req
from tests.connectors.github_fixtures import (
    BAD,
    DEPS,
    GOOD,
    REPO,
    SECRET,
    fresh,
    make,
    new_key,
    start_fake,
)
from tests.fakes.github import FakeGitHub
from tests.fakes.github_shapes import basic_error
from tests.fakes.loopback import Reply
from triage.analysis.deploys import recent_deploys
from triage.analysis.signals import CitedEvidence
from triage.cli import app

API = f"/api/v3/repos/{REPO}"


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


@pytest.fixture
def gh(fake: FakeGitHub, tmp_path: Path) -> Iterator[GitHubConnector]:
    conn = make(fake, tmp_path)
    yield conn
    conn.close()


def test_deployments_in_the_window_carry_the_deploy_shape(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("deployments"))
    assert ev.status == EvidenceStatus.OK and ev.kind == EvidenceKind.DEPLOYS
    assert [(r["id"], r["environment"], r["commit"], r["state"]) for r in ev.rows] == [
        ("3", "production", BAD, "success"), ("2", "staging", DEPS, "failure")]
    first = ev.rows[0]
    assert (first["service"], first["deployed_at"], first["author"]) == (
        "checkout", "2024-05-01T12:20:00Z", "lee")
    assert first["previous_commit"] == GOOD  # the production deploy before the window
    assert ev.rows[1]["previous_commit"] is None
    assert ev.link == f"{fake.url}/{REPO}/deployments"
    assert ev.summary.startswith(f"2 deployments; latest: 2024-05-01T12:20:00Z production {BAD[:12]} by lee "
                                 "(success)")
    listed = [s for s in fake.server.seen if s.path == f"{API}/deployments"]
    assert len(listed) == 1  # stopped at the first deployment older than the window


def test_deployment_rows_feed_the_deploy_analyzer(gh: GitHubConnector):
    ev = gh.query(req("deployments: production"))
    assert [r["id"] for r in ev.rows] == ["3"]
    signals = recent_deploys(CitedEvidence("step-1", ev), T0 + timedelta(minutes=30))
    assert BAD[:12] in signals[0].title and "10 min before the symptoms began" in signals[0].title
    assert signals[0].detail["previous_commit"] == GOOD


def test_playbook_deploy_filter_means_deployments(gh: GitHubConnector, fake: FakeGitHub, tmp_path: Path):
    assert [r["id"] for r in gh.query(req("service=checkout")).rows] == ["3", "2"]
    assert gh.query(req("service=payments")).status == EvidenceStatus.NO_DATA
    named = make(fake, tmp_path, service="cart")
    assert [r["service"] for r in named.query(req("")).rows] == ["cart", "cart"]


def test_releases_published_in_the_window(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("releases"))
    assert [(r["tag"], r["commit"], r["deployed_at"]) for r in ev.rows] == [
        ("v1.4.0", BAD, "2024-05-01T12:25:00Z")]  # the draft is not published
    assert ev.link == f"{fake.url}/{REPO}/releases"


def test_commits_in_the_window_with_a_link(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("commits"))
    assert [(r["sha"], r["author"], r["message"]) for r in ev.rows] == [
        (BAD, "lee", "Switch cart totals to decimal"), (DEPS, "kim", "Bump dependencies")]
    assert ev.summary.startswith("2 commits by lee ×1, kim ×1; newest: 9f8e7d6c5b Switch cart totals")
    assert ev.link == f"{fake.url}/{REPO}/commits?since=2024-05-01&until=2024-05-01"
    sent = fake.server.seen[-1].query
    assert sent["since"] == ["2024-05-01T12:00:00Z"] and sent["until"] == ["2024-05-01T13:00:00Z"]


def test_commits_touching_a_path(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("commits: src/cart.py", start=T0 - timedelta(hours=3)))
    assert [r["sha"] for r in ev.rows] == [BAD, GOOD]
    assert fake.server.seen[-1].query["path"] == ["src/cart.py"]
    assert ev.link is not None and ev.link.startswith(f"{fake.url}/{REPO}/commits/HEAD/src/cart.py?since=")


def test_commits_paginate_with_link_headers_and_stop_at_the_cap(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("commits", start=T0 - timedelta(days=3), limit=120))
    assert (len(ev.rows), ev.truncated) == (120, True)
    assert ev.summary.startswith("120+ commits by bot ×117")
    pages = [s.query.get("page", ["1"]) for s in fake.server.seen]
    assert pages == [["1"], ["2"]]
    assert fake.server.seen[0].query["per_page"] == ["100"]


def test_diff_of_a_commit(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req("diff: 9f8e7d6"))
    assert ev.status == EvidenceStatus.OK
    assert [(r["filename"], r["status"], r["additions"], r["deletions"]) for r in ev.rows] == [
        ("src/cart.py", "modified", 1, 1), ("tests/test_cart.py", "added", 12, 0),
        ("assets/logo.png", "modified", 0, 0)]
    assert ev.rows[0]["patch"].startswith("@@ -1,3 +1,3 @@") and ev.rows[2]["patch"] is None
    assert ev.summary.startswith(f"{BAD[:10]} by lee at 2024-05-01T12:10:00Z: Switch cart totals to decimal; "
                                 "3 files +13 -1: src/cart.py (+1 -1)")
    assert ev.link == f"{fake.url}/{REPO}/commit/{BAD}"
    assert fake.server.seen[-1].path == f"{API}/commits/9f8e7d6"


def test_file_at_a_commit_as_lines(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req(f"file: src/cart.py@{BAD}"))
    assert ev.rows == [{"line": 1, "text": "def total(items):"},
                       {"line": 2, "text": "    return round(sum(i.price for i in items))"}]
    assert ev.link == f"{fake.url}/{REPO}/blob/{BAD}/src/cart.py"
    assert fake.server.seen[-1].query["ref"] == [BAD]
    directory = gh.query(req(f"file: src@{BAD}"))
    assert [r["name"] for r in directory.rows] == ["cart.py", "tax.py"]
    binary = gh.query(req(f"file: assets/logo.png@{BAD}"))
    assert binary.status == EvidenceStatus.ERROR
    assert binary.error == "assets/logo.png is not UTF-8 text (11 bytes)"


def test_file_path_is_escaped_into_one_url_path(gh: GitHubConnector, fake: FakeGitHub):
    ev = gh.query(req(f"file: docs/a b?x=1#frag@{BAD}"))
    assert ev.status == EvidenceStatus.ERROR and "404" in (ev.error or "")
    assert fake.server.seen[-1].path == f"{API}/contents/docs/a%20b%3Fx%3D1%23frag"
    assert fake.server.seen[-1].query == {"ref": [BAD]}


@pytest.mark.parametrize(("query", "reason"), [
    ("frobnicate", "cannot read 'frobnicate' as a GitHub query"),
    ("diff: HEAD", "'HEAD' is not a commit SHA"),
    ("diff: 9f8e7d6/../../../orgs", "is not a commit SHA"),
    ("diff:", "`diff` needs an argument"),
    ("file: src/cart.py", "`file` takes PATH@SHA"),
    ("file: ../../etc/passwd@9f8e7d6", "is not a plain path"),
    ("file: /etc/passwd@9f8e7d6", "is not a plain path"),
    ("file: src//cart.py@9f8e7d6", "is not a plain path"),
    ("file: src/./cart.py@9f8e7d6", "is not a plain path"),
    ("file: src\\cart.py@9f8e7d6", "is not a plain path"),
    ("file: src/cart.py@main", "'main' is not a commit SHA"),
    ("commits: ../x", "is not a plain path"),
    ("releases: v1", "`releases` takes no argument"),
    ("deployments: prod\nuction", "is not an environment name"),
])
def test_malformed_queries_are_refused_before_any_request(gh: GitHubConnector, fake: FakeGitHub,
                                                           query: str, reason: str):
    ev = gh.query(req(query))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None and ev.error.startswith("refused: ") and reason in ev.error
    assert ev.query == query
    assert fake.server.seen == []


def test_parse_query_forms():
    assert parse_query("").verb == "deployments"
    assert parse_query("deployments: production").arg == "production"
    assert parse_query("file: a@b/c.py@ABCDEF0").arg == "a@b/c.py"
    assert parse_query("file: a@b/c.py@ABCDEF0").sha == "abcdef0"


def test_unknown_commit_carries_github_message(gh: GitHubConnector):
    ev = gh.query(req("diff: deadbeef"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == (f"GitHub answered 422 to GET {API}/commits/deadbeef: No commit found for SHA: "
                        "deadbeef — GitHub could not process the request")


def test_secondary_rate_limit_is_retried_after_retry_after(gh: GitHubConnector, fake: FakeGitHub):
    limited = Reply(403, basic_error("You have exceeded a secondary rate limit.", 403), {"Retry-After": "0"})
    fake.server.queue(f"{API}/commits/9f8e7d6", limited, limited)
    ev = gh.query(req("diff: 9f8e7d6"))
    assert ev.status == EvidenceStatus.OK
    assert len(fake.server.seen) == 3


def test_persistent_429_is_reported_after_the_attempts(fake: FakeGitHub, tmp_path: Path):
    conn = make(fake, tmp_path, attempts=2)
    fake.server.queue(f"{API}/releases",
                      *[Reply(429, basic_error("Too many requests", 429), {"Retry-After": "0"})] * 2)
    ev = conn.query(req("releases"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error == (f"GitHub answered 429 to GET {API}/releases: Too many requests — "
                        "rate limited (GitHub asked to wait 0s); gave up after 2 attempts")


def test_server_error_is_retried_then_succeeds(gh: GitHubConnector, fake: FakeGitHub):
    fake.server.queue(f"{API}/releases", Reply(502, basic_error("Server Error", 502)))
    assert gh.query(req("releases")).status == EvidenceStatus.OK


def test_forbidden_is_not_retried(gh: GitHubConnector, fake: FakeGitHub):
    fake.server.queue(f"{API}/deployments", Reply(403, basic_error("Resource not accessible by "
                                                                   "personal access token", 403)))
    ev = gh.query(req("deployments"))
    assert ev.error == (f"GitHub answered 403 to GET {API}/deployments: Resource not accessible by personal "
                        "access token — the credentials may not read this (or a rate limit)")
    assert len(fake.server.seen) == 1


def test_rejected_token(fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GH_TEST_TOKEN", "github_pat_wrong")
    ev = make(fake, tmp_path).query(req("releases"))
    assert ev.error == (f"GitHub answered 401 to GET {API}/releases: Bad credentials — "
                        "the token or App credentials were rejected")


def test_timeout_and_unreachable(fake: FakeGitHub, tmp_path: Path):
    slow = make(fake, tmp_path, timeout_seconds=0.3, attempts=1)
    fake.server.queue(f"{API}/releases", Reply(200, [], delay=1.0))
    assert slow.query(req("releases")).error == (f"GitHub did not answer GET {API}/releases within the "
                                                 "0.3s timeout, 1 attempts")
    gone = build_connector("gh", {"type": "github", "repository": REPO, "base_url": "http://127.0.0.1:9",
                                  "token": {"env": "GH_TEST_TOKEN"}, "attempts": 1}, tmp_path)
    ev = gone.query(req("releases"))
    assert (ev.error or "").startswith("cannot reach GitHub at http://127.0.0.1:9: ConnectError")


def test_nothing_but_reads_can_be_sent(gh: GitHubConnector, fake: FakeGitHub):
    client = getattr(gh, "_gh")  # noqa: B009 (reaching in on purpose)
    with pytest.raises(Exception) as info:  # noqa: PT011 (githubkit wraps the hook's error)
        client.rest.repos.create_deployment("acme", "checkout", ref="main")
    assert isinstance(getattr(info.value, "exc", None), ReadOnlyViolation)
    with pytest.raises(Exception) as info:  # noqa: PT011
        client.request("DELETE", f"/repos/{REPO}/releases/12")
    assert "refusing to send DELETE" in str(getattr(info.value, "exc", ""))
    assert fake.server.seen == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"token": {"env": "X"}, "app": {"app_id": 1, "installation_id": 2, "private_key": {"env": "K"}}},
     "exactly one of `token`"),
    ({}, "exactly one of `token`"),
    ({"token": {"env": "X"}, "repository": "checkout"}, "repository must be owner/name"),
    ({"token": {"env": "X"}, "repository": "acme/../x"}, "repository must be owner/name"),
    ({"token": {"env": "X"}, "base_url": "ftp://ghe"}, "base_url must be an http(s):// URL"),
    ({"token": {"env": "X"}, "app": None, "permissions": {}}, "permissions"),
    ({"app": {"app_id": 1, "installation_id": 2, "private_key": {"env": "K"},
              "permissions": {"contents": "write"}}}, "contents"),
])
def test_bad_settings(tmp_path: Path, extra: dict[str, Any], message: str):
    with pytest.raises(ConnectorConfigError, match=re.escape(message)):
        build_connector("gh", {"type": "github", "repository": REPO, **extra}, tmp_path)


def test_web_links_for_github_and_enterprise():
    assert web_url_for("https://api.github.com") == "https://github.com"
    assert web_url_for("https://ghe.example.com/api/v3/") == "https://ghe.example.com"


@pytest.mark.parametrize(("token", "can_write", "why"), [
    (SECRET, None, "fine-grained token: GitHub does not reveal its own permissions"),
    ("github_pat_readonly_owner", False, "fine-grained token whose owner cannot push"),
    ("ghp_classic_rw_0001", True, "classic token with scopes read:org, repo: it can push"),
    ("ghp_classic_ro_0002", False, "classic token with scopes read:org: no write scope"),
])
def test_check_token_write_access(fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  token: str, can_write: bool | None, why: str):
    monkeypatch.setenv("GH_TEST_TOKEN", token)
    result = make(fake, tmp_path).check()
    assert result.reachable is True and result.can_write is can_write
    assert "read access to acme/checkout works (default branch main)" in result.details[1]
    assert result.details[-1].startswith(why)


def test_check_rejected_token_is_unreachable(fake: FakeGitHub, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GH_TEST_TOKEN", "github_pat_wrong")
    result = make(fake, tmp_path).check()
    assert (result.reachable, result.can_write) == (False, None)
    assert "401" in result.details[-1]


def test_secret_never_leaks(fake: FakeGitHub, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    conn = make(fake, tmp_path, attempts=2, timeout_seconds=0.3)
    echo = f"token {SECRET} is not allowed"
    fake.server.queue(f"{API}/releases", Reply(403, basic_error(echo, 403)))
    failing = Reply(500, basic_error(echo, 500), {"Retry-After": "0"})
    fake.server.queue(f"{API}/commits/9f8e7d6", failing, failing)
    fake.server.queue(f"{API}/deployments", *[Reply(200, [], delay=0.6)] * 2)
    outputs = [conn.query(req(q)).model_dump_json()
               for q in ("releases", "diff: 9f8e7d6", "deployments", "file: ../x@9f8e7d6")]
    outputs.append(conn.check().model_dump_json())
    assert all('"status":"error"' in out for out in outputs[:4])
    assert "[redacted]" in outputs[0]
    everything = "\n".join(outputs) + caplog.text
    assert SECRET not in everything and SECRET[-8:] not in everything


def test_cli_query_and_connectors_test(fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = {"connectors": {"gh": {"type": "github", "repository": REPO, "base_url": fake.api_url,
                                    "token": {"env": "GH_TEST_TOKEN"}}}}
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "triage.yaml"))
    runner = CliRunner()
    shown = runner.invoke(app, ["query", "gh", "diff: 9f8e7d6", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["rows"][0]["filename"] == "src/cart.py"
    refused = runner.invoke(app, ["query", "gh", "file: ../../etc/passwd@9f8e7d6"])
    assert refused.exit_code == 1 and "is not a plain path inside the repository" in refused.output
    checked = runner.invoke(app, ["connectors", "test", "gh"])
    assert checked.exit_code == 0, checked.output
    assert "gh (deploys): ok" in checked.output
    assert SECRET not in shown.output + refused.output + checked.output


def test_no_request_but_a_read_ever_reached_the_server(fake: FakeGitHub):
    assert fake.server.methods == {"GET"}  # this module never uses the App flow
