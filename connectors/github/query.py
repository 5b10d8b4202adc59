"""The GitHub connector's query language, parsed strictly so nothing a query says can leave the
configured repository or reach an endpoint other than the five reads below.

    deployments                 deployments created in the time range (newest first)
    deployments: production     ... of one environment
    releases                    releases published in the time range
    commits                     commits on the branch in the time range
    commits: src/cart.py        ... that touch a path
    diff: 9f8e7d6               the files and patches of one commit (ignores the time range)
    file: src/cart.py@9f8e7d6   a file's lines at a commit (ignores the time range)

An empty query, or a filter such as `service=checkout` (the deploys filter of the built-in
playbooks), means `deployments`, keeping the rows that match the filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from connectors.base import QueryRefused
from connectors.filters import RecordFilter, parse_filter

USAGE = ("use `deployments[: ENVIRONMENT]`, `releases`, `commits[: PATH]`, `diff: SHA` or "
         "`file: PATH@SHA` (or a deploys filter such as `service=checkout`)")
_VERB = re.compile(r"^\s*(?P<verb>[a-z]+)\s*(?::(?P<arg>.*))?$", re.S)
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
VERBS = ("deployments", "releases", "commits", "diff", "file")


@dataclass(frozen=True)
class GitHubQuery:
    """One parsed query: the verb, its argument (already validated), and a row filter."""

    verb: str
    arg: str | None = None
    sha: str | None = None
    row_filter: RecordFilter | None = None


def check_sha(text: str) -> str:
    """A full or abbreviated commit SHA (hex only: no refs, no paths)."""
    if not _SHA.match(text):
        raise QueryRefused(f"refused: {text!r} is not a commit SHA (7 to 64 hex digits)")
    return text.lower()


def check_path(text: str) -> str:
    """A repository-relative file path with no way out of the repository's contents."""
    parts = text.split("/")
    if (not text or len(text) > 1024 or text.startswith("/") or _CONTROL.search(text)
            or "\\" in text or any(p in ("", ".", "..") for p in parts)):
        raise QueryRefused(f"refused: {text!r} is not a plain path inside the repository "
                           "(no leading /, no . or .. segments, no empty segments)")
    return text


def quote_path(path: str) -> str:
    """The path as one URL path (`?`, `#`, `%` and spaces escaped; `/` kept)."""
    return quote(path, safe="/")


def parse_query(text: str) -> GitHubQuery:
    """Parse one query; raise `QueryRefused` naming what is wrong."""
    match = _VERB.match(text)
    if match is None or match["verb"] not in VERBS:
        stripped = text.strip()
        if not stripped:
            return GitHubQuery("deployments")
        if "=" in stripped:
            return GitHubQuery("deployments", row_filter=parse_filter(stripped))
        raise QueryRefused(f"refused: cannot read {text!r} as a GitHub query; {USAGE}")
    verb, arg = match["verb"], (match["arg"] or "").strip()
    if verb == "releases":
        if arg:
            raise QueryRefused(f"refused: `releases` takes no argument, got {arg!r}")
        return GitHubQuery(verb)
    if verb == "deployments":
        if _CONTROL.search(arg) or len(arg) > 255:
            raise QueryRefused(f"refused: {arg!r} is not an environment name")
        return GitHubQuery(verb, arg or None)
    if verb == "commits":
        return GitHubQuery(verb, check_path(arg) if arg else None)
    if not arg:
        raise QueryRefused(f"refused: `{verb}` needs an argument; {USAGE}")
    if verb == "diff":
        return GitHubQuery(verb, sha=check_sha(arg))
    path, at, sha = arg.rpartition("@")
    if not at:
        raise QueryRefused(f"refused: `file` takes PATH@SHA, got {arg!r}")
    return GitHubQuery(verb, check_path(path), check_sha(sha))
