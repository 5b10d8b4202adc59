"""Generate the cascade bundles (`python -m tests.scenarios.make_cascade_bundle`).

In each, the alerted service's calls to another service fail, and nothing in the alerted
service's own logs, metrics or deploys says why: the cause is only in the called service's
telemetry, so a correct triage follows the alerted service's errors one hop and names the cause
there, with the path in the report.

- checkout-ledger-oom-cascade: `ledger` (on `ledger-svc.internal`) ran out of heap warming its
  entry cache, was OOM-killed and restarted cold, and keeps missing its cache;
- orders-inventory-deploy-cascade: a deploy of `inventory` breaks stock reservations; `orders`
  only sees 500s from `inventory:8081`.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.synth import Incident, alert

Templates = list[tuple[str, float]]  # (template, share of lines after the onset)


@dataclass
class Cascade:
    """Two services: `caller` pages, `callee` holds the cause (starting a minute earlier)."""

    name: str
    description: str
    caller: str
    callee: str
    alert_title: str
    alert_at: datetime
    caller_info: list[str]
    caller_errors: Templates
    callee_info: list[str]
    callee_errors: Templates
    series: dict[str, dict[str, tuple[float, float]]]
    deploys: list[dict[str, object]]
    expectations: dict[str, Any]
    callee_config: dict[str, Any] = field(default_factory=dict)
    callee_warnings: Templates = field(default_factory=list)
    caller_baseline_error: str = "payment gateway slow: POST https://pay.example/v2/charge took {ms}ms"
    onset_minutes_before: int = 13
    seed: int = 1721

    @property
    def onset(self) -> datetime:
        """When the callee breaks (the caller's calls fail a minute later)."""
        return self.alert_at - timedelta(minutes=self.onset_minutes_before)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1000, 99999), ms=rng.randint(5, 900), d=rng.randint(0, 9),
                           hex=f"{rng.getrandbits(48):012x}")


def _pick(roll: float, choices: Templates) -> str | None:
    for template, share in choices:
        if roll < share:
            return template
        roll -= share
    return None


def service_logs(case: Cascade, service: str, rng: random.Random) -> list[dict[str, Any]]:
    """Steady info lines; from the service's onset its error (and warning) templates."""
    caller = service == case.caller
    info = case.caller_info if caller else case.callee_info
    errors = case.caller_errors if caller else case.callee_errors
    warnings = [] if caller else case.callee_warnings
    onset = case.onset + timedelta(minutes=1) if caller else case.onset
    start, end = case.alert_at - timedelta(minutes=100), case.alert_at + timedelta(minutes=10)
    lines, t = [], start
    while t < end:
        t += timedelta(seconds=rng.uniform(0.2, 5.8))
        level, message = "info", _fill(rng.choice(info), rng)
        roll = rng.random()
        if t >= onset:
            error, warning = _pick(roll, errors), _pick(roll - 0.1, warnings)
            if error:
                level, message = "error", _fill(error, rng)
            elif warning:
                level, message = "warning", _fill(warning, rng)
        elif caller and roll < 0.01:
            level, message = "error", _fill(case.caller_baseline_error, rng)
        lines.append({"timestamp": _iso(t), "service": service, "host": f"{service}-{t.second % 3}",
                      "level": level, "message": message})
    return lines


def metrics(case: Cascade, rng: random.Random) -> list[list[object]]:
    """One point a minute per series; each service moves at its own onset."""
    rows: list[list[object]] = []
    t = case.alert_at - timedelta(minutes=100)
    while t < case.alert_at + timedelta(minutes=10):
        for service, series in case.series.items():
            onset = case.onset if service == case.callee else case.onset + timedelta(minutes=1)
            for name, (base, incident) in series.items():
                level = incident if t >= onset else base
                rows.append([_iso(t), name, round(level * (1 + rng.uniform(-0.05, 0.05)), 3),
                             service])
        t += timedelta(minutes=1)
    return rows


