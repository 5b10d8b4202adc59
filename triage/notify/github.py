"""Draft pull requests for verified fixes (githubkit), pushed from the host side: the sandbox never
sees a credential. Idempotent: the branch is named after the investigation and its pull request is
found by that branch, so a second run updates the same pull request. It never merges: no call here
merges, and a request hook refuses any merge endpoint before it is sent.

Credentials: a fine-grained token (Contents and Pull requests: read and write) or a GitHub App
installation, whose token is asked for exactly those permissions on the one repository.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException, RequestError, RequestFailed
from githubkit_schemas.latest.models import PullRequest, PullRequestSimple
from pydantic import SecretStr

from connectors.base import ConnectorConfigError
from connectors.secrets import scrub
from sandbox.base import WorkspaceError
from sandbox.git import network_env, run_git
from triage.fix.config import PullRequestConfig
from triage.fix.records import PullRequestInfo

WRITE_PERMISSIONS = {"contents": "write", "pull_requests": "write"}
PUSH_TIMEOUT = 300.0


class PullRequestError(Exception):
    """A push or a pull-request call failed; the message has GitHub's reason, never a token."""


def refuse_merges(request: httpx.Request) -> None:
    """httpx request hook: the triage service never merges (nor deletes) anything."""
    path = request.url.path.rstrip("/")
    if request.method == "DELETE" or path.endswith("/merge") or path.endswith("/merges"):
        raise PullRequestError(f"refusing to send {request.method} {path}: triage never merges")


class DraftPullRequests:
    """Pushes a branch and opens (or updates) its draft pull request in one repository."""

    def __init__(self, config: PullRequestConfig, *, ssl_verify: bool = True) -> None:
        """Talk to `config.api_url` about `config.repository`."""
        self.config = config
        self.owner, self.name = config.repository.split("/")
        self._verify = ssl_verify

    def credential(self) -> SecretStr:
        """The token: the configured one, or a fresh installation token of the App."""
        try:
            if self.config.token is not None:
                return self.config.token.resolve()
            assert self.config.app is not None
            app = self.config.app
            key = app.private_key.resolve().get_secret_value()
        except ConnectorConfigError as exc:
            raise PullRequestError(str(exc)) from exc
        with self._client(AppAuthStrategy(app.app_id, key)) as gh:
            try:
                answer = gh.rest.apps.create_installation_access_token(
                    app.installation_id, repositories=[self.name],
                    permissions=WRITE_PERMISSIONS)
            except GitHubException as exc:
                raise PullRequestError(f"installation token for App {app.app_id}: "
                                       f"{_reason(exc)}") from exc
        return SecretStr(answer.parsed_data.token)

    def push(self, checkout: Path, branch: str, token: SecretStr) -> None:
        """Push HEAD of our host checkout to `branch` (never forced: others' commits stay)."""
        header = base64.b64encode(f"x-access-token:{token.get_secret_value()}".encode()).decode()
        # In the environment, not on the command line: other local users can read argv.
        env = {**network_env(), "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
               "GIT_CONFIG_VALUE_0": f"Authorization: Basic {header}"}
        try:
            run_git(["-C", str(checkout), "push", "--quiet", self.config.resolved_push_url(),
                     f"HEAD:refs/heads/{branch}"], timeout=PUSH_TIMEOUT, env=env,
                    what=f"push of {branch}")
        except WorkspaceError as exc:
            raise PullRequestError(scrub(str(exc), token, header)) from exc

    def open_or_update(self, branch: str, title: str, body: str,
                       token: SecretStr) -> PullRequestInfo:
        """The draft pull request of `branch`: updated if open, left alone if closed, else created."""
        with self._client(TokenAuthStrategy(token.get_secret_value())) as gh:
            try:
                found = self._find(gh, branch)
                if found is None:
                    base = self.config.base or gh.rest.repos.get(
                        self.owner, self.name).parsed_data.default_branch
                    try:
                        created = gh.rest.pulls.create(self.owner, self.name, title=title,
                                                       head=branch, base=base, body=body,
                                                       draft=True).parsed_data
                        return _info(created, "created")
                    except RequestFailed as exc:
                        # Another run created it meanwhile: GitHub allows one per head and base.
                        if exc.response.status_code != 422 or (found := self._find(gh, branch)) is None:
                            raise
                if found.state != "open":
                    return _info(found, "left closed")
                updated = gh.rest.pulls.update(self.owner, self.name, found.number, title=title,
                                               body=body).parsed_data
                return _info(updated, "updated")
            except GitHubException as exc:
                raise PullRequestError(scrub(f"{self.config.repository}: {_reason(exc)}",
                                             token)) from exc

    def _find(self, gh: GitHub[Any], branch: str) -> PullRequestSimple | None:
        """The newest pull request (open or closed) whose head is `branch` of this repository."""
        pulls = gh.rest.pulls.list(self.owner, self.name, head=f"{self.owner}:{branch}",
                                   state="all", per_page=10).parsed_data
        return max(pulls, key=lambda pull: pull.number, default=None)

    def _client(self, auth: TokenAuthStrategy | AppAuthStrategy) -> GitHub[Any]:
        """githubkit on the configured API: no retries on writes, merges refused, and a cache of
        its own (githubkit's default is process-wide: a JWT of a rotated key would be reused)."""
        return GitHub(auth, base_url=self.config.api_url, timeout=self.config.timeout_seconds,
                      ssl_verify=self._verify, http_cache=False, auto_retry=False,
                      cache_strategy=MemCacheStrategy(), user_agent="sre-triage-fix",
                      event_hooks={"request": [refuse_merges]})


def _info(pull: PullRequest | PullRequestSimple, action: str) -> PullRequestInfo:
    """What the report keeps of a pull request."""
    draft = getattr(pull, "draft", None)
    return PullRequestInfo(number=pull.number, url=pull.html_url, state=pull.state,
                           draft=bool(draft) if isinstance(draft, bool) else False,
                           action=action)


def _reason(exc: GitHubException) -> str:
    """GitHub's own message (status, message, validation errors), or the transport error."""
    if isinstance(exc, RequestFailed):
        response = exc.response.raw_response
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return f"GitHub answered {response.status_code}: {response.text[:300]}"
        raw_errors = data.get("errors")
        errors = raw_errors if isinstance(raw_errors, list) else []
        detail = "; ".join(str(e.get("message") or e.get("code") or e) for e in errors
                           if isinstance(e, dict))
        return (f"GitHub answered {response.status_code}: {data.get('message', '')}"
                + (f" ({detail})" if detail else ""))
    if isinstance(exc, RequestError):
        return f"{type(exc.exc).__name__}: {exc.exc}"
    return f"{type(exc).__name__}: {exc}"
