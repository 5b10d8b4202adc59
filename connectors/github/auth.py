"""GitHub credentials for the read connector: a token (fine-grained or classic) or a GitHub App
installation, built on githubkit's auth strategies, and what each reveals about write access.

An App installation token is requested read-only (`permissions`, default contents / deployments /
metadata: read) and for the one configured repository, so even an App that may write hands this
connector a token that cannot.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from typing import Any, Literal, cast

import httpx
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.utils import UNSET, Unset
from githubkit_schemas.latest.models import FullRepository
from githubkit_schemas.latest.types import AppPermissionsType
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.secrets import SecretRef

READ_PERMISSIONS: dict[str, Literal["read"]] = {"contents": "read", "deployments": "read",
                                                "metadata": "read"}
# Classic-token scopes that let a token push commits or open pull requests.
WRITE_SCOPES = frozenset({"repo", "public_repo"})
# The one non-GET request this connector sends: exchanging the App's JWT for an installation token.
_TOKEN_EXCHANGE = re.compile(r"/app/installations/\d+/access_tokens$")


class ReadOnlyViolation(RuntimeError):
    """A request other than a read was about to be sent: a programming error, never sent."""


class GitHubAppSettings(BaseModel):
    """`app:` — authenticate as a GitHub App installation."""

    model_config = ConfigDict(extra="forbid")

    app_id: int = Field(gt=0)
    installation_id: int = Field(gt=0)
    private_key: SecretRef
    permissions: dict[str, Literal["read"]] | None = Field(
        default_factory=lambda: dict(READ_PERMISSIONS),
        description="asked for when the installation token is made; null: all the App has")


def only_reads(request: httpx.Request) -> None:
    """httpx request hook: GET / HEAD, and the App token exchange; anything else raises."""
    if request.method in ("GET", "HEAD"):
        return
    if request.method == "POST" and _TOKEN_EXCHANGE.search(request.url.path):
        return
    raise ReadOnlyViolation(f"refusing to send {request.method} {request.url.path}: "
                            "the GitHub read connector only reads")


def app_strategy(app: GitHubAppSettings, key: SecretStr, repo_name: str) -> AppInstallationAuthStrategy:
    """githubkit's installation strategy, asking for a read-only token for one repository."""
    permissions = UNSET if app.permissions is None else cast(AppPermissionsType, app.permissions)
    return AppInstallationAuthStrategy(app.app_id, key.get_secret_value(), app.installation_id,
                                       repositories=[repo_name], permissions=permissions)


def make_client(auth: TokenAuthStrategy | AppAuthStrategy | AppInstallationAuthStrategy,
                base_url: str, timeout: float, verify: ssl.SSLContext | bool) -> GitHub[Any]:
    """A githubkit client: no HTTP cache, no built-in retries (ours honour Retry-After), reads only."""
    return GitHub(auth, base_url=base_url, timeout=timeout, ssl_verify=verify, http_cache=False,
                  auto_retry=False, cache_strategy=MemCacheStrategy(), user_agent="sre-triage-read",
                  event_hooks={"request": [only_reads]})


def token_write_access(repo: FullRepository, headers: Mapping[str, str]) -> tuple[bool | None, str]:
    """Classic tokens list their scopes in `X-OAuth-Scopes`; fine-grained tokens reveal nothing,
    but a token can never do more than its owner, whose access the repository reports."""
    perms = repo.permissions if not _unset(repo.permissions) else None
    owner_can_push = bool(perms and (perms.push or perms.admin or _get(perms, "maintain")))
    scopes_header = headers.get("x-oauth-scopes")
    if scopes_header is not None:
        scopes = {s.strip() for s in scopes_header.split(",") if s.strip()}
        writes = scopes & WRITE_SCOPES if not repo.private else scopes & {"repo"}
        listed = ", ".join(sorted(scopes)) or "none"
        if writes and owner_can_push:
            return True, (f"classic token with scopes {listed}: it can push to {repo.full_name} and "
                          "open pull requests; use a fine-grained read-only token")
        return False, f"classic token with scopes {listed}: no write scope for {repo.full_name}"
    if perms is not None and not owner_can_push:
        return False, (f"fine-grained token whose owner cannot push to {repo.full_name}, "
                       "so neither can the token")
    return None, ("fine-grained token: GitHub does not reveal its own permissions and its owner can "
                  f"push to {repo.full_name}; give it Contents, Deployments and Metadata read-only")


def installation_write_access(permissions: Mapping[str, Any]) -> tuple[bool, str]:
    """From the access-token response: does the installation token hold any write permission?"""
    granted = {k: str(v) for k, v in permissions.items() if v is not None}
    writes = sorted(k for k, v in granted.items() if v in ("write", "admin"))
    listed = ", ".join(f"{k}={v}" for k, v in sorted(granted.items())) or "none"
    if writes:
        flagged = [w for w in writes if w in ("contents", "pull_requests")]
        note = f" (including {', '.join(flagged)})" if flagged else ""
        return True, (f"installation token permissions: {listed}; it can write {', '.join(writes)}"
                      f"{note}: set `app.permissions` to read-only ones")
    return False, f"installation token permissions: {listed}; read-only"


def _unset(value: Any) -> bool:
    """Absent from the response (githubkit's UNSET) or null."""
    return isinstance(value, Unset) or value is None


def _get(model: Any, name: str) -> Any:
    """An optional model field, None when absent."""
    value = getattr(model, name, None)
    return None if _unset(value) else value
