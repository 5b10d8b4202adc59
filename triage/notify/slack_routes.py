"""Slack's requests: `POST /slack/interactions` (the thread's buttons, the "Wrong cause…" modal) and
`POST /slack/commands` (`/triage status <service>`, `/triage investigate <service> <what>`).

Every request is verified with the app's signing secret (`slack_sdk.signature.SignatureVerifier`:
HMAC-SHA256 of `v0:<timestamp>:<body>`) and refused (401) when the signature does not match, when
its timestamp is more than five minutes from now (a replayed request), or when no secret is set.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from triage.intake.common import IntakeError, IntakeResult, persist, read_body
from triage.notify import slack_actions as actions
from triage.notify.slack_blocks import AGAIN, RIGHT, WRONG, WRONG_CAUSE_VIEW, escape, wrong_cause_view
from triage.notify.slack_client import SlackError, SlackPoster
from triage.runtime import Runtime

router = APIRouter()
REPLAY_WINDOW = 5 * 60  # seconds; Slack's own recommendation, and what SignatureVerifier checks
USAGE = "Usage: `/triage status <service>` or `/triage investigate <service> <what happened>`"


async def _verified_form(request: Request) -> tuple[Runtime, dict[str, str]]:
    """The request's form fields, once its signature and timestamp check out (else 401)."""
    runtime: Runtime = request.app.state.runtime
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        raise IntakeError(401, "Slack requests are refused: TRIAGE_SLACK_SIGNING_SECRET is not set")
    body = await read_body(request, runtime.settings.max_body_bytes)
    stamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature")
    if not signature or not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise IntakeError(401, "missing X-Slack-Signature or X-Slack-Request-Timestamp")
    if abs(time.time() - int(stamp)) > REPLAY_WINDOW:
        raise IntakeError(401, "the request timestamp is more than 5 minutes off: replayed or stale")
    if not SignatureVerifier(secret.get_secret_value()).is_valid(body, stamp, signature):
        raise IntakeError(401, "the Slack signature does not match")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise IntakeError(400, "the body is not UTF-8 form data") from exc
    return runtime, {key: values[0] for key, values in fields.items()}


def _ephemeral(text: str) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "text": text})


def _started(result: IntakeResult) -> str:
    if result.status != "accepted":
        return f"Not started: {result.reason}"
    return f"Investigation {result.investigation_id} started. Report: {result.report_url}"


@router.post("/slack/commands")
async def slack_command(request: Request) -> Response:
    """`/triage status <service>` and `/triage investigate <service> <what>` (ephemeral answers)."""
    runtime, form = await _verified_form(request)
    verb, _, rest = form.get("text", "").strip().partition(" ")
    service, _, what = rest.strip().partition(" ")
    author = form.get("user_name") or form.get("user_id") or "slack"
    if verb == "status" and service:
        return _ephemeral(escape(await run_in_threadpool(actions.status, runtime, service)))
    if verb == "investigate" and service and what.strip():
        trigger = form.get("trigger_id") or f"{form.get('user_id')}:{time.time_ns()}"
        try:
            result = await persist(actions.investigate, runtime, service, what.strip(), author,
                                   trigger)
        except actions.ActionError as exc:
            return _ephemeral(escape(str(exc)))
        return _ephemeral(escape(_started(result)))
    return _ephemeral(USAGE)


@router.post("/slack/interactions")
async def slack_interaction(request: Request) -> Response:
    """The thread's buttons and the "Wrong cause…" modal's submission."""
    runtime, form = await _verified_form(request)
    try:
        payload = json.loads(form.get("payload", ""))
    except json.JSONDecodeError as exc:
        raise IntakeError(400, "the `payload` field is not JSON") from exc
    if not isinstance(payload, dict):
        raise IntakeError(400, "the `payload` field is not a JSON object")
    user = payload.get("user") or {}
    author = str(user.get("username") or user.get("name") or user.get("id") or "slack")
    if payload.get("type") == "block_actions":
        for action in payload.get("actions") or []:
            await _button(runtime, action, author, str(payload.get("trigger_id", "")))
        return Response(status_code=200)
    if payload.get("type") == "view_submission":
        view = payload.get("view") or {}
        if view.get("callback_id") == WRONG_CAUSE_VIEW:
            return await _wrong_cause(runtime, view, author)
    return Response(status_code=200)  # other interaction types: acknowledged, nothing to do


async def _button(runtime: Runtime, action: dict[str, Any], author: str, trigger: str) -> None:
    """One clicked button of the thread's parent (its value is the investigation id)."""
    kind, investigation_id = action.get("action_id"), str(action.get("value", ""))
    try:
        if kind == RIGHT:
            await persist(actions.record_feedback, runtime, investigation_id, author, right=True)
        elif kind == WRONG:
            await run_in_threadpool(_open_modal, runtime, trigger, investigation_id)
        elif kind == AGAIN:
            click = str(action.get("action_ts") or trigger)
            await persist(actions.investigate_again, runtime, investigation_id, click, author)
    except actions.ActionError as exc:
        raise IntakeError(400, str(exc)) from exc
    # OPEN is a URL button: Slack opens the link and still tells us; nothing to do.


def _open_modal(runtime: Runtime, trigger: str, investigation_id: str) -> None:
    """views.open with the "Wrong cause…" form (the trigger expires 3 seconds after the click)."""
    if reason := runtime.settings.slack_disabled_because():
        raise IntakeError(503, f"cannot open the form: {reason}")
    poster = SlackPoster.from_settings(runtime.settings)
    try:
        poster.open_view(trigger, wrong_cause_view(investigation_id))
    except SlackError as exc:
        raise IntakeError(502, exc.message) from exc


async def _wrong_cause(runtime: Runtime, view: dict[str, Any], author: str) -> Response:
    """The modal's submission: store it, or show the field's error in the modal."""
    values = (view.get("state") or {}).get("values") or {}

    def field(block_id: str) -> str | None:
        element = (values.get(block_id) or {}).get("value") or {}
        # A text input answers with `value`; the category's select with `selected_option`.
        value = (element.get("selected_option") or {}).get("value", element.get("value"))
        return value.strip() or None if isinstance(value, str) else None

    try:
        await persist(actions.record_feedback, runtime, str(view.get("private_metadata", "")),
                      author, right=False, category=field("category"), culprit=field("culprit"),
                      note=field("note"))
    except actions.ActionError as exc:
        message = str(exc)
        block = ("culprit" if "commit" in message else "category" if "categor" in message
                 else "note")
        return JSONResponse({"response_action": "errors", "errors": {block: str(exc)}})
    return Response(status_code=200)  # an empty 200 closes the modal
