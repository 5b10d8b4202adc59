"""`/metrics` (Prometheus text format), `/readyz` (may this process take traffic?), and the
middleware that counts webhook deliveries and refusals.

`/healthz` (in `triage.app`) is liveness only: the process answers. `/readyz` also checks that the
store answers, that its schema is the one this build expects, and, when this process was started
with an in-process worker, that the worker is running.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage.observability import Metrics
from triage.runtime import Runtime
from triage.store import SCHEMA_VERSION

router = APIRouter()
_WEBHOOKS = "/webhooks/"


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """This process's metrics, and investigations by state from the store."""
    runtime: Runtime = request.app.state.runtime
    body = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the store answers at the current schema and the worker (if expected) runs."""
    runtime: Runtime = request.app.state.runtime
    checks = await run_in_threadpool(_store_checks, runtime)
    expected = bool(getattr(request.app.state, "run_worker", False))
    checks["worker"] = _worker_check(expected)
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


def _store_checks(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Can we read the store, and is its schema the one this build writes?"""
    try:
        found = runtime.store.current_version()
    except SQLAlchemyError as exc:
        reason = str(exc.__cause__ or exc).splitlines()[0][:300]
        return {"store": {"ok": False, "detail": f"unreachable: {reason}"},
                "schema": {"ok": False, "detail": "unknown (store unreachable)"}}
    store = {"ok": True, "detail": "reachable"}
    if found == SCHEMA_VERSION:
        return {"store": store, "schema": {"ok": True, "detail": f"version {found}"}}
    detail = (f"version {found}, this build needs {SCHEMA_VERSION}; restart a process of this "
              "build to migrate it" if found is not None else "no schema (empty database)")
    return {"store": store, "schema": {"ok": False, "detail": detail}}


def _worker_check(expected: bool) -> dict[str, Any]:
    """Whether the in-process worker (DBOS) is launched with its background threads alive."""
    if not expected:
        return {"ok": True, "detail": "not configured (API only; workers run elsewhere)"}
    from dbos import _dbos  # DBOS has no public "is running" call; read its launch state.

    instance = _dbos._dbos_global_instance
    if instance is None or not getattr(instance, "_launched", False):
        return {"ok": False, "detail": "not running (not launched, or stopped)"}
    # The queue thread takes investigations off the queue (its default name names its target);
    # other background threads may end on purpose (no LISTEN/NOTIFY on SQLite).
    queue = [t for t in getattr(instance, "_background_threads", []) if "queue_thread" in t.name]
    if queue and not all(t.is_alive() for t in queue):
        return {"ok": False, "detail": "the queue thread has stopped: no investigation will start"}
    return {"ok": True, "detail": "running (queue thread alive)" if queue else "running"}


class WebhookMetricsMiddleware:
    """Counts every request to `/webhooks/<source>` and, by status, those refused."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through; count it once its response status is known."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(_WEBHOOKS):
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before the response starts is a server error

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.record_webhook(path[len(_WEBHOOKS):].strip("/"), status)
