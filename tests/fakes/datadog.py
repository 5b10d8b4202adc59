"""A loopback Datadog API for the connector tests, speaking the documented shapes that
`datadog-api-client` validates (it deserializes every response into its models):

- `GET  /api/v1/validate`                        → `{"valid": true}` (API key only)
- `POST /api/v2/logs/events/search`              → `{"data": [Log], "links": {"next"}, "meta": {"page":
  {"after"}, "status", "elapsed", "request_id", "warnings"}}`, cursor-paginated
- `POST /api/v2/logs/analytics/aggregate`         → `LogsAggregateResponse` (counts; see `datadog_aggregate`)
- `GET  /api/v1/query?from&to&query`             → `MetricsQueryResponse` (`series[].pointlist`)
- `GET  /api/v1/monitor/{id}?group_states`       → `Monitor`; `GET /api/v1/monitor` → `[Monitor]`
- `GET  /api/v2/events?filter[query]&...`        → `EventsListResponse`, cursor-paginated
- `GET  /api/v2/current_user/application_keys`   → `ListApplicationKeysResponse` (`last4`, `scopes`)

Every route but `validate` needs both `DD-API-KEY` and `DD-APPLICATION-KEY`; a wrong or missing key is
`403 {"errors": ["Forbidden"]}`. Errors use Datadog's `{"errors": ["..."]}`. Tests can deny a route
(403, a missing permission) or script answers ahead of the real one (429 with `X-RateLimit-*`
headers, 5xx, slow answers). Every request is recorded. Search semantics are a small subset of
Datadog's syntax (`key:value`, `@attr:value`, `-negation`, quoted or bare text, `*`).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.datadog_aggregate import AggregateError, aggregate, check_body

Json = dict[str, Any]
FORBIDDEN = {"errors": ["Forbidden"]}
NO_PERMISSION = {"errors": ["Failed permission authorization checks"]}
_ROUTES = [
    ("validate", "GET", re.compile(r"^/api/v1/validate$")),
    ("logs", "POST", re.compile(r"^/api/v2/logs/events/search$")),
    ("logs_aggregate", "POST", re.compile(r"^/api/v2/logs/analytics/aggregate$")),
    ("metrics", "GET", re.compile(r"^/api/v1/query$")),
    ("monitor", "GET", re.compile(r"^/api/v1/monitor/(?P<id>[^/]+)$")),
    ("monitors", "GET", re.compile(r"^/api/v1/monitor$")),
    ("events", "GET", re.compile(r"^/api/v2/events$")),
    ("app_keys", "GET", re.compile(r"^/api/v2/current_user/application_keys$")),
]
_TOKEN = re.compile(r'-?(?:[@\w.\-]+:)?(?:"[^"]*"|[^\s"]+)')


class BadRequest(Exception):
    """Answered as `400 {"errors": [message]}`."""


class Denied(Exception):
    """Answered as `403`: the application key lacks the permission."""


@dataclass
class Scripted:
    """One canned answer, served before the route's real behaviour."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    route: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def rate_limited(reset: int = 0) -> Scripted:
    """Datadog's 429 with its rate-limit headers (`X-RateLimit-Reset`: seconds until reset)."""
    return Scripted(429, {"errors": ["Rate limit exceeded"]}, {
        "X-RateLimit-Limit": "60", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset), "X-RateLimit-Name": "logs_list"})


def parse_time(value: str) -> datetime:
    """ISO 8601 or epoch milliseconds, as Datadog's search APIs accept them."""
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise BadRequest(f"invalid time {value!r}") from exc


@lru_cache(maxsize=64)
def _terms(query: str) -> tuple[str, ...]:
    if query.count('"') % 2 or query.count("(") != query.count(")"):
        raise BadRequest(f"invalid query: unbalanced quotes or parentheses in {query!r}")
    return tuple(_TOKEN.findall(query))


def matches(query: str, text: str, fields: dict[str, Any], tags: list[str]) -> bool:
    """The fake's search: every term must hold (`AND` is implicit)."""
    for raw in _terms(query):
        negate, term = raw.startswith("-"), raw.lstrip("-")
        if term in ("*", "AND"):
            continue
        if term == "OR":
            raise BadRequest("OR is not supported by the fake")
        key, sep, value = term.partition(":")
        if sep and not term.startswith('"'):
            value = value.strip('"')
            if key == "tags":
                hit = any(fnmatch.fnmatch(tag, value) for tag in tags)
            elif key.startswith("@") or key in fields:
                hit = fnmatch.fnmatch(str(fields.get(key.lstrip("@"), "")).lower(), value.lower())
            else:
                hit = any(fnmatch.fnmatch(tag, f"{key}:{value}") for tag in tags)
        else:
            hit = term.strip('"').lower() in text.lower()
        if hit == negate:
            return False
    return True


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": offset}).encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("invalid page cursor") from exc


