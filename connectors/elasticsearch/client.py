"""The Elasticsearch client as the connector uses it: wire compatibility, retries, error messages.

The official 9.x client sends `application/vnd.elasticsearch+json; compatible-with=9` and insists that
every 2xx response carries `X-Elastic-Product: Elasticsearch`. That is right for Elasticsearch 9, wrong
for Elasticsearch 8 (it accepts `compatible-with=8` or 7 only) and wrong for OpenSearch (it accepts only
plain `application/json` and does not identify as Elasticsearch). The `compatibility` setting picks a
node class that rewrites the two media-type headers on the way out, and for OpenSearch accepts a
response that does not name its product. Nothing else about the request changes.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any, Literal

from elastic_transport import (
    ApiResponseMeta,
    ConnectionError,
    ConnectionTimeout,
    HttpHeaders,
    SerializationError,
    TlsError,
    TransportError,
    Urllib3HttpNode,
)
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
from pydantic import SecretStr

from connectors.retry import parse_retry_after
from connectors.secrets import scrub

Compatibility = Literal["elasticsearch9", "elasticsearch8", "opensearch"]

_VENDOR_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w-]+);\s*compatible-with=\d+")
# Causes that a 503 can carry but that will fail the same way on every retry.
_DETERMINISTIC_503 = ("too_many_buckets_exception", "search.max_buckets")
MAX_MESSAGE_CHARS = 1_500


class _ScrubSecrets(logging.Filter):
    """Takes credential values out of the client's debug log, which quotes raw response bodies
    (a backend that echoes the Authorization header would otherwise put the key in the log)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the secrets; never drops a record."""
        if self.secrets:
            message = record.getMessage()
            cleaned = scrub(message, *self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_LOG_SCRUBBER = _ScrubSecrets()
for _name in ("elastic_transport.node", "elastic_transport.transport", "elasticsearch"):
    logging.getLogger(_name).addFilter(_LOG_SCRUBBER)


def _rewrite_media_types(headers: HttpHeaders | None, replacement: str) -> HttpHeaders | None:
    if headers is None:
        return None
    rewritten = headers.copy()
    for name in ("accept", "content-type"):
        if name in rewritten:
            rewritten[name] = _VENDOR_MEDIA_TYPE.sub(replacement, rewritten[name])
    return rewritten


class Elasticsearch8Node(Urllib3HttpNode):
    """Asks for the Elasticsearch 8 REST API (`compatible-with=8`), which 8.x and 9.x servers serve."""

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        """Send the request with version-8 media types."""
        headers = _rewrite_media_types(headers, r"application/vnd.elasticsearch+\1; compatible-with=8")
        return super().perform_request(method, target, body, headers, request_timeout)


class OpenSearchNode(Urllib3HttpNode):
    """Speaks plain `application/json` and accepts a server that does not call itself Elasticsearch."""

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        """Send the request with plain JSON media types; vouch for the product on the response."""
        headers = _rewrite_media_types(headers, r"application/\1")
        response = super().perform_request(method, target, body, headers, request_timeout)
        meta: ApiResponseMeta = response.meta
        # OpenSearch never sends this header; the client's product check would refuse every reply.
        if "x-elastic-product" not in meta.headers and not meta.headers.frozen:
            meta.headers["x-elastic-product"] = "Elasticsearch"
        return response


NODE_CLASSES: dict[str, type[Urllib3HttpNode] | None] = {
    "elasticsearch9": None,
    "elasticsearch8": Elasticsearch8Node,
    "opensearch": OpenSearchNode,
}


def build_client(
    hosts: list[str],
    *,
    compatibility: Compatibility,
    timeout: float,
    api_key: SecretStr | None = None,
    basic_auth: tuple[str, SecretStr] | None = None,
    ca_certs: str | None = None,
    verify_certs: bool = True,
) -> Elasticsearch:
    """A client with our timeout, no retries of its own (we retry transient errors), and auth."""
    options: dict[str, Any] = {
        "request_timeout": timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "verify_certs": verify_certs,
    }
    node_class = NODE_CLASSES[compatibility]
    if node_class is not None:
        options["node_class"] = node_class
    if ca_certs is not None:
        options["ca_certs"] = ca_certs
    if api_key is not None:
        options["api_key"] = api_key.get_secret_value()
        _LOG_SCRUBBER.secrets.add(api_key.get_secret_value())
    if basic_auth is not None:
        user, password = basic_auth[0], basic_auth[1].get_secret_value()
        options["basic_auth"] = (user, password)
        _LOG_SCRUBBER.secrets.update({password, base64.b64encode(f"{user}:{password}".encode()).decode()})
    return Elasticsearch(hosts, **options)


def is_transient(error: BaseException) -> bool:
    """Connection failures, 429 and gateway / unavailable answers; never timeouts or bad queries."""
    if isinstance(error, ConnectionTimeout | TlsError):
        return False  # a heavy query would time out again (costing the cluster twice); a bad cert stays bad
    if isinstance(error, ConnectionError):
        return True
    if isinstance(error, ApiError) and not isinstance(error, UnsupportedProductError):
        if error.meta.status == 503:
            body = json.dumps(error.body, default=str) if error.body is not None else ""
            return not any(cause in body for cause in _DETERMINISTIC_503)
        return error.meta.status in (429, 502, 504)
    return False


def retry_after(error: BaseException) -> float | None:
    """The server's `Retry-After`, when it sent one."""
    if isinstance(error, ApiError):
        return parse_retry_after(error.meta.headers.get("retry-after"))
    return None


