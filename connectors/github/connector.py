"""GitHub (githubkit), read-only: a service repository's deployments, releases and commits in a
time range, the diff of a commit, and a file at a commit. Query syntax: `connectors.github.query`.

Works with github.com and GitHub Enterprise Server (`base_url: https://ghe.example.com/api/v3`).
Authenticates with a fine-grained or classic token, or as a GitHub App installation whose token
is requested read-only for the one repository; every request but a read is refused before it is
sent (`connectors.github.auth.only_reads`).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import jwt
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import (
    GitHubException,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)
from githubkit.utils import UNSET, Unset
from githubkit_schemas.latest.models import ContentFile, Deployment, DeploymentStatus
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.github.auth import (
    GitHubAppSettings,
    ReadOnlyViolation,
    app_strategy,
    installation_write_access,
    make_client,
    token_write_access,
)
from connectors.github.query import GitHubQuery, parse_query, quote_path
from connectors.github.rows import (
    Links,
    commit_row,
    commits_summary,
    deployment_row,
    deploys_summary,
    diff_summary,
    file_change_row,
    file_lines,
    release_row,
    web_url_for,
)
from connectors.retry import MAX_RETRY_AFTER, call_with_retries, parse_retry_after
from connectors.secrets import SecretRef, scrub

T = TypeVar("T")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
MAX_STATUS_LOOKUPS = 20  # one extra request per deployment for its latest state; bounded
MAX_PAGES = 10  # deployments / releases come newest first; never scan more than this


class GitHubSettings(BaseModel):
    """`type: github` — one repository, and a token or a GitHub App installation."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["github"] = "github"
    repository: str = Field(description="owner/name")
    base_url: str = Field(default="https://api.github.com",
                          description="GitHub Enterprise Server: https://HOST/api/v3")
    web_url: str | None = Field(default=None, description="default: derived from base_url")
    token: SecretRef | None = None
    app: GitHubAppSettings | None = None
    branch: str | None = Field(default=None, description="commits of this branch; default branch")
    service: str | None = Field(default=None, description="service name in deploy rows; default: repo")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    attempts: int = Field(default=4, ge=1, le=10, description="tries per call on transient errors")
    ca_bundle: Path | None = Field(default=None, description="PEM CA bundle (GHES with a private CA)")

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        """Refuse anything but `owner/name`."""
        if not _REPOSITORY.match(value) or value.endswith((".", "/..")):
            raise ValueError(f"repository must be owner/name, not {value!r}")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Refuse anything but http(s):// (and drop a trailing slash)."""
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s):// URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_credential(self) -> GitHubSettings:
        """Exactly one way to authenticate."""
        if (self.token is None) == (self.app is None):
            raise ValueError("give exactly one of `token` (fine-grained or classic) or `app`")
        return self


