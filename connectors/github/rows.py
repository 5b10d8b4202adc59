"""GitHub REST objects (githubkit models) turned into bounded Evidence rows, summaries and links
into GitHub's own web UI.

Deployment and release rows carry `service`, `commit` and `deployed_at`, the deploy shape the
deploy analyzer reads, so GitHub deployments (or releases) stand in for a deploys file.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from githubkit.utils import Unset
from githubkit_schemas.latest.models import (
    Commit,
    ContentFile,
    Deployment,
    DeploymentStatus,
    DiffEntry,
    Release,
)


def _v(value: Any) -> Any:
    """A model field's value; githubkit's UNSET (field absent from the response) as None."""
    return None if isinstance(value, Unset) else value


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 with a Z suffix."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _login(user: Any) -> str | None:
    """A user's login, if the object has one."""
    return _v(getattr(user, "login", None)) if user is not None else None


def web_url_for(api_url: str) -> str:
    """GitHub's web UI for an API base URL: api.github.com -> github.com; GHES /api/v3 -> host."""
    base = api_url.rstrip("/")
    if base in ("https://api.github.com", "http://api.github.com"):
        return "https://github.com"
    return base.removesuffix("/api/v3")


class Links:
    """Deep links into the repository's pages on GitHub (or GitHub Enterprise)."""

    def __init__(self, web_url: str, repository: str) -> None:
        """Links under `{web_url}/{owner}/{name}`."""
        self.repo = f"{web_url.rstrip('/')}/{repository}"

    def commits(self, start: datetime, end: datetime, branch: str | None, path: str | None) -> str:
        """The commit history page, filtered to the window's days (and a path)."""
        where = f"/{quote(branch or 'HEAD', safe='')}" if path or branch else ""
        where += f"/{quote(path, safe='/')}" if path else ""
        return (f"{self.repo}/commits{where}?"
                + urlencode({"since": start.date().isoformat(), "until": end.date().isoformat()}))

    def deployments(self, environment: str | None) -> str:
        """The deployments page (of one environment)."""
        return f"{self.repo}/deployments" + (f"/{quote(environment, safe='')}" if environment else "")

    def releases(self) -> str:
        """The releases page."""
        return f"{self.repo}/releases"

    def commit(self, sha: str) -> str:
        """One commit's page with its diff."""
        return f"{self.repo}/commit/{sha}"

    def blob(self, path: str, sha: str) -> str:
        """A file at a commit."""
        return f"{self.repo}/blob/{sha}/{quote(path, safe='/')}"


def deployment_row(deployment: Deployment, service: str, status: DeploymentStatus | None) -> dict[str, Any]:
    """One deployment; `state` is its latest status (success, failure, in_progress, ...)."""
    return {
        "deployed_at": _iso(deployment.created_at),
        "service": service,
        "commit": deployment.sha,
        "environment": deployment.environment,
        "ref": deployment.ref,
        "task": deployment.task,
        "description": deployment.description or "",
        "author": _login(deployment.creator) or "",
        "state": status.state if status else None,
        "state_at": _iso(status.created_at) if status else None,
        "previous_commit": None,
        "id": str(deployment.id),
    }


def release_row(release: Release, service: str) -> dict[str, Any]:
    """One published release; `commit` is its target (a branch name or a SHA)."""
    return {
        "deployed_at": _iso(release.published_at),
        "service": service,
        "commit": release.target_commitish,
        "tag": release.tag_name,
        "name": release.name,
        "prerelease": release.prerelease,
        "author": _login(release.author) or "",
        "description": (_v(release.body) or "")[:1000],
        "url": release.html_url,
        "id": str(release.id),
    }


def commit_row(commit: Commit) -> dict[str, Any]:
    """One commit: when, who, the first line of its message."""
    detail = commit.commit
    date = _v(detail.committer.date) if detail.committer else None
    author = _login(commit.author) or (_v(detail.author.name) if detail.author else None)
    return {
        "timestamp": _iso(date),
        "sha": commit.sha,
        "author": author,
        "message": detail.message.split("\n", 1)[0],
        "parents": len(commit.parents),
        "url": commit.html_url,
    }


def file_change_row(entry: DiffEntry) -> dict[str, Any]:
    """One changed file of a commit, with its patch (cut to the cell limit if long)."""
    return {
        "filename": entry.filename,
        "status": entry.status,
        "additions": entry.additions,
        "deletions": entry.deletions,
        "previous_filename": _v(entry.previous_filename),
        "patch": _v(entry.patch),
    }


def file_lines(content: ContentFile) -> list[dict[str, Any]]:
    """A file's lines as rows; raise ValueError for content the API did not inline or binary data."""
    if content.encoding != "base64":
        raise ValueError(f"GitHub did not inline this file ({content.size} bytes, encoding "
                         f"{content.encoding!r}); files over 1 MB are not served by the contents API")
    try:
        text = base64.b64decode(content.content).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{content.path} is not UTF-8 text ({content.size} bytes)") from exc
    return [{"line": n, "text": line} for n, line in enumerate(text.splitlines(), start=1)]


def deploys_summary(rows: list[dict[str, Any]], total: int, what: str) -> str:
    """`3 deployments; latest: 2024-05-01T11:40:00Z production 9f8e7d6c5b4a by lee (success)`."""
    shown = "; ".join(
        f"{r['deployed_at']} {r.get('environment') or r.get('tag')} {str(r['commit'])[:12]} by "
        f"{r['author'] or '?'}{' (' + r['state'] + ')' if r.get('state') else ''}"
        for r in rows[:5])
    return f"{total} {what}; latest: {shown}"


def commits_summary(rows: list[dict[str, Any]], limit: int) -> str:
    """How many commits (`501+` when more than the limit), by whom, and the newest few."""
    kept = rows[:limit]
    authors = Counter(str(r["author"]) for r in kept)
    newest = "; ".join(f"{r['sha'][:10]} {r['message'][:80]}" for r in kept[:5])
    by = ", ".join(f"{a} ×{n}" for a, n in authors.most_common(5))
    count = f"{limit}+" if len(rows) > limit else str(len(rows))
    return f"{count} commits by {by}; newest: {newest}"


def diff_summary(commit: Commit, rows: list[dict[str, Any]]) -> str:
    """`9f8e7d6c5b by lee: <subject>; 3 files +40 -12: a.py (+30 -2), ...`."""
    head = commit_row(commit)
    adds = sum(int(r["additions"]) for r in rows)
    dels = sum(int(r["deletions"]) for r in rows)
    files = ", ".join(f"{r['filename']} (+{r['additions']} -{r['deletions']})" for r in rows[:8])
    return (f"{commit.sha[:10]} by {head['author'] or '?'} at {head['timestamp']}: {head['message']}; "
            f"{len(rows)} files +{adds} -{dels}: {files}")
