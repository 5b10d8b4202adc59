"""GET-only access to the Prometheus HTTP API: auth, timeouts, bounded bodies, retries.

Exceptions::

    PrometheusAPIError        the call failed in a way a brain can act on (message is scrubbed)
    └── carries .status       the HTTP status (None: no answer at all) and .transient
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.retry import call_with_retries, parse_retry_after
from connectors.secrets import scrub

_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_BODY_EXCERPT = 500


class PrometheusAPIError(Exception):
    """A call the server refused or could not answer; the message names what happened."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class APIResult:
    """A success envelope: its `data`, and the warnings / infos Prometheus attached."""

    data: Any
    warnings: list[str] = field(default_factory=list)


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer …`, kept out of the client's default headers."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header to each request."""
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class PrometheusHTTP:
    """Issues GET requests against `/api/v1/...` and unwraps the success envelope."""

    def __init__(self, client: httpx.Client, *, secrets: tuple[SecretStr, ...] = (),
                 max_attempts: int = 4, max_response_bytes: int = 20_000_000,
                 auth_hint: str = "") -> None:
        self._client = client
        self._secrets = secrets
        self._max_attempts = max_attempts
        self._max_bytes = max_response_bytes
        self._auth_hint = auth_hint

    def get(self, path: str, params: Mapping[str, str] | None = None) -> APIResult:
        """The data and warnings of a successful answer; `PrometheusAPIError` otherwise."""
        query = params or {}
        try:
            # the common case pays nothing for the retry machinery
            return self._get_once(path, query)
        except PrometheusAPIError as exc:
            if not exc.transient or self._max_attempts < 2:
                raise
            pending = [exc]

        def attempt() -> APIResult:
            # replays the first failure, so tenacity waits (Retry-After or backoff) before retrying
            if pending:
                raise pending.pop()
            return self._get_once(path, query)

        try:
            return call_with_retries(
                attempt,
                is_transient=_is_transient,
                retry_after=lambda exc: exc.retry_after if isinstance(exc, PrometheusAPIError) else None,
                attempts=self._max_attempts,
            )
        except PrometheusAPIError as exc:
            if exc.transient:
                raise PrometheusAPIError(f"{exc} (gave up after {self._max_attempts} attempts)",
                                         status=exc.status) from None
            raise

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _get_once(self, path: str, params: Mapping[str, str]) -> APIResult:
        try:
            with self._client.stream("GET", path, params=params) as response:
                body = self._read_bounded(response)
        except httpx.TimeoutException as exc:
            raise PrometheusAPIError(self._scrub(
                f"prometheus did not answer within the {_timeout_of(self._client)}s timeout "
                f"({type(exc).__name__}); narrow the query or the time range"),
                transient=isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)) from None
        except httpx.TransportError as exc:
            raise PrometheusAPIError(self._scrub(
                f"cannot reach prometheus at {self._client.base_url}: {type(exc).__name__}: {exc}"),
                transient=True) from None
        return self._decode(response, body)

    def _read_bounded(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise PrometheusAPIError(
                    f"prometheus answered more than {self._max_bytes:,} bytes; narrow the selector, "
                    "aggregate (sum by ...), or shorten the time range")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode(self, response: httpx.Response, body: bytes) -> APIResult:
        status = response.status_code
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("status") == "success" and status < 300:
            notes = [f"prometheus warning: {w}" for w in payload.get("warnings") or []]
            notes += [f"prometheus info: {i}" for i in payload.get("infos") or []]
            return APIResult(payload.get("data"), notes)
        transient = status in _TRANSIENT_STATUS
        retry_after = parse_retry_after(response.headers.get("retry-after")) if transient else None
        reason = f"HTTP {status} {response.reason_phrase}".rstrip()
        if isinstance(payload, dict) and payload.get("status") == "error":
            message = (f"prometheus rejected the request ({reason}, {payload.get('errorType')}): "
                       f"{payload.get('error')}")
        else:
            excerpt = body.decode("utf-8", "replace").strip()[:_BODY_EXCERPT]
            what = "is not the Prometheus API" if status < 300 else "answered an error"
            message = f"prometheus at {response.url.copy_with(query=None)} {what} ({reason}): {excerpt}"
        if status in (401, 403) and self._auth_hint:
            message += f" — check the credentials ({self._auth_hint})"
        raise PrometheusAPIError(self._scrub(message), status=status, transient=transient,
                                 retry_after=retry_after)

    def _scrub(self, message: str) -> str:
        return scrub(message, *self._secrets)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, PrometheusAPIError) and exc.transient


def _timeout_of(client: httpx.Client) -> str:
    return f"{client.timeout.read:g}" if client.timeout.read is not None else "?"
