"""Data and helpers for the Datadog connector tests: planted keys, a seeded `FakeDatadog`, and a
connector pointed at it through the real `datadog-api-client`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import build_connector
from connectors.datadog import DatadogConnector
from tests.connectors._util import T0, at
from tests.fakes.datadog import FakeDatadog

# Planted credentials: they must never appear in Evidence, checks, exceptions or logs.
API_KEY = "ddapi0PLANTED0c0ffee0d15ea5e0b1e55ed42"
APP_KEY = "ddapp0PLANTED0feedfacecafe0bad0dec0de0a1b2c3d9k7q"
WRONG_KEY = "ddapi0WRONG00000000000000000000000000"
SECRETS = (API_KEY, APP_KEY)

ERRORS_QUERY = "sum:trace.http.request.errors{service:checkout}.as_count()"
CPU_QUERY = "avg:system.cpu.user{env:prod} by {host}"
PROBE_QUERY = "avg:datadog.estimated_usage.hosts{*}"
MONITOR_ID = 12345
COMMIT = "abc123def4567890abc123def4567890abc12345"


def stamp(moment: datetime) -> str:
    """Datadog's ISO 8601 with milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    """Epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def log(when: datetime, message: str, status: str = "info", service: str = "checkout",
        tags: list[str] | None = None, **attributes: Any) -> dict[str, Any]:
    """A log as `POST /api/v2/logs/events/search` returns it."""
    return {"id": f"AQAAAY{ms(when)}{len(message)}", "type": "log", "attributes": {
        "timestamp": stamp(when), "status": status, "service": service, "host": "i-0a1b2c",
        "message": message, "tags": tags or [f"service:{service}", "env:prod"],
        "attributes": {"service": service, **attributes}}}


def event(when: datetime, title: str, tags: list[str], text: str = "", service: str = "",
          source: str = "github", status: str = "info") -> dict[str, Any]:
    """An event as `GET /api/v2/events` returns it."""
    inner: dict[str, Any] = {"title": title, "timestamp": ms(when), "source_type_name": source,
                             "status": status, "priority": "normal",
                             "evt": {"id": str(ms(when)), "source_id": 1, "type": "deploy"}}
    if service:
        inner["service"] = service
    return {"id": f"AAAAAZ{ms(when)}", "type": "event",
            "attributes": {"timestamp": stamp(when), "message": text, "tags": tags, "attributes": inner}}


def series(query: str, metric: str, scope: str, points: list[tuple[datetime, float | None]],
           aggr: str = "sum") -> dict[str, Any]:
    """One `MetricsQueryMetadata` with its `pointlist` of `[epoch ms, value]`."""
    return {"metric": metric, "display_name": metric, "expression": query, "scope": scope,
            "aggr": aggr, "interval": 60, "query_index": 0,
            "tag_set": [] if scope == "*" else scope.split(","),
            "unit": [{"family": "general", "name": "error", "plural": "errors",
                      "scale_factor": 1.0, "short_name": "err"}, None],
            "pointlist": [[float(ms(when)), value] for when, value in points]}


def monitor(monitor_id: int, name: str, query: str, state: str,
            groups: dict[str, tuple[str, datetime]]) -> dict[str, Any]:
    """A `Monitor` with per-group states, plus fields the client does not model (discarded)."""
    return {
        "id": monitor_id, "name": name, "type": "query alert", "query": query, "overall_state": state,
        "message": "Error rate is high. @pagerduty-checkout", "tags": ["service:checkout", "team:pay"],
        "priority": 2, "multi": bool(groups), "created": "2024-01-02T03:04:05.000000+00:00",
        "modified": stamp(at(-86400)), "creator": {"email": "sre@example.com", "handle": "sre",
                                                    "name": "SRE"},
        "options": {"thresholds": {"critical": 50.0, "warning": 30.0}, "notify_no_data": False},
        "org_id": 4242, "overall_state_modified": stamp(at(1860)),
        "state": {"groups": {name_: {"name": name_, "status": status, "last_triggered_ts":
                                     int(when.timestamp()), "last_notified_ts": int(when.timestamp()),
                                     "last_resolved_ts": int((when - timedelta(days=1)).timestamp()),
                                     "last_nodata_ts": 0}
                             for name_, (status, when) in groups.items()}},
    }


