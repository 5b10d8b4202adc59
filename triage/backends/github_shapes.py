"""GitHub REST response objects with every field githubkit's models require (githubkit validates
each response against the schema of its REST API version, so these must be schema-true)."""

from __future__ import annotations

import base64
from typing import Any

API = "https://api.github.com"
WEB = "https://github.com"


def user(login: str, ident: int = 1) -> dict[str, Any]:
    """A `simple-user`."""
    u = f"{API}/users/{login}"
    return {
        "login": login, "id": ident, "node_id": f"U_{ident}", "avatar_url": f"{WEB}/{login}.png",
        "gravatar_id": "", "url": u, "html_url": f"{WEB}/{login}", "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}", "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs", "repos_url": f"{u}/repos", "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events", "type": "User", "site_admin": False,
    }


def repository(full_name: str, *, private: bool, push: bool, admin: bool = False) -> dict[str, Any]:
    """A `full-repository`, with the caller's `permissions` on it."""
    owner_login, name = full_name.split("/")
    r = f"{API}/repos/{full_name}"
    urls = {f"{k}_url": f"{r}/{k}" for k in (
        "archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare",
        "contents", "contributors", "deployments", "downloads", "events", "forks", "git_commits",
        "git_refs", "git_tags", "issue_comment", "issue_events", "issues", "keys", "labels",
        "languages", "merges", "milestones", "notifications", "pulls", "releases", "stargazers",
        "statuses", "subscribers", "subscription", "tags", "teams", "trees", "hooks")}
    return {
        **urls, "id": 4242, "node_id": "R_4242", "name": name, "full_name": full_name,
        "owner": user(owner_login, 7), "private": private, "html_url": f"{WEB}/{full_name}",
        "description": "the checkout service", "fork": False, "url": r,
        "git_url": f"git://github.com/{full_name}.git", "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{WEB}/{full_name}.git", "svn_url": f"{WEB}/{full_name}", "mirror_url": None,
        "homepage": None, "language": "Python", "forks_count": 0, "stargazers_count": 3,
        "watchers_count": 3, "size": 120, "default_branch": "main", "open_issues_count": 1,
        "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False,
        "has_discussions": False, "archived": False, "disabled": False,
        "pushed_at": "2024-05-01T11:00:00Z", "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2024-05-01T11:00:00Z", "subscribers_count": 2, "network_count": 0,
        "license": None, "forks": 0, "open_issues": 1, "watchers": 3,
        "permissions": {"admin": admin, "maintain": admin, "push": push or admin, "triage": True,
                        "pull": True},
    }