class FakeDatadog:
    """The server and its data; start with `with FakeDatadog(api, app) as fake:`."""

    def __init__(self, api_key: str, app_key: str) -> None:
        self.api_key, self.app_key = api_key, app_key
        self.logs: list[Json] = []
        self.events: list[Json] = []
        self.series: dict[str, list[Json]] = {}
        self.monitors: dict[int, Json] = {}
        self.app_keys: list[Json] | None = []
        self.denied: set[str] = set()
        self.requests: list[Recorded] = []
        self._script: dict[str, deque[Scripted]] = defaultdict(deque)
        self._sorted: tuple[tuple[int, int], list[datetime], list[Json]] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL, `http://127.0.0.1:PORT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeDatadog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, route: str, *answers: Scripted) -> None:
        """Serve `answers` (in order) on `route` before its real behaviour."""
        with self._lock:
            self._script[route].extend(answers)

    def reset(self) -> None:
        """Forget recorded requests, scripted answers and denials (data stays)."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.denied.clear()

    def routes(self) -> list[str]:
        """Routes requested so far, in order."""
        return [r.route for r in self.requests]

    # --- dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Scripted:
        """Answer one request."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        route, params = "unknown", {}
        for name, verb, pattern in _ROUTES:
            found = pattern.match(parts.path)
            if found and verb == method:
                route, params = name, found.groupdict()
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Recorded(method, route, parts.path, query, headers, body))
            scripted = self._script[route].popleft() if self._script[route] else None
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("dd-api-key") != self.api_key:
            return Scripted(403, FORBIDDEN)
        if route != "validate" and lowered.get("dd-application-key") != self.app_key:
            return Scripted(403, FORBIDDEN)
        if scripted is not None:
            return scripted
        if route == "unknown":
            return Scripted(404, {"errors": ["Not found"]})
        try:
            if route in self.denied:
                raise Denied
            return Scripted(200, getattr(self, f"_{route}")(query, body, params))
        except BadRequest as exc:
            return Scripted(400, {"errors": [str(exc)]})
        except Denied:
            return Scripted(403, NO_PERMISSION)
        except LookupError as exc:
            return Scripted(404, {"errors": [str(exc).strip("'")]})

    def _validate(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        return {"valid": True}

    def _logs(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        if not isinstance(body, dict) or set(body) - {"filter", "options", "page", "sort"}:
            raise BadRequest(f"invalid request body: {body!r}")
        filt, page = body.get("filter") or {}, body.get("page") or {}
        if set(filt) - {"from", "to", "query", "indexes", "storage_tier"} or set(page) - {"limit", "cursor"}:
            raise BadRequest(f"unknown field in {body!r}")
        limit = page.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise BadRequest("page[limit] must be between 1 and 1000")
        hits = [log for _, log in self._matching(filt)]
        hits.sort(key=lambda log: log["attributes"]["timestamp"], reverse=body.get("sort") == "-timestamp")
        return self._page(hits, _offset(page.get("cursor")), limit, "/api/v2/logs/events")

    def _logs_aggregate(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        try:
            request = check_body(body)
        except AggregateError as exc:
            raise BadRequest(str(exc)) from exc
        found = self._matching(request.get("filter") or {})
        data, more = aggregate(request, [stamp for stamp, _ in found], [log for _, log in found],
                               _offset((request.get("page") or {}).get("cursor")))
        meta: Json = {"elapsed": 9, "request_id": "agg-1", "status": "done"}
        if more is not None:
            meta["page"] = {"after": _cursor(more)}
        return {"data": data, "meta": meta}

    def _matching(self, filt: Json) -> list[tuple[datetime, Json]]:
        """Logs in [from, to] (both inclusive, as before) that match the filter's query."""
        if set(filt) - {"from", "to", "query", "indexes", "storage_tier"}:
            raise BadRequest(f"unknown field in filter {filt!r}")
        start, end = parse_time(filt.get("from", "")), parse_time(filt.get("to", ""))
        text = filt.get("query", "*")
        stamps, logs = self._by_time()
        window = range(bisect_left(stamps, start), bisect_right(stamps, end))
        return [(stamps[i], logs[i]) for i in window
                if matches(text, logs[i]["attributes"].get("message", ""), _log_fields(logs[i]),
                           logs[i]["attributes"].get("tags", []))]

    def _by_time(self) -> tuple[list[datetime], list[Json]]:
        """`logs` sorted by time with parsed stamps, rebuilt when the list is replaced or grows."""
        key = (id(self.logs), len(self.logs))
        if self._sorted is None or self._sorted[0] != key:
            pairs = sorted(((parse_time(log["attributes"]["timestamp"]), log) for log in self.logs),
                           key=lambda pair: pair[0])
            self._sorted = (key, [stamp for stamp, _ in pairs], [log for _, log in pairs])
        return self._sorted[1], self._sorted[2]

    def _events(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        def one(name: str, default: str) -> str:
            return query.get(name, [default])[0]
        limit = int(one("page[limit]", "10"))
        if not 1 <= limit <= 1000:
            raise BadRequest("page[limit] must be between 1 and 1000")
        start, end = parse_time(one("filter[from]", "0")), parse_time(one("filter[to]", "9" * 13))
        text = one("filter[query]", "*")
        hits = [event for event in self.events
                if start <= parse_time(event["attributes"]["timestamp"]) <= end
                and matches(text, _event_text(event), event["attributes"]["attributes"],
                            event["attributes"].get("tags", []))]
        hits.sort(key=lambda e: e["attributes"]["timestamp"], reverse=one("sort", "") == "-timestamp")
        return self._page(hits, _offset(one("page[cursor]", "")), limit, "/api/v2/events")

    def _page(self, hits: list[Json], offset: int, limit: int, path: str) -> Json:
        chunk = hits[offset:offset + limit]
        meta: Json = {"elapsed": 7, "request_id": f"req-{offset}", "status": "done"}
        answer: Json = {"data": chunk, "meta": meta}
        if offset + limit < len(hits):
            after = _cursor(offset + limit)
            meta["page"] = {"after": after}
            answer["links"] = {"next": f"{self.url}{path}?page[cursor]={after}"}
        return answer

    def _metrics(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        for name in ("from", "to", "query"):
            if not query.get(name, [""])[0]:
                raise BadRequest(f"Missing required parameter: {name}")
        text = query["query"][0]
        try:
            start, end = int(query["from"][0]) * 1000, int(query["to"][0]) * 1000
        except ValueError as exc:
            raise BadRequest("from and to must be integers (seconds)") from exc
        if text.count("{") != text.count("}") or text.count("(") != text.count(")") or "{" not in text:
            raise BadRequest(f"Error parsing query: \n unable to parse {text}: "
                             "Rule 'scope_expr' didn't match")
        series = []
        for each in self.series.get(text, []):
            points = [p for p in each["pointlist"] if start <= p[0] <= end]
            series.append({**each, "pointlist": points, "length": len(points),
                           "start": points[0][0] if points else start,
                           "end": points[-1][0] if points else end})
        return {"status": "ok", "res_type": "time_series", "resp_version": 1, "query": text,
                "from_date": start, "to_date": end, "series": series, "values": [], "times": [],
                "message": "", "group_by": sorted({tag.partition(":")[0] for s in series
                                                   for tag in s.get("tag_set", [])})}

    def _monitor(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        if not params["id"].isdigit():
            raise BadRequest(f"invalid monitor_id {params['id']!r}")
        monitor = self.monitors.get(int(params["id"]))
        if monitor is None:
            raise LookupError("Monitor not found")
        wanted = set(query.get("group_states", [""])[0].split(",")) - {""}
        groups = monitor.get("state", {}).get("groups", {})
        kept = {k: g for k, g in groups.items() if "all" in wanted or g["status"].lower() in wanted}
        return {**monitor, "state": {"groups": kept}}

    def _monitors(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        size = int(query.get("page_size", ["100"])[0])
        return [{**m, "state": {"groups": {}}} for m in list(self.monitors.values())[:size]]

    def _app_keys(self, query: dict[str, list[str]], body: Any, params: dict[str, str]) -> Any:
        if self.app_keys is None:
            raise Denied
        size = int(query.get("page[size]", ["10"])[0])
        number = int(query.get("page[number]", ["0"])[0])
        chunk = self.app_keys[number * size:(number + 1) * size]
        return {"data": chunk, "meta": {"max_allowed_per_user": 1000,
                                        "page": {"total_filtered_count": len(self.app_keys)}}}


def _log_fields(log: Json) -> dict[str, Any]:
    attrs = log["attributes"]
    return {**attrs.get("attributes", {}),
            **{k: attrs[k] for k in ("service", "status", "host") if k in attrs}}


def _event_text(event: Json) -> str:
    return f"{event['attributes']['attributes'].get('title', '')} {event['attributes'].get('message', '')}"


def _handler(fake: FakeDatadog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
            if answer.delay:
                time.sleep(answer.delay)
            text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            payload = text.encode()
            try:
                self.send_response(answer.status)
                kind = "text/html" if isinstance(answer.body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `fake.requests` instead."""

    return Handler