def scenario(case: Cascade) -> dict[str, Any]:
    """scenario.yaml: both services configured; nothing declares that one calls the other."""
    connectors = ["logs", "metrics", "deploys"]
    return {
        "name": case.name, "description": case.description, "source": "pagerduty",
        "headers": {"x-webhook-id": f"{case.name}-1"}, "incident_time": _iso(case.alert_at),
        "config": {
            "services": [
                {"name": case.caller,
                 "match": {"pagerduty_service_ids": [f"P{case.caller.upper()[:6]}"]},
                 "connectors": connectors},
                {"name": case.callee, **case.callee_config, "connectors": connectors},
            ],
            "connectors": {"logs": {"type": "files_logs", "path": "logs.jsonl"},
                           "metrics": {"type": "files_metrics", "path": "metrics.csv"},
                           "deploys": {"type": "files_deploys", "path": "deploys.json"}},
        },
        "expectations": case.expectations,
    }


def write(case: Cascade, root: Path) -> Path:
    """Write one bundle under `root`."""
    rng = random.Random(case.seed)
    folder = root / case.name
    folder.mkdir(parents=True, exist_ok=True)
    logs = sorted([*service_logs(case, case.caller, rng), *service_logs(case, case.callee, rng)],
                  key=lambda line: str(line["timestamp"]))
    (folder / "logs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in logs))
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "metric", "value", "service"])
        writer.writerows(metrics(case, rng))
    (folder / "deploys.json").write_text(json.dumps(case.deploys, indent=2) + "\n")
    page = Incident(name=case.name, description="", service=case.caller, source="pagerduty",
                    alert_title=case.alert_title, alert_at=case.alert_at,
                    onset_minutes_before=case.onset_minutes_before, incident_errors=[],
                    metrics={}, expectations={})
    (folder / "alert.json").write_text(json.dumps(alert(page), separators=(",", ":")))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario(case), sort_keys=False,
                                                         allow_unicode=True))
    return folder


def _deploy(ident: str, service: str, commit: str, at: datetime, author: str, what: str,
            files: list[str]) -> dict[str, object]:
    return {"id": ident, "service": service, "commit": commit, "deployed_at": _iso(at),
            "author": author, "description": what, "files": files}