class GitHubConnector:
    """Reads what changed in one repository: deployments, releases, commits, diffs, files."""

    kind = EvidenceKind.DEPLOYS
    settings_model = GitHubSettings

    def __init__(self, name: str, settings: GitHubSettings, client: GitHub[Any] | None = None) -> None:
        self.name = name
        self.settings = settings
        self.owner, self.repo = settings.repository.split("/")
        self.service = settings.service or self.repo
        self.links = Links(settings.web_url or web_url_for(settings.base_url), settings.repository)
        self._secret = (settings.token or settings.app.private_key).resolve()  # type: ignore[union-attr]
        self._verify: ssl.SSLContext | bool = True
        if settings.ca_bundle is not None:
            self._verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
        self._gh = client or make_client(self._strategy(), settings.base_url, settings.timeout_seconds,
                                         self._verify)

    def _strategy(self) -> TokenAuthStrategy | Any:
        """githubkit's token strategy, or its App installation strategy."""
        if self.settings.app is None:
            return TokenAuthStrategy(self._secret.get_secret_value())
        return app_strategy(self.settings.app, self._secret, self.repo)

    def _call(self, fetch: Callable[[], T]) -> T:
        """One call with bounded retries on transient errors only."""
        return call_with_retries(fetch, is_transient=_is_transient, retry_after=_retry_after,
                                 attempts=self.settings.attempts)

    # -- the Connector protocol ----------------------------------------------------------------

    def query(self, request: QueryRequest) -> Evidence:
        """Run one query; refused or failed queries come back as error Evidence."""
        builder = EvidenceBuilder(self, request)
        try:
            parsed = parse_query(request.query)
            return self._run(builder, request, parsed)
        except QueryRefused as exc:
            return builder.error(str(exc))
        except (GitHubException, ValidationError) as exc:
            return builder.error(scrub(self._describe(exc), self._secret))

    def _run(self, builder: EvidenceBuilder, request: QueryRequest, q: GitHubQuery) -> Evidence:
        """Fetch what the parsed query names and shape it into Evidence."""
        if q.verb == "deployments":
            rows = self._deployments(request, q.arg)
            if q.row_filter is not None:
                rows = [r for r in rows if q.row_filter.matches(r, r["description"])]
            return builder.ok(rows, deploys_summary(rows, len(rows), "deployments"),
                              link=self.links.deployments(q.arg))
        if q.verb == "releases":
            rows = self._releases(request)
            return builder.ok(rows, deploys_summary(rows, len(rows), "releases"), link=self.links.releases())
        if q.verb == "commits":
            rows = [commit_row(c) for c in self._commits(request, q.arg)]
            link = self.links.commits(request.start, request.end, self.settings.branch, q.arg)
            return builder.ok(rows, commits_summary(rows, request.limit), link=link)
        assert q.sha is not None
        if q.verb == "diff":
            commit = self._call(lambda: self._gh.rest.repos.get_commit(
                self.owner, self.repo, q.sha or "", per_page=min(300, request.limit + 1))).parsed_data
            files = commit.files if isinstance(commit.files, list) else []
            rows = [file_change_row(f) for f in files]
            return builder.ok(rows, diff_summary(commit, rows), link=self.links.commit(commit.sha))
        return self._file(builder, q.arg or "", q.sha)

    def _file(self, builder: EvidenceBuilder, path: str, sha: str) -> Evidence:
        """A file's lines (or a directory's entries) at a commit."""
        content = self._call(lambda: self._gh.rest.repos.get_content(
            self.owner, self.repo, quote_path(path), ref=sha)).parsed_data
        link = self.links.blob(path, sha)
        if isinstance(content, list):
            entries: list[dict[str, Any]] = [{"name": item.name, "type": item.type, "size": item.size}
                                             for item in content]
            return builder.ok(entries, f"{path}@{sha} is a directory of {len(entries)} entries", link=link)
        if not isinstance(content, ContentFile):
            return builder.error(f"{path}@{sha} is a {content.type}, not a file")
        try:
            rows = file_lines(content)
        except ValueError as exc:
            return builder.error(str(exc))
        first = next((r["text"] for r in rows if r["text"].strip()), "")
        return builder.ok(rows, f"{path}@{sha}: {len(rows)} lines, {content.size} bytes; "
                                f"first: {first[:120]}", link=link)

    def _commits(self, request: QueryRequest, path: str | None) -> list[Any]:
        """Up to `limit + 1` commits in the window, newest first."""
        def fetch() -> list[Any]:
            pages = self._gh.rest.paginate(
                self._gh.rest.repos.list_commits, owner=self.owner, repo=self.repo,
                sha=self.settings.branch or UNSET, path=path or UNSET, since=_timestamp(request.start),
                until=_timestamp(request.end), per_page=min(100, request.limit + 1))
            return list(islice(pages, request.limit + 1))

        return self._call(fetch)

    def _newest_first(self, lister: Callable[..., Any], request: QueryRequest,
                      created: Callable[[Any], datetime], **params: Any) -> list[Any]:
        """Items of a newest-first listing, until one was created before the window (kept: it
        names the commit deployed before the window)."""
        def fetch() -> list[Any]:
            seen: list[Any] = []
            pages = self._gh.rest.paginate(lister, owner=self.owner, repo=self.repo, per_page=100, **params)
            for item in islice(pages, 100 * MAX_PAGES):
                seen.append(item)
                if created(item) < request.start:
                    break
            return seen

        return self._call(fetch)

    def _deployments(self, request: QueryRequest, environment: str | None) -> list[dict[str, Any]]:
        """Deployments created in the window, with latest state and predecessor commit."""
        listed: list[Deployment] = self._newest_first(
            self._gh.rest.repos.list_deployments, request, lambda d: d.created_at,
            environment=environment or UNSET)
        inside = [d for d in listed if request.start <= d.created_at < request.end]
        rows = []
        for n, deployment in enumerate(inside):
            status = self._latest_status(deployment) if n < MAX_STATUS_LOOKUPS else None
            rows.append(deployment_row(deployment, self.service, status))
        # Each deploy's predecessor in the same environment: the last good commit to compare with.
        older = sorted(listed, key=lambda d: d.created_at)
        for row in rows:
            before = [d for d in older if d.environment == row["environment"]
                      and d.created_at < datetime.fromisoformat(row["deployed_at"].replace("Z", "+00:00"))]
            row["previous_commit"] = before[-1].sha if before else None
        return rows

    def _latest_status(self, deployment: Deployment) -> DeploymentStatus | None:
        """The newest status of one deployment (GitHub lists them newest first)."""
        statuses = self._call(lambda: self._gh.rest.repos.list_deployment_statuses(
            self.owner, self.repo, deployment.id, per_page=1)).parsed_data
        return statuses[0] if statuses else None

    def _releases(self, request: QueryRequest) -> list[dict[str, Any]]:
        """Releases published in the window (drafts have no publication time)."""
        listed = self._newest_first(self._gh.rest.repos.list_releases, request, lambda r: r.created_at)
        return [release_row(r, self.service) for r in listed
                if r.published_at is not None and request.start <= r.published_at < request.end]

    def check(self) -> ConnectorCheck:
        """Read the repository; find out from the token (or the App's token) whether it could write."""
        auth = "GitHub App installation" if self.settings.app else "token"
        details = [f"{self.settings.repository} at {self.settings.base_url}, {auth} from "
                   f"{(self.settings.token or self.settings.app.private_key).describe()}"]  # type: ignore[union-attr]
        try:
            response = self._call(lambda: self._gh.rest.repos.get(self.owner, self.repo))
            repo = response.parsed_data
            details.append(f"read access to {repo.full_name} works (default branch {repo.default_branch}); "
                           f"deploy rows carry service={self.service}")
            if self.settings.app is None:
                can_write, why = token_write_access(repo, response.headers)
            else:
                can_write, why = installation_write_access(self._installation_permissions())
        except (GitHubException, ValidationError) as exc:
            details.append(scrub(self._describe(exc), self._secret))
            return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                                  can_write=None, details=details)
        details.append(why)
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=True,
                              can_write=can_write, details=details)

    def _installation_permissions(self) -> dict[str, Any]:
        """Make an installation token exactly as the query path does and read what it was granted."""
        app = self.settings.app
        assert app is not None
        with make_client(AppAuthStrategy(app.app_id, self._secret.get_secret_value()),
                         self.settings.base_url, self.settings.timeout_seconds, self._verify) as gh:
            extra: dict[str, Any] = {"permissions": app.permissions} if app.permissions is not None else {}
            token = self._call(lambda: gh.rest.apps.create_installation_access_token(
                app.installation_id, repositories=[self.repo], **extra)).parsed_data
        granted = token.permissions
        return {} if isinstance(granted, Unset) or granted is None else granted.model_dump(exclude_unset=True)

    def _describe(self, exc: BaseException) -> str:
        """The backend's own words for a failed call."""
        inner = exc.exc if isinstance(exc, RequestError) and not isinstance(exc, RequestFailed) else exc
        if isinstance(inner, ReadOnlyViolation):
            raise inner  # a programming error: never reported as backend trouble
        if isinstance(exc, RequestTimeout):
            return (f"GitHub did not answer GET {exc.request.url.path} within the "
                    f"{self.settings.timeout_seconds:g}s timeout, {self.settings.attempts} attempts")
        if isinstance(inner, RequestFailed):
            during = " while exchanging the App JWT for an installation token" if inner is not exc else ""
            return _failed_text(inner, self.settings.attempts) + during
        if isinstance(inner, httpx.TransportError):
            return f"cannot reach GitHub at {self.settings.base_url}: {type(inner).__name__}: {inner}"
        if isinstance(inner, jwt.PyJWTError) and self.settings.app is not None:
            return (f"cannot sign the GitHub App JWT with the private key from "
                    f"{self.settings.app.private_key.describe()}: {type(inner).__name__}: {inner}")
        if isinstance(exc, ValidationError):
            return f"GitHub answered with data that does not match its documented schema: {exc}"
        return f"GitHub request failed: {type(inner).__name__}: {inner}"

    def close(self) -> None:
        """Nothing pooled: githubkit opens a client per call outside a `with` block."""


