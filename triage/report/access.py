"""Who may read what: signed links open one investigation's report and data; the JSON API also
takes a bearer token (`TRIAGE_API_TOKEN`) or the user a trusted reverse proxy names
(`TRIAGE_TRUSTED_USER_HEADER`).

| configured                  | report pages (HTML, .md)   | one investigation's JSON   | the list |
| --------------------------- | -------------------------- | -------------------------- | -------- |
| nothing (embedded / demo)   | open                       | open                       | open     |
| API auth only               | open                       | API credentials            | API cred.|
| signing keys                | valid link, or API cred.   | valid link, or API cred.   | API cred.|

A refused page is an HTML 403 that says whether the link was unsigned, tampered or expired; a
refused API call is a JSON 401 (no or wrong credentials) or 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from triage.report.links import LinkState, ReportLinks, Verdict, links_for
from triage.report.safety import page_css
from triage.runtime import Runtime

_ENV = Environment(loader=PackageLoader("triage.report", "templates"),
                   autoescape=select_autoescape(enabled_extensions=("html", "html.j2")))
_ENV.globals["page_css"] = page_css
# Report pages carry their token in the URL: never send it on to backend UIs a reader clicks.
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
_TITLES = {LinkState.UNSIGNED: "This report link is not signed",
           LinkState.TAMPERED: "This report link has been altered",
           LinkState.EXPIRED: "This report link has expired"}


class LinkRefused(Exception):
    """A report page was asked for without a link that opens it."""

    def __init__(self, investigation_id: str, verdict: Verdict) -> None:
        super().__init__(verdict.detail)
        self.investigation_id = investigation_id
        self.verdict = verdict


@dataclass(frozen=True)
class Access:
    """Why a request may proceed, and how the links it is shown should be signed."""

    token: str | None = None  # the request's own valid token, reused for the page's links
    expires: datetime | None = None  # related reports' links expire no later than this
    user: str | None = None


def links(request: Request) -> ReportLinks:
    """This app's link maker (the public URL may be set after start, so built per request)."""
    runtime: Runtime = request.app.state.runtime
    return links_for(runtime.settings, runtime.settings.public_url)


def api_user(request: Request) -> str | None:
    """Who the caller is by bearer token or trusted header; None when it carries neither.
    A wrong bearer token is a 401, not a fallback to anonymous."""
    settings = request.app.state.runtime.settings
    header = request.headers.get("authorization")
    if settings.api_token is not None and header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized("the Authorization header must be `Bearer <TRIAGE_API_TOKEN>`")
        if not hmac.compare_digest(credential.strip().encode(),
                                   settings.api_token.get_secret_value().encode()):
            raise _unauthorized("the API token does not match")
        return "api-token"
    if settings.trusted_user_header:
        user = request.headers.get(settings.trusted_user_header, "").strip()
        if user:
            return user
    return None


def _unauthorized(message: str) -> HTTPException:
    """A 401 that tells the client to authenticate with a bearer token."""
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def report_access(request: Request, investigation_id: str, *, page: bool) -> Access:
    """Allow a request for one investigation (its page when `page`, else its JSON), or refuse:
    `LinkRefused` for a page, `HTTPException` for the API."""
    settings = request.app.state.runtime.settings
    signer = links(request).signer
    token = request.query_params.get("t")
    verdict = signer.verify(investigation_id, token) if signer.enabled else None
    if verdict is not None and verdict.ok:
        return Access(token=token, expires=verdict.expires)
    user = api_user(request)
    if user is not None:
        return Access(user=user)
    if verdict is None and (page or not settings.api_auth_configured):
        return Access()  # nothing signs links: reports are open (embedded / demo mode)
    if verdict is None:
        raise _unauthorized("this API needs `Authorization: Bearer <TRIAGE_API_TOKEN>`"
                            + (f" or the {settings.trusted_user_header} header"
                               if settings.trusted_user_header else ""))
    if page:
        raise LinkRefused(investigation_id, verdict)
    raise HTTPException(403, f"report link refused ({verdict.state.value}): {verdict.detail}")


def list_access(request: Request) -> Access:
    """Allow the investigations list: open only when neither links nor the API are protected."""
    settings = request.app.state.runtime.settings
    user = api_user(request)
    if user is not None:
        return Access(user=user)
    if not settings.api_auth_configured:
        if not settings.report_signing_keys:
            return Access()
        # Every row carries a signed link: an open list would hand out every report.
        raise HTTPException(403, "the investigations list is closed while report links are "
                                 "signed; set TRIAGE_API_TOKEN or TRIAGE_TRUSTED_USER_HEADER")
    raise _unauthorized("this API needs `Authorization: Bearer <TRIAGE_API_TOKEN>`"
                        + (f" or the {settings.trusted_user_header} header"
                           if settings.trusted_user_header else ""))


def refused_page(exc: LinkRefused) -> HTMLResponse:
    """The 403 page: which of unsigned, tampered or expired, and what to do about it."""
    html = _ENV.get_template("forbidden.html.j2").render(
        title=_TITLES.get(exc.verdict.state, "This report link does not open this report"),
        state=exc.verdict.state.value, detail=exc.verdict.detail,
        investigation_id=exc.investigation_id)
    return HTMLResponse(html, status_code=403, headers=PAGE_HEADERS)
