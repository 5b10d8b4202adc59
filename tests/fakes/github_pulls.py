"""GitHub's pull-request API on the loopback fake (`tests/fakes/github.py`), over a real bare git
repository that branches are pushed to: `GET /repos/{o}/{r}/pulls?head=&state=` (list),
`POST …/pulls` (create; 422 when the head branch is missing or a pull request already exists for
it), `PATCH …/pulls/{n}` (update) and `PUT …/pulls/{n}/merge` (which the triage service must never
call: it is recorded, and refused). Writes need a token that may write: an installation token with
`pull_requests: write`, a fine-grained token whose owner can push, or a classic `repo` token."""

from __future__ import annotations

import itertools
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes import github_shapes as shapes
from tests.fakes.github import PREFIX, FakeGitHub, Token
from tests.fakes.loopback import Reply, Seen

_PULLS = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/pulls(?:/(?P<number>\d+))?(?P<merge>/merge)?$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHubPulls(FakeGitHub):
    """One repository's pull requests, heads resolved in the bare repository at `remote`."""

    def __init__(self, remote: Path, full_name: str = "acme/checkout") -> None:
        super().__init__(full_name)
        self.remote = remote
        self.pulls: list[dict[str, Any]] = []
        self.merge_attempts: list[str] = []
        self._numbers = itertools.count(41)

    def handle(self, seen: Seen) -> Reply:
        """Pull-request routes first; everything else as the read-only fake answers it."""
        path = seen.path.removeprefix(PREFIX)
        match = _PULLS.fullmatch(path)
        if seen.path == path or match is None:
            return super().handle(seen)
        auth = seen.headers.get("authorization", "")
        token = self.tokens.get(auth.removeprefix("token ")) if auth.startswith("token ") else None
        if token is None:
            return self._error(401, "Bad credentials")
        if match["repo"] != self.full_name:
            return self._error(404, "Not Found")
        if match["merge"]:
            self.merge_attempts.append(f"{seen.method} {seen.path}")
            return self._error(405, "Pull Request is not mergeable")
        if seen.method == "GET" and match["number"] is None:
            return self._list(seen)
        if not _may_write(token):
            return self._error(403, "Resource not accessible by personal access token"
                               if token.kind != "installation"
                               else "Resource not accessible by integration")
        if seen.method == "POST" and match["number"] is None:
            return self._create(seen.json() or {})
        if seen.method == "PATCH" and match["number"] is not None:
            return self._update(int(match["number"]), seen.json() or {})
        return self._error(404, "Not Found")

    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch of the bare repository points at, or None."""
        done = subprocess.run(["git", "-C", str(self.remote), "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], capture_output=True, text=True, check=False)
        return done.stdout.strip() or None

    def _list(self, seen: Seen) -> Reply:
        state = (seen.query.get("state") or ["open"])[0]
        heads = seen.query.get("head")
        head = heads[0] if heads else None
        found = [p for p in self.pulls
                 if (state == "all" or p["state"] == state)
                 and (head is None or head == f"{self.full_name.split('/')[0]}:{p['head']['ref']}")]
        return Reply(200, sorted(found, key=lambda p: -p["number"]), self._rate_headers())

    def _create(self, body: dict[str, Any]) -> Reply:
        head, base = body.get("head"), body.get("base")
        missing = [name for name in ("head", "base") if not body.get(name)]
        if missing:
            return self._invalid(missing[0], "missing_field")
        head_sha, base_sha = self.branch_sha(str(head)), self.branch_sha(str(base))
        if head_sha is None:
            return self._invalid("head", "invalid")
        if base_sha is None:
            return self._invalid("base", "invalid")
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in self.pulls):
            owner = self.full_name.split("/")[0]
            return Reply(422, {"message": "Validation Failed", "documentation_url":
                               "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                               "errors": [{"resource": "PullRequest", "code": "custom",
                                           "message": f"A pull request already exists for "
                                                      f"{owner}:{head}."}], "status": "422"})
        pull = pull_request(self.full_name, next(self._numbers), str(body.get("title", "")),
                            body.get("body"), str(head), head_sha, str(base), base_sha,
                            draft=bool(body.get("draft", False)))
        self.pulls.append(pull)
        return Reply(201, pull, self._rate_headers())

    def _update(self, number: int, body: dict[str, Any]) -> Reply:
        pull = next((p for p in self.pulls if p["number"] == number), None)
        if pull is None:
            return self._error(404, "Not Found")
        for key in ("title", "body", "state"):
            if key in body:
                pull[key] = body[key]
        pull["updated_at"] = _now()
        pull["head"]["sha"] = self.branch_sha(pull["head"]["ref"]) or pull["head"]["sha"]
        return Reply(200, pull, self._rate_headers())

    def _invalid(self, field: str, code: str) -> Reply:
        return Reply(422, {"message": "Validation Failed", "status": "422",
                           "documentation_url": "https://docs.github.com/rest/pulls/pulls",
                           "errors": [{"resource": "PullRequest", "field": field, "code": code}]})


def _may_write(token: Token) -> bool:
    """Whether GitHub would let this token open pull requests."""
    if token.kind == "installation":
        return token.permissions.get("pull_requests") == "write"
    if token.kind == "classic":
        return bool({s.strip() for s in token.scopes.split(",")} & {"repo", "public_repo"})
    return token.push


def pull_request(full_name: str, number: int, title: str, body: str | None, head: str,
                 head_sha: str, base: str, base_sha: str, *, draft: bool) -> dict[str, Any]:
    """A `pull-request` (also valid as a `pull-request-simple` list entry)."""
    r = f"{shapes.API}/repos/{full_name}"
    html = f"{shapes.WEB}/{full_name}/pull/{number}"
    owner = full_name.split("/")[0]
    repo = shapes.repository(full_name, private=True, push=True)
    when = _now()

    def ref(name: str, sha: str) -> dict[str, Any]:
        return {"label": f"{owner}:{name}", "ref": name, "sha": sha, "user": shapes.user(owner, 7),
                "repo": repo}

    def link(url: str) -> dict[str, str]:
        return {"href": url}

    return {
        "url": f"{r}/pulls/{number}", "id": 9000 + number, "node_id": f"PR_{number}",
        "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
        "issue_url": f"{r}/issues/{number}", "commits_url": f"{r}/pulls/{number}/commits",
        "review_comments_url": f"{r}/pulls/{number}/comments",
        "review_comment_url": f"{r}/pulls/comments{{/number}}",
        "comments_url": f"{r}/issues/{number}/comments", "statuses_url": f"{r}/statuses/{head_sha}",
        "number": number, "state": "open", "locked": False, "title": title,
        "user": shapes.user("triage-bot", 21), "body": body, "labels": [], "milestone": None,
        "active_lock_reason": None, "created_at": when, "updated_at": when, "closed_at": None,
        "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "head": ref(head, head_sha),
        "base": ref(base, base_sha),
        "_links": {"self": link(f"{r}/pulls/{number}"), "html": link(html),
                   "issue": link(f"{r}/issues/{number}"),
                   "comments": link(f"{r}/issues/{number}/comments"),
                   "review_comments": link(f"{r}/pulls/{number}/comments"),
                   "review_comment": link(f"{r}/pulls/comments{{/number}}"),
                   "commits": link(f"{r}/pulls/{number}/commits"),
                   "statuses": link(f"{r}/statuses/{head_sha}")},
        "author_association": "NONE", "auto_merge": None, "draft": draft, "merged": False,
        "mergeable": None, "rebaseable": None, "mergeable_state": "unknown", "merged_by": None,
        "comments": 0, "review_comments": 0, "maintainer_can_modify": False, "commits": 1,
        "additions": 3, "deletions": 9, "changed_files": 2,
    }