def _reason(body: Any) -> str:
    """The most specific reason in an Elasticsearch / OpenSearch error body."""
    if not isinstance(body, dict):
        return str(body)
    error = body.get("error", body)
    if not isinstance(error, dict):
        return str(error)
    parts: list[str] = []
    roots = error.get("root_cause") or []
    first_root = roots[0] if roots and isinstance(roots[0], dict) else {}
    for item in (first_root, error, error.get("caused_by") or {}):
        if isinstance(item, dict) and item.get("reason") and str(item["reason"]) not in parts:
            parts.append(str(item["reason"]))
    kind = first_root.get("type") or error.get("type") or "error"
    return f"{kind}: {'; caused by: '.join(parts)}" if parts else str(kind)


def describe_error(error: Exception, sent: str, *secrets: SecretStr | str | None) -> str:
    """One message for the brain: what the backend said, and exactly what we sent."""
    if isinstance(error, UnsupportedProductError):
        message = ("the server does not identify as Elasticsearch (no X-Elastic-Product header); "
                   "for OpenSearch set `compatibility: opensearch`")
    elif isinstance(error, ApiError):
        status = error.meta.status
        if status == 406 or (status == 400 and "media_type_header_exception" in str(error.body)):
            message = (f"HTTP {status}: {_reason(error.body)} — the server rejected the client's "
                       "media type; set `compatibility` to elasticsearch8 or opensearch to match it")
        elif status in (401, 403):
            message = f"permission denied (HTTP {status}): {_reason(error.body)}"
        elif status == 429:
            message = f"rate limited (HTTP 429) after retries: {_reason(error.body)}"
        else:
            message = f"HTTP {status}: {_reason(error.body)}"
    elif isinstance(error, ConnectionTimeout):
        message = f"timed out: {error.message}"
    elif isinstance(error, TlsError):
        message = f"TLS failed (check ca_certs / verify_certs): {error.message}"
    elif isinstance(error, SerializationError):
        message = f"unreadable response: {error.message}"
    elif isinstance(error, TransportError):
        message = f"cannot reach the cluster: {error.message}"
    else:
        message = str(error)
    text = f"{message} [sent: {sent}]"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return scrub(text, *secrets)
