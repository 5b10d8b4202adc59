"""What keeps a rendered page from running anything: link schemes, the page's own CSS and script,
and the security headers every response carries.

    safe_url("javascript:alert(1)")   # '#unsafe-link-removed'
    safe_url("https://grafana/d/x")   # 'https://grafana/d/x'

URLs in reports come from alert payloads and backends (PagerDuty `html_url`, Alertmanager
`generatorURL` / `runbook_url` / `externalURL`, evidence deep links, pull request links): only
http, https and relative links are rendered as links. Pages have no inline script; their one
inline `<style>` block is allowed by its hash, so a saved report still looks right.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from markupsafe import Markup
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BLOCKED_URL = "#unsafe-link-removed"
_SAFE_SCHEMES = frozenset({"http", "https"})
# Browsers drop ASCII whitespace and control characters inside a scheme (`java\tscript:`).
_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
STATIC_FILES = {"report.js": "text/javascript; charset=utf-8",
                "report.css": "text/css; charset=utf-8",
                "forbidden.css": "text/css; charset=utf-8"}
_INLINE_STYLES = ("report.css", "forbidden.css")


def safe_url(url: object) -> str:
    """`url` when it is http(s) or relative; otherwise a harmless in-page anchor."""
    text = "" if url is None else str(url)
    cleaned = _IGNORED.sub("", text)
    scheme = _SCHEME.match(cleaned)
    if scheme is None:
        # Relative; `\\host` and `//host` stay on http(s), the page's own scheme.
        return text if text.strip() else BLOCKED_URL
    return text if scheme[1].lower() in _SAFE_SCHEMES else BLOCKED_URL


@cache
def static_text(name: str) -> str:
    """One of the report pages' static files (`STATIC_FILES`)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("triage.report").joinpath("static", name).read_text(encoding="utf-8")


def page_css(name: str) -> Markup:
    """A page's stylesheet to inline in its `<style>` element (allowed by its hash)."""
    return Markup(static_text(name))  # noqa: S704 - our own file, not input


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def content_security_policy() -> str:
    """The policy of every page: nothing inline runs; scripts only from this server."""
    styles = " ".join(_hash(static_text(name)) for name in _INLINE_STYLES)
    return ("default-src 'none'; script-src 'self'; "
            f"style-src 'self' {styles}; img-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def inline_script_hashes(html: str) -> str:
    """CSP hash sources for the inline scripts of a page we generate (the API docs pages)."""
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    return " ".join(_hash(script) for script in scripts)


class SecurityHeaders:
    """ASGI middleware: CSP (unless the route set its own), nosniff, referrer and framing
    headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response's start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", content_security_policy())
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, with_headers)