def app_key(name: str, last4: str, scopes: list[str] | None) -> dict[str, Any]:
    """A `PartialApplicationKey` of the current user."""
    return {"type": "application_keys", "id": f"id-{name}", "attributes": {
        "name": name, "last4": last4, "scopes": scopes, "created_at": "2024-01-01T00:00:00.000Z",
        "last_used_at": None}}


CHECKOUT_ERRORS = [log(at(300 + 60 * i), f"connection refused by db-{i % 3} after {30 + i}ms", "error",
                       db={"pool": "primary", "wait_ms": 30 + i}) for i in range(12)]
LOGS = [
    log(at(-600), "before the window", "error"),
    *CHECKOUT_ERRORS,
    *[log(at(150 + 120 * i), f"request served in {10 + i}ms") for i in range(6)],
    *[log(at(900 + 60 * i), "card declined by issuer", "warn", service="payments") for i in range(3)],
    log(at(2400), "x" * 5000, "error", service="bulky"),
    log(at(4200), "after the window", "error"),
]
EVENTS = [
    event(at(-7200), "Deployed checkout 1.4.0", ["deploy", "service:checkout", "version:1.4.0"]),
    event(at(1200), "Deployed checkout 1.4.2", ["deploy", "service:checkout", "version:1.4.2",
                                                f"git.commit.sha:{COMMIT}"], "%%% diff %%%", "checkout"),
    event(at(1800), "[Triggered] checkout error rate", ["monitor", "service:checkout"],
          source="monitor alert", status="error"),
    event(at(2400), "Deployed payments 7.0.1", ["deploy", "service:payments", "version:7.0.1"]),
    event(at(3000), "Deployed checkout 1.4.3", ["deploy", "service:checkout", "version:1.4.3"]),
]


def seed(fake: FakeDatadog) -> FakeDatadog:
    """Fill the fake with the shared data set (times relative to `T0`)."""
    fake.logs = list(LOGS)
    fake.events = list(EVENTS)
    minutes = [T0 + timedelta(minutes=m) for m in range(61)]
    fake.series = {
        ERRORS_QUERY: [series(ERRORS_QUERY, "trace.http.request.errors", "service:checkout",
                              [(t, None if i == 10 else (40.0 if i >= 30 else 1.0))
                               for i, t in enumerate(minutes)])],
        CPU_QUERY: [series(f"avg:system.cpu.user{{env:prod,host:{h}}}", "system.cpu.user",
                           f"env:prod,host:{h}", [(t, base + i % 3) for i, t in enumerate(minutes)],
                           "avg") for h, base in (("a", 20.0), ("b", 60.0))],
        PROBE_QUERY: [series(PROBE_QUERY, "datadog.estimated_usage.hosts", "*", [(T0, 3.0)], "avg")],
    }
    fake.monitors = {
        MONITOR_ID: monitor(MONITOR_ID, "checkout error rate",
                            f"sum(last_5m):{ERRORS_QUERY} > 50", "Alert",
                            {"env:prod,service:checkout": ("Alert", at(1860)),
                             "env:staging,service:checkout": ("OK", at(-90000))}),
        777: monitor(777, "quiet", "avg(last_5m):avg:system.cpu.user{*} > 90", "OK", {}),
    }
    fake.app_keys = [app_key("someone-else", "zzzz", None),
                     app_key("sre-triage", APP_KEY[-4:], ["logs_read_data", "timeseries_query"])]
    return fake


def write_secrets(directory: Path, api_key: str = API_KEY, app_key_: str = APP_KEY) -> dict[str, Any]:
    """Secret files for the keys, as `{file: ...}` references."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dd_api").write_text(api_key + "\n")
    (directory / "dd_app").write_text(app_key_ + "\n")
    return {"api_key": {"file": str(directory / "dd_api")}, "app_key": {"file": str(directory / "dd_app")}}


def make(fake: FakeDatadog, secrets: dict[str, Any], **settings: Any) -> DatadogConnector:
    """A connector on the fake, through `build_connector` as triage.yaml would make it."""
    raw = {"type": "datadog", "site": "datadoghq.eu", "base_url": fake.url, "timeout_seconds": 2.0,
           **secrets, **settings}
    built = build_connector("dd", raw, Path("."))
    assert isinstance(built, DatadogConnector)
    return built