OOM_AT = datetime(2026, 10, 21, 14, 0, tzinfo=UTC)
DEPLOY_AT = datetime(2026, 10, 22, 9, 30, tzinfo=UTC)
INVENTORY_COMMIT = "9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
CASCADES = [
    Cascade(
        name="checkout-ledger-oom-cascade", caller="checkout", callee="ledger",
        description="checkout's calls to ledger time out; ledger ran out of heap warming its "
                    "entry cache, was OOM-killed and restarted cold. The cause is only in "
                    "ledger's logs and metrics: triage must follow checkout's errors there.",
        alert_title="Checkout 5xx error rate above 5% for 5 minutes", alert_at=OOM_AT,
        caller_info=["GET /api/cart/{n} 200 in {ms}ms", "POST /api/checkout 201 in {ms}ms order={n}",
                     "payment authorised order={n}", "worker heartbeat ok pid={n}"],
        caller_errors=[
            ("POST http://ledger-svc.internal:8080/v1/entries timed out after 5s "
             "request_id={hex}", 0.22),
            ("ledger call failed: upstream=ledger-svc.internal:8080 status=503 order={n}", 0.06)],
        callee_info=["GET /v1/entries/{n} 200 in {ms}ms", "POST /v1/entries 201 in {ms}ms",
                     "entry cache hit ratio 0.9{d}", "gc pause {d}ms (young)"],
        callee_errors=[
            ("java.lang.OutOfMemoryError: Java heap space at "
             "EntryCache.warm(EntryCache.java:{d}{d})", 0.08),
            ("container ledger OOMKilled: memory limit 2Gi exceeded, restarting", 0.02)],
        callee_warnings=[("entry cache miss for account {n}: loaded from postgres in {ms}ms",
                          0.35)],
        callee_config={"hosts": ["ledger-svc.internal"]},
        series={"checkout": {"http_requests_total": (400, 405), "http_errors_total": (2, 110),
                             "http_latency_p99_ms": (210, 5100)},
                "ledger": {"http_requests_total": (380, 385),
                           "jvm_memory_used_bytes": (1.1e9, 2.1e9),
                           "process_restarts_total": (0.2, 6),
                           "entry_cache_hit_ratio": (0.95, 0.08),
                           "http_latency_p99_ms": (25, 2600)}},
        deploys=[
            _deploy("dep-71", "checkout", "c0ffee00aa11bb22cc33dd44ee55ff6677889900",
                    OOM_AT - timedelta(days=2), "mara", "Copy changes on the order page",
                    ["web/order.html"]),
            _deploy("dep-72", "ledger", "1edge5000aa11bb22cc33dd44ee55ff667788990",
                    OOM_AT - timedelta(days=3), "ivo", "Warm the entry cache at start",
                    ["src/EntryCache.java"])],
        expectations={"top_category": "resource-exhaustion", "blames_commit": False,
                      "report_contains": ["## Followed", "checkout → ledger", "OutOfMemoryError",
                                          "ledger-svc.internal"]},
    ),
    Cascade(
        name="orders-inventory-deploy-cascade", caller="orders", callee="inventory",
        description="A deploy of inventory breaks stock reservations (a new TypeError); orders "
                    "only sees 500s from inventory:8081, and its own last deploy is a day old. "
                    "The cause and the culprit are in inventory's logs and deploys.",
        alert_title="Orders error budget burn rate critical", alert_at=DEPLOY_AT,
        onset_minutes_before=11, seed=2207,
        caller_info=["POST /api/orders 201 in {ms}ms order={n}", "GET /api/orders/{n} 200 in {ms}ms",
                     "order {n} confirmed", "worker heartbeat ok pid={n}"],
        caller_errors=[("reserve stock failed: POST http://inventory:8081/v2/reservations "
                        "returned 500 request_id={hex}", 0.18),
                       ("order {n} rejected: inventory unavailable (upstream error)", 0.04)],
        callee_info=["POST /v2/reservations 201 in {ms}ms", "GET /v2/stock/{n} 200 in {ms}ms",
                     "stock snapshot refreshed in {ms}ms"],
        callee_errors=[("TypeError: 'NoneType' object is not subscriptable in "
                        "reservations.reserve() sku={n}", 0.2)],
        series={"orders": {"http_requests_total": (300, 304), "http_errors_total": (1, 60),
                           "http_latency_p99_ms": (180, 260)},
                "inventory": {"http_requests_total": (280, 284),
                              "http_errors_total": (0.5, 58),
                              "http_latency_p99_ms": (40, 45)}},
        deploys=[
            _deploy("dep-301", "orders", "0a0b0c0d0e0f1011121314151617181920212223",
                    DEPLOY_AT - timedelta(days=1), "sam", "Order confirmation copy",
                    ["orders/templates/confirm.txt"]),
            _deploy("dep-302", "inventory", "5a5b5c5d5e5f60616263646566676869707172ab",
                    DEPLOY_AT - timedelta(days=4), "ivo", "Stock snapshot cache",
                    ["inventory/snapshot.py"]),
            _deploy("dep-303", "inventory", INVENTORY_COMMIT,
                    DEPLOY_AT - timedelta(minutes=14), "noor",
                    "Reserve from the regional warehouse first",
                    ["inventory/reservations.py"])],
        expectations={"top_category": "bad-deploy", "culprit_commit": INVENTORY_COMMIT,
                      "blames_commit": True,
                      "report_contains": ["## Followed", "orders → inventory",
                                          "Reserve from the regional warehouse first",
                                          "inventory:8081"]},
    ),
]


if __name__ == "__main__":
    for each in CASCADES:
        print(write(each, Path(__file__).parent / "bundles"))
