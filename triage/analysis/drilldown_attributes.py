"""The drillable attributes of a log row: structured fields, `key=value` pairs and request lines.

    attributes({"timestamp": "…", "level": "error", "http": {"status": 503},
                "message": "GET /api/orders/123?currency=EUR 503 in 45ms client=acme"})
    # {'level': 'error', 'http.status': '503', 'status_class': '5xx', 'method': 'GET',
    #  'path': '/api/orders/<id>', 'status': '503', 'query.currency': 'EUR', 'client': 'acme'}

Only the per-row part of the job: fields whose values are nearly all distinct across rows (order
numbers, latencies) are left to `drilldown`, which sees a whole window. This runs once per row
of up to 100k-row windows, so the hot paths use exact type checks and cached name decisions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from triage.analysis.redaction_rules import SECRET_FIELD

# Attributes that describe the request line of an access log (their share is "of requests").
REQUEST_FIELDS = frozenset({"method", "path", "status", "status_class"})
QUERY_PREFIX = "query."
HOST_CALLED = "host_called"
# Never attributes: the time and the free text itself, search engine bookkeeping.
_SKIPPED = frozenset({"timestamp", "@timestamp", "time", "ts", "message", "msg", "_id", "_index",
                      "_score"})
# Names (last dotted part, lowercase, without `_-`) of per-request identifiers: never a dimension.
_ID_SUFFIXES = ("requestid", "traceid", "spanid", "correlationid", "sessionid", "uuid", "guid")
_TAG_FIELDS = frozenset({"tags", "ddtags"})  # top-level only
_STATUS_NAMES = frozenset({"status", "status_code", "statuscode"})  # HTTP ones get `status_class`
_PATH_NAMES = frozenset({"path", "route", "uri", "url_path", "target"})  # their ids are masked
_MAX_VALUE_CHARS = 200  # longer values are free text, not a category
_MAX_MESSAGE_CHARS = 4096  # request lines and pairs sit at the start; bounds the regex work
_MAX_DEPTH = 4
_MAX_ITEMS = 20  # query parameters, URLs and tags read from one row
_MAX_JSON_CHARS = 4096
_MAX_NAMES = 8192  # field names whose treatment is remembered
# How a field name is treated (decided once per name: names repeat on every row).
_DROP, _PLAIN, _PATH, _STATUS, _TAGS = range(5)
_NOT_PLAIN = frozenset(" \t\r\n\x0b\x0c{")  # a first or last character that needs _text
_SCALARS = frozenset({int, float, bool, type(None)})

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_REQUEST = re.compile(
    r"(?<![\w/])(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)\s+(/[^\s\"]*|[A-Za-z][\w+.-]*://[^\s\"]+)"
    r"(?:\s+HTTP/\d(?:\.\d)?)?\"?(?:\s+([1-5]\d\d)(?![\w.]))?"
)
_URL = re.compile(r"(?<![\w+.-])[A-Za-z][\w+.-]*://[^\s\"'<>]+")
_KEY = re.compile(r"[A-Za-z_][\w.-]{0,63}")
# Quoted values may hold spaces, so they need a regex; bare ones are found by splitting (faster).
_QUOTED_PAIR = re.compile(r"(?<![^\s,;(\[{])([A-Za-z_][\w.-]{0,63})=(?:\"([^\"]*)\"|'([^']*)')")
# A path segment holding a digit (but not an API version like `v2`), or a long token.
_ID_SEGMENT = re.compile(r"/(?!v\d{1,2}(?:/|$))(?:[^/]*\d[^/]*|[^/]{20,})")


_KINDS: dict[str, int] = {}  # a dict, not lru_cache: the lookup is in the hottest loop


def _kind(name: str) -> int:
    """How a field is treated, remembered for the first few thousand names."""
    kind = _KINDS.get(name)
    if kind is None:
        kind = _classify(name)
        if len(_KINDS) < _MAX_NAMES:
            _KINDS[name] = kind
    return kind


def _classify(name: str) -> int:
    """How a field is treated: dropped (a per-request id, a credential, the time), a path or an
    HTTP status, Datadog tags, or plain."""
    last = name.rsplit(".", 1)[-1]
    squashed = last.lower().replace("_", "").replace("-", "")
    if (name in _SKIPPED or squashed == "id" or squashed.endswith(_ID_SUFFIXES)
            or SECRET_FIELD.fullmatch(last) is not None):
        return _DROP
    if name in _TAG_FIELDS:
        return _TAGS
    return _PATH if last in _PATH_NAMES else _STATUS if last in _STATUS_NAMES else _PLAIN


def _text(value: Any) -> str | None:
    """A scalar as attribute text; None for what is no category (null, long or UUID text)."""
    kind = type(value)
    if kind is str:
        text: str = value.strip()
        if not text or len(text) > _MAX_VALUE_CHARS or (len(text) == 36 and _UUID.fullmatch(text)):
            return None
        return text
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    """A JSON object held in a string field (Datadog's custom `attributes`), else None."""
    if len(text) > _MAX_JSON_CHARS or not text.endswith("}"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _flatten(source: Mapping[Any, Any], prefix: str, out: dict[str, str], depth: int) -> None:
    """Scalars of `source` under dotted names; nested objects (and JSON-object strings) flattened."""
    for key, value in source.items():
        # The hottest loop of the module: exact type checks first (ABC checks are slow), and
        # a plain short string is kept without a call.
        name = (prefix + key if prefix else key) if type(key) is str else f"{prefix}{key}"
        kind = _KINDS.get(name)
        if kind is None:
            kind = _kind(name)
        if kind == _DROP:
            continue
        value_type = type(value)
        if (kind == _PLAIN and value_type is str and 0 < len(value) <= _MAX_VALUE_CHARS
                and len(value) != 36 and value[0] not in _NOT_PLAIN and value[-1] not in _NOT_PLAIN):
            if name not in out:
                out[name] = value
            continue
        if kind == _TAGS:
            _tags(value, out)
            continue
        nested: Mapping[Any, Any] | None = None
        if value_type is str:
            if value[:1] == "{":
                nested = _json_object(value)
        elif value_type is dict or (value_type not in _SCALARS and isinstance(value, Mapping)):
            nested = value
        if nested is not None:
            if depth < _MAX_DEPTH:
                _flatten(nested, name + ".", out, depth + 1)
            continue
        _put(out, name, kind, value)


def _put(out: dict[str, str], name: str, kind: int, value: Any) -> None:
    """Keep one scalar (the first seen under its name): paths masked, HTTP statuses classed."""
    text = _text(value)
    if text is None:
        return
    if kind == _PATH and text[:1] == "/":
        text = _mask_path(text.partition("?")[0])
    out.setdefault(name, text)
    if kind == _STATUS and len(text) == 3 and text.isdigit() and "1" <= text[0] <= "5":
        out.setdefault("status_class", f"{text[0]}xx")


def _tags(value: Any, out: dict[str, str]) -> None:
    """Datadog-style `key:value` tags (a list, or one comma-separated string) as attributes."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    for item in items[:_MAX_ITEMS]:
        if isinstance(item, str):
            key, sep, tag_value = item.strip().partition(":")
            kind = _kind(key) if sep and key else _DROP
            if kind != _DROP:
                _put(out, key, kind, tag_value)


def _mask_path(path: str) -> str:
    """Path segments that identify one thing (`123`, `a1b2c3`, long tokens) become `<id>`."""
    return _ID_SEGMENT.sub("/<id>", path[:_MAX_VALUE_CHARS])


@lru_cache(maxsize=4096)
def _query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    """`a=1&b=2` as `query.<name>` attributes (cached: most query strings repeat)."""
    pairs: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True)[:_MAX_ITEMS]:
        field = QUERY_PREFIX + name
        if name and _kind(field) != _DROP:
            text = _text(value)
            if text is not None:
                pairs.append((field, text))
    return tuple(pairs)


def _url(url: str, out: dict[str, str]) -> None:
    """The host a URL calls (`host_called`) and its query parameters."""
    try:
        parts = urlsplit(url.rstrip(".,;:)]}"))
        host = parts.hostname
    except ValueError:  # a malformed IPv6 literal or port
        return
    if host:
        out.setdefault(HOST_CALLED, host)
    for field, text in _query_pairs(parts.query):
        out.setdefault(field, text)


def _request(message: str, out: dict[str, str]) -> str:
    """Method, masked path, query parameters and status of an access-log request line; the
    message without its target (whose query is no `key=value` pair to look for again)."""
    request = _REQUEST.search(message)
    # A request line with a full URL is a call to a dependency (`host_called`), not the request
    # this service served: its method would blur the served traffic's.
    if request is None or not request.group(2).startswith("/"):
        return message
    method, target, status = request.groups()
    out.setdefault("method", method)
    path, _, query = target.partition("#")[0].partition("?")
    out.setdefault("path", _mask_path(path))
    for field, text in _query_pairs(query):
        out.setdefault(field, text)
    if status is not None:
        out.setdefault("status", status)
        out.setdefault("status_class", f"{status[0]}xx")
    return message[:request.start(2)] + message[request.end(2):]


def _pairs(message: str, out: dict[str, str]) -> None:
    """`key=value` pairs: `a=1, b=2 (c=x)`; `k="a b"`. A URL's `?a=1&b=2` is no pair (the key
    must start a token) but query parameters."""
    found: list[tuple[str, str]] = []
    if '="' in message or "='" in message:
        found = [(key, double or single) for key, double, single in _QUOTED_PAIR.findall(message)]
    for token in message.replace(",", " ").replace(";", " ").split():
        if "=" in token:
            key, _, value = token.lstrip("([{").partition("=")
            if value[:1] not in "\"'" and _KEY.fullmatch(key):
                found.append((key, value.rstrip(".:)]}\"'")))
    for key, value in found:
        kind = _kind(key)
        if kind != _DROP:
            _put(out, key, kind, value)


def attributes(row: Mapping[str, Any]) -> dict[str, str]:
    """The drillable attributes of one log row (see the module docstring)."""
    out: dict[str, str] = {}
    _flatten(row, "", out, 0)
    message = row.get("message")
    if type(message) is str and message:
        message = message[:_MAX_MESSAGE_CHARS]
        if "/" in message:
            message = _request(message, out)
            if "://" in message:
                for url in _URL.findall(message)[:_MAX_ITEMS]:
                    _url(url, out)
        if "=" in message:
            _pairs(message, out)
    return out
