"""The FastAPI application: webhook intake, reports, the investigations API, metrics and probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from triage import __version__, probes
from triage.intake import alertmanager, datadog, pagerduty
from triage.intake.common import IntakeError
from triage.notify import slack_routes
from triage.report import docs as report_docs
from triage.report import routes as report_routes
from triage.report.access import LinkRefused, refused_page
from triage.report.safety import SecurityHeaders
from triage.runtime import Runtime


def create_app(runtime: Runtime, *, run_worker: bool = False) -> FastAPI:
    """The app over `runtime`; with `run_worker`, investigations also run in this process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The intake's writer and promoter start now, not on the first webhook: starting them
        # freezes the heap after a full collection, a pause the first alert should not wait on.
        await run_in_threadpool(lambda: runtime.intake)
        if run_worker:
            from triage.worker import launch_worker, stop_worker

            # DBOS's synchronous API refuses to run on an event loop thread; give it a thread.
            await run_in_threadpool(launch_worker, runtime)
            try:
                yield
            finally:
                await run_in_threadpool(stop_worker)
        else:
            yield

    # The docs are served by `report_docs`, behind the API's credentials when it has any.
    app = FastAPI(title="SRE auto-triage", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.state.run_worker = run_worker  # /readyz checks the worker only where one should run
    app.add_middleware(probes.WebhookMetricsMiddleware, metrics=runtime.metrics)
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, Referrer-Policy on every response

    @app.exception_handler(IntakeError)
    async def intake_error(_: Request, exc: IntakeError) -> JSONResponse:
        body = {"error": exc.message} | ({"field": exc.field} if exc.field else {})
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, and uvicorn then drops the connection: say so,
        # or a keep-alive client's next request meets a reset. The server logs the traceback.
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"},
                            status_code=500, headers={"Connection": "close"})

    @app.exception_handler(LinkRefused)
    async def link_refused(_: Request, exc: LinkRefused) -> HTMLResponse:
        return refused_page(exc)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    app.include_router(pagerduty.router)
    app.include_router(alertmanager.router)
    app.include_router(datadog.router)
    app.include_router(slack_routes.router)
    app.include_router(report_routes.router)
    app.include_router(probes.router)
    app.include_router(report_docs.router)
    return app
