"""Report pages and the JSON API over investigations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from triage import repository as repo
from triage.report.build import Report, build_report, report_url
from triage.report.render import render_html, render_markdown
from triage.runtime import Runtime

router = APIRouter()


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


@router.get("/reports/{investigation_id}.md", response_class=PlainTextResponse)
async def report_markdown(request: Request, investigation_id: str) -> PlainTextResponse:
    """The report as Markdown (registered first: the HTML route would match `.md` too)."""
    report = await run_in_threadpool(_report, request.app.state.runtime, investigation_id)
    return PlainTextResponse(render_markdown(report), media_type="text/markdown")


@router.get("/reports/{investigation_id}", response_class=HTMLResponse)
async def report_page(request: Request, investigation_id: str) -> HTMLResponse:
    """The HTML report: final when done, live (auto-refreshing) while running."""
    report = await run_in_threadpool(_report, request.app.state.runtime, investigation_id)
    return HTMLResponse(render_html(report))


@router.get("/api/investigations")
async def list_investigations(request: Request, limit: int = Query(50, ge=1, le=500),
                              offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Newest investigations first."""
    runtime: Runtime = request.app.state.runtime

    def load() -> list[dict[str, Any]]:
        with runtime.store.read() as conn:
            return repo.list_investigations(conn, limit, offset)

    # redaction: the list shows raw alert titles and investigation errors from the store.
    rows = [runtime.redactor.redact_value(row) for row in await run_in_threadpool(load)]
    for row in rows:
        row["report_url"] = report_url(runtime.settings.public_url, row["id"])
    return {"investigations": rows, "limit": limit, "offset": offset}


@router.get("/api/investigations/{investigation_id}")
async def get_investigation(request: Request, investigation_id: str) -> Report:
    """One investigation's full report model."""
    return await run_in_threadpool(_report, request.app.state.runtime, investigation_id)


@router.get("/api/investigations/{investigation_id}/steps/{step_id}")
async def get_step(request: Request, investigation_id: str, step_id: str) -> dict[str, Any]:
    """One step with its full (bounded, as stored) data."""
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
