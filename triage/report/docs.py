"""The API docs (`/docs`, `/redoc`, `/openapi.json`), behind the JSON API's credentials when the
API has any (`TRIAGE_API_TOKEN` / `TRIAGE_TRUSTED_USER_HEADER`), open otherwise."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from triage.report.access import api_user
from triage.report.safety import inline_script_hashes

router = APIRouter(include_in_schema=False)
_CDN = "https://cdn.jsdelivr.net"


def docs_access(request: Request) -> None:
    """Refuse (401) a caller without API credentials when the API asks for them."""
    settings = request.app.state.runtime.settings
    if settings.api_auth_configured and api_user(request) is None:
        raise HTTPException(401, "the API docs need `Authorization: Bearer <TRIAGE_API_TOKEN>`"
                                 + (f" or the {settings.trusted_user_header} header"
                                    if settings.trusted_user_header else ""),
                            headers={"WWW-Authenticate": "Bearer"})


def _with_policy(page: HTMLResponse, extra: str = "") -> HTMLResponse:
    """The docs page with a CSP that allows its CDN bundle and exactly its own inline script."""
    body = bytes(page.body).decode()
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {_CDN} {inline_script_hashes(body)}; "
        f"style-src {_CDN} 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors 'none'{extra}")
    return page


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI document."""
    docs_access(request)
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    """Swagger UI over `/openapi.json`."""
    docs_access(request)
    return _with_policy(get_swagger_ui_html(openapi_url="openapi.json",
                                            title=f"{request.app.title} - API docs"))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over `/openapi.json`."""
    docs_access(request)
    return _with_policy(get_redoc_html(openapi_url="openapi.json", title=f"{request.app.title} - ReDoc",
                                       with_google_fonts=False), "; worker-src blob:")
