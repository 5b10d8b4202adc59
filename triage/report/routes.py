"""Report pages and the JSON API over investigations (who may read what: `access`)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from triage import repository as repo
from triage.report.access import (
    PAGE_HEADERS,
    Access,
    links,
    list_access,
    report_access,
)
from triage.report.build import Report, build_report
from triage.report.charts import chart_png, headline
from triage.report.render import render_html, render_markdown
from triage.report.safety import STATIC_FILES, static_text
from triage.runtime import Runtime
from triage.stats import Stats, compute

log = logging.getLogger(__name__)
router = APIRouter()
MAX_OFFSET = 1_000_000_000  # within every store's integer range (PostgreSQL's bigint, SQLite's)


def _report(runtime: Runtime, investigation_id: str) -> Report:
    with runtime.store.read() as conn:
        stored = repo.get_report(conn, investigation_id)
        if stored is not None:
            return Report.model_validate(stored["body"])
        try:
            return build_report(conn, investigation_id, runtime.settings.public_url,
                                runtime.redactor)
        except KeyError:
            raise HTTPException(404, f"no investigation {investigation_id}") from None


async def _signed_report(request: Request, investigation_id: str, access: Access) -> Report:
    """The report with every URL on it opening for this reader, and no longer than theirs does."""
    report = await run_in_threadpool(_report, request.app.state.runtime, investigation_id)
    return links(request).sign_report(report, access.token, access.expires)


@router.get("/reports/{investigation_id}.md", response_class=PlainTextResponse)
async def report_markdown(request: Request, investigation_id: str) -> PlainTextResponse:
    """The report as Markdown (registered first: the HTML route would match `.md` too)."""
    access = report_access(request, investigation_id, page=True)
    report = await _signed_report(request, investigation_id, access)
    return PlainTextResponse(render_markdown(report), media_type="text/markdown",
                             headers=PAGE_HEADERS)


@router.get("/reports/{investigation_id}", response_class=HTMLResponse)
async def report_page(request: Request, investigation_id: str) -> HTMLResponse:
    """The HTML report: final when done, live (auto-refreshing) while running."""
    access = report_access(request, investigation_id, page=True)
    report = await _signed_report(request, investigation_id, access)
    # Drawing charts is CPU work (cached per chart): off the event loop.
    return HTMLResponse(await run_in_threadpool(render_html, report), headers=PAGE_HEADERS)


@router.get("/reports/{investigation_id}/chart.png", include_in_schema=False)
async def headline_chart(request: Request, investigation_id: str) -> Response:
    """The report's headline chart as a PNG (Slack's image block), opened exactly like the report
    page: by the report link's token, API credentials, or by anyone while links are unsigned."""
    report_access(request, investigation_id, page=True)
    report = await run_in_threadpool(_report, request.app.state.runtime, investigation_id)
    chart = headline(report.charts)
    if chart is None:
        raise HTTPException(404, f"investigation {investigation_id} has no chart")
    try:
        png = await run_in_threadpool(chart_png, chart)
    except Exception:
        log.exception("headline chart of %s", investigation_id)
        raise HTTPException(503, "the chart could not be drawn") from None
    return Response(png, media_type="image/png", headers=PAGE_HEADERS)


@router.get("/api/investigations")
async def list_investigations(request: Request, limit: int = Query(50, ge=1, le=500),
                              offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> dict[str, Any]:
    """Newest investigations first, each with a (signed) link to its report."""
    list_access(request)
    runtime: Runtime = request.app.state.runtime

    def load() -> list[dict[str, Any]]:
        with runtime.store.read() as conn:
            return repo.list_investigations(conn, limit, offset)

    # redaction: the list shows raw alert titles and investigation errors from the store.
    rows = [runtime.redactor.redact_value(row) for row in await run_in_threadpool(load)]
    maker = links(request)
    for row in rows:
        row["report_url"] = maker.report(row["id"])
    return {"investigations": rows, "limit": limit, "offset": offset}


@router.get("/api/stats")
async def stats(request: Request) -> Stats:
    """Investigations by state, verdicts confirmed right/wrong, median times (`triage stats`)."""
    list_access(request)
    runtime: Runtime = request.app.state.runtime

    def load() -> Stats:
        with runtime.store.read() as conn:
            return compute(conn)

    return await run_in_threadpool(load)


@router.get("/api/investigations/{investigation_id}")
async def get_investigation(request: Request, investigation_id: str) -> Report:
    """One investigation's full report model."""
    access = report_access(request, investigation_id, page=False)
    return await _signed_report(request, investigation_id, access)


@router.get("/api/investigations/{investigation_id}/steps/{step_id}")
async def get_step(request: Request, investigation_id: str, step_id: str) -> dict[str, Any]:
    """One step with its full (bounded, as stored) data."""
    report_access(request, investigation_id, page=False)
    runtime: Runtime = request.app.state.runtime

    def load() -> dict[str, Any] | None:
        with runtime.store.read() as conn:
            step = repo.get_step(conn, step_id)
        if step is None or step.investigation_id != investigation_id:
            return None
        return step.model_dump(mode="json")

    found = await run_in_threadpool(load)
    if found is None:
        raise HTTPException(404, f"no step {step_id} in investigation {investigation_id}")
    return found


@router.get("/reports/{investigation_id}/fix.patch", response_class=PlainTextResponse)
async def fix_patch(request: Request, investigation_id: str) -> PlainTextResponse:
    """The verified fix as a mailbox patch (`git am`), as stored (redacted like every step)."""
    report_access(request, investigation_id, page=False)
    runtime: Runtime = request.app.state.runtime

    def load() -> tuple[bool, str | None]:
        with runtime.store.read() as conn:
            if repo.get_investigation(conn, investigation_id) is None:
                return False, None
            steps = repo.list_steps(conn, investigation_id, "fix")
        published = next((s for s in steps if s.name == "publish"), None)
        patch = published.detail.get("patch") if published else None
        return True, patch if isinstance(patch, str) and patch else None

    exists, patch = await run_in_threadpool(load)
    if not exists:
        raise HTTPException(404, f"no investigation {investigation_id}")
    if patch is None:
        raise HTTPException(404, f"investigation {investigation_id} has no verified fix "
                                 "(see the report's \"Reproduction and fix\" section)")
    return PlainTextResponse(patch, media_type="text/x-diff", headers={
        **PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{investigation_id}.patch"'})


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    """The report pages' script and stylesheets (no inline script runs on a page)."""
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no static file {name}")
    return Response(static_text(name), media_type=STATIC_FILES[name],
                    headers={"Cache-Control": "public, max-age=3600"})
