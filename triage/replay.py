"""Deliver an alert body through the real webhook route, in process, and wait for its report.

Used by `triage run`, `triage demo` and `triage eval`: a replayed alert takes exactly the path a
live one takes (signature check, dedupe, persistence, queue, workflow), with an ephemeral secret.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from triage import repository as repo
from triage.app import create_app
from triage.config import Settings, TriageConfig
from triage.intake.pagerduty import sign
from triage.models import InvestigationState, Source
from triage.report.build import Report, build_report
from triage.report.links import links_for
from triage.report.render import render_html, render_markdown
from triage.runtime import Runtime
from triage.worker import launch_worker, stop_worker

ROUTES = {source: f"/webhooks/{source.value}" for source in Source}
FINAL_STATES = {InvestigationState.COMPLETED.value, InvestigationState.FAILED.value}


class ReplayError(Exception):
    """The replayed delivery was refused or its investigation did not finish."""


@dataclass
class ReplayOutcome:
    """The finished investigation and where its report was written."""

    investigation_id: str
    report: Report
    markdown_path: Path
    html_path: Path


def with_ephemeral_credentials(settings: Settings) -> tuple[Settings, str]:
    """A copy of settings whose webhook secrets are a fresh random value (returned too)."""
    secret = secrets.token_hex(16)
    return settings.model_copy(update={
        "pagerduty_webhook_secrets": [SecretStr(secret)],
        "datadog_webhook_token": SecretStr(secret),
        "alertmanager_bearer_token": SecretStr(secret),
        "alertmanager_basic_auth": None,
    }), secret


def signed_headers(source: Source, body: bytes, secret: str,
                   extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers a real delivery from `source` carries, signed with `secret`."""
    headers = {"content-type": "application/json", **(extra or {})}
    if source == Source.PAGERDUTY:
        headers["x-pagerduty-signature"] = sign(body, secret)
    else:
        headers["authorization"] = f"Bearer {secret}"
    return headers


def replay(settings: Settings, config: TriageConfig, source: Source, body: bytes,
           headers: dict[str, str] | None = None, timeout: float = 120.0) -> ReplayOutcome:
    """Post `body` to the source's route with a worker in process; wait; write the report
    (of the first investigation the delivery started)."""
    return replay_all(settings, config, source, body, headers, timeout)[0]


def replay_all(settings: Settings, config: TriageConfig, source: Source, body: bytes,
               headers: dict[str, str] | None = None,
               timeout: float = 120.0) -> list[ReplayOutcome]:
    """Post `body` with a worker in process; wait for every investigation it started (one per
    alert of an Alertmanager group); write each one's report."""
    settings, secret = with_ephemeral_credentials(settings)
    runtime = Runtime.from_settings(settings, config)
    launch_worker(runtime)
    try:
        response = anyio.run(_post, create_app(runtime), ROUTES[source], body,
                             signed_headers(source, body, secret, headers))
        if response.status_code != 202:
            raise ReplayError(f"{ROUTES[source]} answered {response.status_code}: {response.text}")
        investigation_ids = _investigations_of(response.json())
        deadline = time.monotonic() + timeout
        for investigation_id in investigation_ids:
            _wait(runtime, investigation_id, deadline, timeout)
        return [_write_report(runtime, investigation_id) for investigation_id in investigation_ids]
    finally:
        stop_worker()
        runtime.close()


async def _post(app: FastAPI, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replay") as client:
        return await client.post(path, content=body, headers=headers)


def _investigations_of(answer: dict[str, Any]) -> list[str]:
    found = [str(result["investigation_id"]) for result in answer.get("results", [])
             if result.get("investigation_id")]
    if not found:
        raise ReplayError(f"the delivery started no investigation: {answer}")
    return list(dict.fromkeys(found))  # a repeated alert points at the investigation it joined


def _wait(runtime: Runtime, investigation_id: str, deadline: float, timeout: float) -> None:
    while time.monotonic() < deadline:
        with runtime.store.read() as conn:
            row = repo.get_investigation(conn, investigation_id)
        if row and row["state"] in FINAL_STATES:
            return
        time.sleep(0.05)
    raise ReplayError(f"investigation {investigation_id} did not finish within {timeout:.0f}s")


def _write_report(runtime: Runtime, investigation_id: str) -> ReplayOutcome:
    with runtime.store.read() as conn:
        report = build_report(conn, investigation_id, runtime.settings.public_url,
                              runtime.redactor)
    # The written report's links open it (signed when TRIAGE_REPORT_SIGNING_KEYS is set).
    report = links_for(runtime.settings, runtime.settings.public_url).sign_report(report)
    out = runtime.settings.data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    markdown_path = out / f"{investigation_id}.md"
    html_path = out / f"{investigation_id}.html"
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return ReplayOutcome(investigation_id, report, markdown_path.resolve(), html_path.resolve())
