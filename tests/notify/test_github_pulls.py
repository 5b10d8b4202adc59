"""Draft pull requests: a real `git push` to a local bare repository, and githubkit against a
loopback server speaking GitHub's pull-request API (created as a draft, found again by its branch
and updated, a closed one left closed, never merged, precise errors, App installation tokens)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from githubkit import TokenAuthStrategy
from githubkit.exception import RequestError
from pydantic import SecretStr

from connectors.secrets import SecretRef
from tests.connectors.github_fixtures import new_key
from tests.fakes.github import App, Token
from tests.fakes.github_pulls import FakeGitHubPulls
from tests.fakes.loopback import Reply
from tests.scenarios.git_repos import History, git
from triage.fix.config import GitHubAppCredentials, PullRequestConfig
from triage.notify.github import DraftPullRequests, PullRequestError

TOKEN = "github_pat_fake_fix_0123456789"
BRANCH = "triage/inv_0123456789abcdef0123"


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path, str]:
    """A bare `remote` with `main`, and a checkout of it with one more commit (the fix)."""
    source = History.new(tmp_path / "source")
    source.commit("one", "First", "mara", "2026-01-01T00:00:00+00:00", {"app.py": "v = 1\n"})
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source.path), str(remote)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    (work / "app.py").write_text("v = 2\n")
    git(work, "commit", "-q", "-am", "Revert the bump", author="kim", when="2026-01-02T00:00:00+00:00")
    return remote, work, git(work, "rev-parse", "HEAD")


@pytest.fixture
def fake(place: tuple[Path, Path, str]) -> Iterator[FakeGitHubPulls]:
    server = FakeGitHubPulls(place[0])
    server.tokens[TOKEN] = Token("fine", push=True)
    yield server
    server.server.stop()


def config(fake: FakeGitHubPulls, remote: Path, **extra: object) -> PullRequestConfig:
    values: dict[str, object] = {"repository": "acme/checkout", "api_url": fake.api_url,
                                 "push_url": str(remote), "token": {"env": "GH_FIX_TOKEN"}}
    return PullRequestConfig.model_validate({**values, **extra})


def open_once(fake: FakeGitHubPulls, place: tuple[Path, Path, str], body: str = "first body"):
    remote, work, _ = place
    drafts = DraftPullRequests(config(fake, remote))
    credential = drafts.credential()
    drafts.push(work, BRANCH, credential)
    return drafts.open_or_update(BRANCH, "Revert the bump", body, credential)


def test_pushes_the_branch_and_opens_a_draft_pull_request(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    info = open_once(fake, place)
    assert (info.number, info.action, info.draft, info.state) == (41, "created", True, "open")
    assert info.url == "https://github.com/acme/checkout/pull/41"
    assert fake.branch_sha(BRANCH) == place[2]  # pushed with real git
    created = next(s for s in fake.server.seen if s.method == "POST")
    assert created.json() == {"title": "Revert the bump", "head": BRANCH, "base": "main",
                              "body": "first body", "draft": True}
    assert created.headers["authorization"] == f"token {TOKEN}"
    assert fake.merge_attempts == []
    assert not {s.method for s in fake.server.seen} & {"PUT", "DELETE"}


def test_a_second_run_updates_the_same_pull_request(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    open_once(fake, place)
    again = open_once(fake, place, body="second body")  # same commit: the push is a no-op
    assert (again.number, again.action) == (41, "updated")
    assert len(fake.pulls) == 1
    assert fake.pulls[0]["body"] == "second body"
    listed = [s for s in fake.server.seen if s.method == "GET" and s.path.endswith("/pulls")]
    assert listed[-1].query["head"] == [f"acme:{BRANCH}"]
    assert listed[-1].query["state"] == ["all"]


def test_a_closed_pull_request_is_left_closed(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    open_once(fake, place)
    fake.pulls[0]["state"] = "closed"
    again = open_once(fake, place, body="not this")
    assert (again.number, again.action, again.state) == (41, "left closed", "closed")
    assert fake.pulls[0]["body"] == "first body"
    assert not [s for s in fake.server.seen if s.method == "PATCH"]


def test_a_pull_request_created_meanwhile_is_found_after_githubs_422(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    open_once(fake, place)
    # This run's first look finds nothing (another run was creating it at that moment).
    fake.server.queue("/api/v3/repos/acme/checkout/pulls", Reply(200, []))
    again = open_once(fake, place, body="after the race")
    assert (again.number, again.action) == (41, "updated")
    assert len(fake.pulls) == 1


def test_a_token_that_cannot_write_gets_githubs_reason(fake, place, monkeypatch):
    fake.tokens[TOKEN] = Token("fine", push=False)
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    with pytest.raises(PullRequestError) as caught:
        open_once(fake, place)
    assert str(caught.value) == ("acme/checkout: GitHub answered 403: Resource not accessible by "
                                 "personal access token")
    assert fake.pulls == []


def test_bad_credentials_and_a_missing_secret_are_precise_errors(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", "github_pat_wrong_00000000")
    with pytest.raises(PullRequestError, match="GitHub answered 401: Bad credentials"):
        open_once(fake, place)
    monkeypatch.delenv("GH_FIX_TOKEN")
    with pytest.raises(PullRequestError, match="secret not set: environment variable GH_FIX_TOKEN"):
        open_once(fake, place)


def test_validation_errors_name_the_field(fake, place, monkeypatch):
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    drafts = DraftPullRequests(config(fake, place[0]))
    with pytest.raises(PullRequestError, match=r"GitHub answered 422: Validation Failed \(invalid\)"):
        drafts.open_or_update("triage/never-pushed", "t", "b", SecretStr(TOKEN))


def test_a_github_app_gets_a_write_token_for_the_one_repository(fake, place, monkeypatch):
    private_key, public_key = new_key()
    fake.apps = [App(7, 99, public_key, {"contents": "write", "pull_requests": "write",
                                         "metadata": "read"})]
    monkeypatch.setenv("GH_FIX_APP_KEY", private_key)
    remote, work, _ = place
    app = GitHubAppCredentials(app_id=7, installation_id=99,
                               private_key=SecretRef(env="GH_FIX_APP_KEY"))
    drafts = DraftPullRequests(config(fake, remote, token=None, app=app.model_dump()))
    credential = drafts.credential()
    assert credential.get_secret_value().startswith("ghs_fake")
    assert fake.exchanges[-1]["body"] == {"repositories": ["checkout"], "permissions": {
        "contents": "write", "pull_requests": "write"}}
    assert str(fake.exchanges[-1]["claims"]["iss"]) == "7"
    drafts.push(work, BRANCH, credential)
    assert drafts.open_or_update(BRANCH, "t", "b", credential).action == "created"


def test_an_app_without_pull_request_rights_is_refused_with_the_reason(fake, place, monkeypatch):
    private_key, public_key = new_key()
    fake.apps = [App(7, 99, public_key, {"contents": "read", "metadata": "read"})]
    monkeypatch.setenv("GH_FIX_APP_KEY", private_key)
    app = {"app_id": 7, "installation_id": 99, "private_key": {"env": "GH_FIX_APP_KEY"}}
    drafts = DraftPullRequests(config(fake, place[0], token=None, app=app))
    with pytest.raises(PullRequestError, match="installation token for App 7: GitHub answered "
                                               "422: The permissions requested are not granted"):
        drafts.credential()


def test_merging_is_refused_before_anything_is_sent(fake, place, monkeypatch):
    drafts = DraftPullRequests(config(fake, place[0]))
    with drafts._client(TokenAuthStrategy(TOKEN)) as gh, pytest.raises(RequestError) as caught:
        gh.rest.pulls.merge("acme", "checkout", 41)
    assert isinstance(caught.value.exc, PullRequestError)
    assert "triage never merges" in str(caught.value.exc)
    assert fake.merge_attempts == []
    assert not [s for s in fake.server.seen if "merge" in s.path]


def test_a_branch_someone_moved_on_is_not_overwritten(fake, place, monkeypatch):
    remote, work, head = place
    monkeypatch.setenv("GH_FIX_TOKEN", TOKEN)
    git(work, "push", "-q", str(remote), f"HEAD:refs/heads/{BRANCH}")
    (work / "app.py").write_text("v = 3\n")
    git(work, "commit", "-q", "-am", "A reviewer's change", author="ana",
        when="2026-01-03T00:00:00+00:00")
    git(work, "push", "-q", str(remote), f"HEAD:refs/heads/{BRANCH}")
    git(work, "reset", "-q", "--hard", head)
    drafts = DraftPullRequests(config(fake, remote))
    with pytest.raises(PullRequestError, match="rejected"):
        drafts.push(work, BRANCH, SecretStr(TOKEN))
    assert fake.branch_sha(BRANCH) != head


def test_the_token_reaches_git_as_a_header_and_never_an_error_message(fake, place):
    remote, work, _ = place
    drafts = DraftPullRequests(config(fake, remote, push_url=f"{fake.url}/acme/checkout.git"))
    with pytest.raises(PullRequestError) as caught:
        drafts.push(work, BRANCH, SecretStr(TOKEN))
    asked = next(s for s in fake.server.seen if s.path.endswith("/info/refs"))
    expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert asked.headers["authorization"] == f"Basic {expected}"
    assert TOKEN not in str(caught.value)
    assert expected not in str(caught.value)