def commit(full_name: str, sha: str, when: str, message: str, author: str,
           files: list[dict[str, Any]] | None = None, parent: str | None = None) -> dict[str, Any]:
    """A `commit` (list entries omit `files` and `stats`; the single-commit endpoint has them)."""
    r = f"{API}/repos/{full_name}"
    person = {"name": author.title(), "email": f"{author}@example.com", "date": when}
    body: dict[str, Any] = {
        "url": f"{r}/commits/{sha}", "sha": sha, "node_id": f"C_{sha[:8]}",
        "html_url": f"{WEB}/{full_name}/commit/{sha}", "comments_url": f"{r}/commits/{sha}/comments",
        "commit": {"url": f"{r}/git/commits/{sha}", "author": person, "committer": person,
                   "message": message, "comment_count": 0,
                   "tree": {"sha": "f" * 40, "url": f"{r}/git/trees/{'f' * 40}"},
                   "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                    "payload": None, "verified_at": None}},
        "author": user(author, 11), "committer": user(author, 11),
        "parents": [{"sha": parent, "url": f"{r}/commits/{parent}",
                     "html_url": f"{WEB}/{full_name}/commit/{parent}"}] if parent else [],
    }
    if files is not None:
        body["files"] = files
        adds = sum(f["additions"] for f in files)
        dels = sum(f["deletions"] for f in files)
        body["stats"] = {"additions": adds, "deletions": dels, "total": adds + dels}
    return body


def diff_entry(full_name: str, sha: str, filename: str, additions: int, deletions: int,
               patch: str | None, status: str = "modified") -> dict[str, Any]:
    """One `diff-entry` of a commit."""
    entry: dict[str, Any] = {
        "sha": "b" * 40, "filename": filename, "status": status, "additions": additions,
        "deletions": deletions, "changes": additions + deletions,
        "blob_url": f"{WEB}/{full_name}/blob/{sha}/{filename}",
        "raw_url": f"{WEB}/{full_name}/raw/{sha}/{filename}",
        "contents_url": f"{API}/repos/{full_name}/contents/{filename}?ref={sha}",
    }
    if patch is not None:
        entry["patch"] = patch
    return entry


def deployment(full_name: str, ident: int, sha: str, environment: str, when: str,
               creator: str, description: str = "") -> dict[str, Any]:
    """A `deployment`."""
    r = f"{API}/repos/{full_name}"
    return {
        "url": f"{r}/deployments/{ident}", "id": ident, "node_id": f"DE_{ident}", "sha": sha,
        "ref": "main", "task": "deploy", "payload": {}, "original_environment": environment,
        "environment": environment, "description": description, "creator": user(creator, 12),
        "created_at": when, "updated_at": when, "statuses_url": f"{r}/deployments/{ident}/statuses",
        "repository_url": r, "transient_environment": False, "production_environment": True,
    }


def deployment_status(full_name: str, deployment_id: int, ident: int, state: str,
                      when: str) -> dict[str, Any]:
    """A `deployment-status`."""
    r = f"{API}/repos/{full_name}"
    return {
        "url": f"{r}/deployments/{deployment_id}/statuses/{ident}", "id": ident, "node_id": f"DES_{ident}",
        "state": state, "creator": user("deploybot", 13), "description": f"Deployment {state}",
        "environment": "production", "target_url": "", "created_at": when, "updated_at": when,
        "deployment_url": f"{r}/deployments/{deployment_id}", "repository_url": r,
        "environment_url": "", "log_url": "",
    }


def release(full_name: str, ident: int, tag: str, created: str, published: str | None,
            target: str = "main", author: str = "lee") -> dict[str, Any]:
    """A `release` (published_at null for a draft)."""
    r = f"{API}/repos/{full_name}"
    return {
        "url": f"{r}/releases/{ident}", "html_url": f"{WEB}/{full_name}/releases/tag/{tag}",
        "assets_url": f"{r}/releases/{ident}/assets",
        "upload_url": f"https://uploads.github.com/repos/{full_name}/releases/{ident}/assets{{?name,label}}",
        "tarball_url": f"{r}/tarball/{tag}", "zipball_url": f"{r}/zipball/{tag}", "id": ident,
        "node_id": f"RE_{ident}", "tag_name": tag, "target_commitish": target, "name": f"Release {tag}",
        "body": f"Changes in {tag}", "draft": published is None, "prerelease": False,
        "created_at": created, "published_at": published, "author": user(author, 11), "assets": [],
    }


def content_file(full_name: str, path: str, sha: str, data: bytes) -> dict[str, Any]:
    """A `content-file`, base64 in lines of 60 characters like GitHub sends it."""
    encoded = base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"
    return {**_content_item(full_name, path, sha, "file", len(data)), "encoding": "base64",
            "content": wrapped}


def directory_item(full_name: str, path: str, sha: str, kind: str, size: int) -> dict[str, Any]:
    """One entry of a directory listing."""
    return _content_item(full_name, path, sha, kind, size)


def _content_item(full_name: str, path: str, sha: str, kind: str, size: int) -> dict[str, Any]:
    r = f"{API}/repos/{full_name}"
    url = f"{r}/contents/{path}?ref={sha}"
    html = f"{WEB}/{full_name}/{'blob' if kind == 'file' else 'tree'}/{sha}/{path}"
    return {"type": kind, "size": size, "name": path.rsplit("/", 1)[-1], "path": path, "sha": "c" * 40,
            "url": url, "git_url": f"{r}/git/blobs/{'c' * 40}", "html_url": html,
            "download_url": f"https://raw.githubusercontent.com/{full_name}/{sha}/{path}",
            "_links": {"git": f"{r}/git/blobs/{'c' * 40}", "html": html, "self": url}}


def basic_error(message: str, status: int) -> dict[str, Any]:
    """GitHub's `basic-error`."""
    return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
