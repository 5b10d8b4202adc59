"""Which Datadog failures are worth retrying, and how to say what went wrong without secrets."""

from __future__ import annotations

from typing import Any

import urllib3
from datadog_api_client.exceptions import ApiException
from pydantic import SecretStr

from connectors.retry import parse_retry_after
from connectors.secrets import scrub

# 429 is Datadog's rate limit; 5xx are its own outages. 4xx other than 429 never get better.
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_PERMISSION_HINTS = {
    "logs search": "logs_read_data",
    "metrics query": "timeseries_query",
    "monitor lookup": "monitors_read",
    "monitor list": "monitors_read",
    "events search": "events_read",
}


class DatadogError(Exception):
    """A Datadog call failed in a way the caller reports as error Evidence (message has no secrets)."""


def is_transient(error: BaseException) -> bool:
    """Rate limits, Datadog 5xx, refused or reset connections; never timeouts (they would repeat)."""
    if isinstance(error, ApiException):
        return error.status in _TRANSIENT_STATUS
    return isinstance(error, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ProtocolError)


def retry_after(error: BaseException) -> float | None:
    """Seconds Datadog asks us to wait: `X-RateLimit-Reset` (its own header), else `Retry-After`."""
    if not isinstance(error, ApiException) or not error.headers:
        return None
    headers = {str(key).lower(): str(value) for key, value in error.headers.items()}
    return parse_retry_after(headers.get("x-ratelimit-reset") or headers.get("retry-after"))


def describe(error: Exception, what: str, *, timeout: float, secrets: tuple[SecretStr, ...]) -> DatadogError:
    """A `DatadogError` naming the call and carrying Datadog's own message, with secrets scrubbed."""
    if isinstance(error, ApiException):
        message = _describe_api_error(error, what)
    elif isinstance(error, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ProtocolError):
        message = f"Datadog {what} failed: cannot reach the Datadog API: {_reason(error)}"
    elif isinstance(error, urllib3.exceptions.TimeoutError):
        message = f"Datadog {what} timed out after {timeout:g}s"
    elif isinstance(error, urllib3.exceptions.HTTPError):
        message = f"Datadog {what} failed: {type(error).__name__}: {_reason(error)}"
    else:
        raise error
    return DatadogError(scrub(message, *secrets))


def _describe_api_error(error: ApiException, what: str) -> str:
    status = error.status or 0
    if status == 0:  # the client wraps TLS failures as status 0
        return f"Datadog {what} failed: {error.reason}"
    detail = backend_message(error.body) or (error.reason or "")
    head = f"Datadog {what} failed: HTTP {status}"
    if error.reason:
        head += f" {error.reason}"
    message = f"{head}: {detail}" if detail and detail != error.reason else head
    if status in (401, 403):
        scope = _PERMISSION_HINTS.get(what)
        needs = f"; this call needs the `{scope}` permission" if scope else ""
        message += (f" (the API key is invalid, or the application key or its owner lacks permission"
                    f"{needs})")
    elif status == 429:
        message += " (rate limited by Datadog; gave up after retrying)"
    return message


def backend_message(body: Any) -> str:
    """Datadog's error text: `{"errors": ["..."]}` or JSON:API `{"errors": [{"title", "detail"}]}`."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            parts = []
            for item in errors:
                if isinstance(item, dict):
                    text = ": ".join(str(item[k]) for k in ("title", "detail") if item.get(k))
                    parts.append(text or str(item))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        if body.get("error"):
            return str(body["error"])
        return ""
    text = str(body or "").strip()
    return text[:500]


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)
