"""A loopback server speaking GitHub's REST API (served under `/api/v3`, as GitHub Enterprise
Server does): token auth (`Authorization: token ...`, `X-OAuth-Scopes` for classic tokens), the
GitHub App flow (a JWT signed with the App's private key, verified here with its public key, is
exchanged at `POST /app/installations/{id}/access_tokens` for an installation token that the API
calls must then carry), page/per_page pagination with `Link` headers, and `basic-error` bodies."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

import jwt

from triage.backends import github_shapes as shapes
from triage.backends.loopback import LoopbackServer, Reply, Seen

PREFIX = "/api/v3"
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass
class Token:
    """A token the fake accepts: `classic` (with scopes), `fine` (fine-grained) or `installation`."""

    kind: str = "fine"
    scopes: str = ""
    push: bool = False  # what its owner may do on the repository
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class App:
    """A GitHub App installed on the repository's account."""

    app_id: int
    installation_id: int
    public_key: str
    permissions: dict[str, str]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeGitHub:
    """One repository's deployments, releases, commits and files behind GitHub's REST API."""

    def __init__(self, full_name: str = "acme/checkout", private: bool = True) -> None:
        self.full_name = full_name
        self.private = private
        self.tokens: dict[str, Token] = {}
        self.apps: list[App] = []
        self.exchanges: list[dict[str, Any]] = []  # JWT claims + body of each token exchange
        self.commits: list[dict[str, Any]] = []  # newest first, list shape
        self.commit_files: dict[str, list[dict[str, Any]]] = {}
        self.commit_paths: dict[str, set[str]] = {}
        self.deployments: list[dict[str, Any]] = []  # newest first
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.releases: list[dict[str, Any]] = []
        self.files: dict[tuple[str, str], bytes] = {}
        self._issued = itertools.count(1)
        self.server = LoopbackServer(self.handle).start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.url + PREFIX

    def handle(self, seen: Seen) -> Reply:
        """Authenticate like GitHub, then route."""
        path = seen.path.removeprefix(PREFIX)
        if seen.path == path:
            return self._error(404, "Not Found")
        auth = seen.headers.get("authorization", "")
        if m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
            return self._exchange(seen, int(m[1]), auth)
        if auth.startswith("Bearer "):
            return self._error(401, "A JSON web token can only be used to access App endpoints")
        token = self.tokens.get(auth.removeprefix("token ")) if auth.startswith("token ") else None
        if token is None:
            return self._error(401, "Bad credentials")
        if seen.method != "GET":
            return self._error(403, "Resource not accessible by integration")
        base = f"/repos/{self.full_name}"
        if not (path == base or path.startswith(base + "/")):
            return self._error(404, "Not Found")
        return self._route(seen, path.removeprefix(base), token)

    def _route(self, seen: Seen, rest: str, token: Token) -> Reply:
        if rest == "":
            headers = {"X-OAuth-Scopes": token.scopes} if token.kind == "classic" else {}
            return Reply(200, shapes.repository(self.full_name, private=self.private, push=token.push),
                         {**headers, **self._rate_headers()})
        if rest == "/commits":
            commits = self._commits(seen)
            return commits if isinstance(commits, Reply) else self._page(seen, commits)
        if m := re.fullmatch(r"/commits/([0-9a-f]+)", rest):
            return self._commit(m[1])
        if m := re.fullmatch(r"/contents/(.+)", rest):
            return self._content(unquote(m[1]), (seen.query.get("ref") or ["main"])[0])
        if rest == "/deployments":
            env = seen.query.get("environment")
            items = [d for d in self.deployments if not env or d["environment"] == env[0]]
            return self._page(seen, items)
        if m := re.fullmatch(r"/deployments/(\d+)/statuses", rest):
            return self._page(seen, self.statuses.get(int(m[1]), []))
        if rest == "/releases":
            return self._page(seen, self.releases)
        return self._error(404, "Not Found")

    def _exchange(self, seen: Seen, installation_id: int, auth: str) -> Reply:
        """Verify the App's JWT (RS256, `iss` = App ID, unexpired) and issue an installation token."""
        if seen.method != "POST" or not auth.startswith("Bearer "):
            return self._error(401, "A JSON web token could not be decoded")
        app = next((a for a in self.apps if a.installation_id == installation_id), None)
        if app is None:
            return self._error(404, "Not Found")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), app.public_key, algorithms=["RS256"],
                                options={"require": ["iss", "iat", "exp"]})
        except jwt.PyJWTError as exc:
            return self._error(401, f"A JSON web token could not be decoded: {type(exc).__name__}")
        if str(claims["iss"]) != str(app.app_id):
            return self._error(401, "'Issuer' claim ('iss') must be the App ID")
        body = seen.json() or {}
        self.exchanges.append({"claims": claims, "body": body})
        requested: dict[str, str] = body.get("permissions") or dict(app.permissions)
        rank = {"read": 1, "write": 2, "admin": 3}
        if any(rank[v] > rank.get(app.permissions.get(k, ""), 0) for k, v in requested.items()):
            return self._error(422, "The permissions requested are not granted to this installation.")
        token = f"ghs_fake{next(self._issued):04d}"
        self.tokens[token] = Token("installation", push=requested.get("contents") == "write",
                                   permissions=requested)
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Reply(201, {"token": token, "expires_at": expires, "permissions": requested,
                           "repository_selection": "selected"})

    def _commits(self, seen: Seen) -> list[dict[str, Any]] | Reply:
        since, until = seen.query.get("since"), seen.query.get("until")
        for value in (since or []) + (until or []):
            if not _ISO.fullmatch(value):  # the documented format: YYYY-MM-DDTHH:MM:SSZ
                return self._error(422, f"Invalid timestamp {value!r}")
        path = seen.query.get("path")
        items = []
        for c in self.commits:
            when = _when(c["commit"]["committer"]["date"])
            if (since and when < _when(since[0])) or (until and when > _when(until[0])):
                continue
            if path and path[0] not in self.commit_paths.get(c["sha"], set()):
                continue
            items.append(c)
        return items

    def _commit(self, ref: str) -> Reply:
        found = [c for c in self.commits if c["sha"].startswith(ref)]
        if not found:
            return self._error(422, f"No commit found for SHA: {ref}")
        c = found[0]
        return Reply(200, shapes.commit(self.full_name, c["sha"], c["commit"]["committer"]["date"],
                                        c["commit"]["message"], c["author"]["login"],
                                        self.commit_files.get(c["sha"], []),
                                        c["parents"][0]["sha"] if c["parents"] else None))

    def _content(self, path: str, ref: str) -> Reply:
        if (path, ref) in self.files:
            return Reply(200, shapes.content_file(self.full_name, path, ref, self.files[(path, ref)]))
        children = sorted({p for p, r in self.files if r == ref and p.startswith(path + "/")})
        if children:
            return Reply(200, [shapes.directory_item(self.full_name, p, ref, "file",
                                                     len(self.files[(p, ref)])) for p in children])
        return self._error(404, "Not Found")

    def _page(self, seen: Seen, items: list[dict[str, Any]]) -> Reply:
        """page / per_page (max 100) with a `Link: <...>; rel="next"` header when more remain."""
        page = int((seen.query.get("page") or ["1"])[0])
        per_page = min(int((seen.query.get("per_page") or ["30"])[0]), 100)
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = self._rate_headers()
        if page * per_page < len(items):
            query = {k: v[0] for k, v in seen.query.items()} | {"page": str(page + 1)}
            headers["Link"] = f'<{self.url}{seen.path}?{urlencode(query)}>; rel="next"'
        return Reply(200, chunk, headers)

    def _rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": "1714567200", "X-GitHub-Api-Version-Selected": "2026-03-10"}

    def _error(self, status: int, message: str, **headers: str) -> Reply:
        return Reply(status, shapes.basic_error(message, status), headers)