def _timestamp(when: datetime) -> Any:
    """GitHub's documented `YYYY-MM-DDTHH:MM:SSZ` (httpx would send `str(datetime)`, with a space)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _failed_text(exc: RequestFailed, attempts: int) -> str:
    """`GitHub answered 404 to GET /repos/o/r/commits/abc: Not Found` plus a hint."""
    status = exc.response.status_code
    try:
        body = exc.response.raw_response.json()
        message = body.get("message", "") if isinstance(body, dict) else str(body)
    except ValueError:
        message = exc.response.raw_response.text[:300]
    hint = {401: "the token or App credentials were rejected",
            403: "the credentials may not read this (or a rate limit)",
            404: "no such repository, commit or path, or the credentials cannot see it",
            422: "GitHub could not process the request",
            429: f"rate limited; gave up after {attempts} attempts"}.get(status, "")
    if isinstance(exc, RateLimitExceeded):
        wait = exc.retry_after.total_seconds()
        hint = f"rate limited (GitHub asked to wait {wait:g}s); gave up after {attempts} attempts"
    return (f"GitHub answered {status} to {exc.request.method} {exc.request.url.path}: {message}"
            + (f" — {hint}" if hint else ""))


def _is_transient(exc: BaseException) -> bool:
    """Server errors, 429, secondary rate limits, short primary ones, timeouts and resets."""
    if isinstance(exc, RateLimitExceeded):
        return exc.retry_after.total_seconds() <= MAX_RETRY_AFTER
    if isinstance(exc, RequestFailed):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    if isinstance(exc, RequestError):
        return isinstance(exc.exc, httpx.TransportError)
    return False


def _retry_after(exc: BaseException) -> float | None:
    """Seconds to wait as the server asked (rate-limit reset or `Retry-After`)."""
    if isinstance(exc, RateLimitExceeded):
        return exc.retry_after.total_seconds()
    if isinstance(exc, RequestFailed):
        return parse_retry_after(exc.response.headers.get("retry-after"))
    return None

