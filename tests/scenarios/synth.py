"""A small, seeded generator of incident scenario bundles (see README, "Scenario bundles").

Each `Incident` describes the telemetry of one past incident: background log lines, the error
lines that begin at the onset, metric series that shift, deploys, and the alert as its source
delivered it. `write_bundle` renders it into a bundle folder that `triage eval` replays.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

BACKGROUND = [
    "GET /api/{svc}/{n} 200 in {ms}ms",
    "POST /api/{svc} 201 in {ms}ms request_id={hex}",
    "cache hit ratio 0.{n2}",
    "worker heartbeat ok pid={n}",
]


@dataclass
class Shift:
    """A metric that sits at `base` and moves to `incident` at the onset."""

    base: float
    incident: float
    noise: float = 0.05


@dataclass
class Deploy:
    """A deploy `minutes_before` the alert."""

    minutes_before: float
    commit: str
    author: str
    description: str
    files: list[str] = field(default_factory=list)


@dataclass
class Incident:
    """Everything needed to synthesise one bundle."""

    name: str
    description: str
    service: str
    source: str
    alert_title: str
    alert_at: datetime
    onset_minutes_before: float
    incident_errors: list[tuple[str, float]]  # (template, share of lines after the onset)
    metrics: dict[str, Shift]
    expectations: dict[str, Any]
    baseline_errors: list[str] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    lines_per_minute: int = 20
    seed: int = 7

    @property
    def onset(self) -> datetime:
        """When the symptoms begin."""
        return self.alert_at - timedelta(minutes=self.onset_minutes_before)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _fill(template: str, rng: random.Random, service: str) -> str:
    return template.format(svc=service, n=rng.randint(1000, 99999), n2=rng.randint(10, 99),
                           ms=rng.randint(5, 900), hex=f"{rng.getrandbits(48):012x}",
                           s=rng.randint(2, 30))


def logs(incident: Incident, rng: random.Random) -> list[dict[str, str]]:
    """Background info lines, rare baseline errors, then the incident's errors from the onset."""
    start, end = incident.alert_at - timedelta(minutes=80), incident.alert_at + timedelta(minutes=10)
    lines, t = [], start
    mean_gap = 60 / incident.lines_per_minute
    while t < end:
        t += timedelta(seconds=rng.uniform(0.2, 2 * mean_gap))
        level, message = "info", _fill(rng.choice(BACKGROUND), rng, incident.service)
        roll = rng.random()
        if t >= incident.onset:
            for template, share in incident.incident_errors:
                if roll < share:
                    level, message = "error", _fill(template, rng, incident.service)
                    break
                roll -= share
        elif incident.baseline_errors and roll < 0.01:
            level, message = "error", _fill(rng.choice(incident.baseline_errors), rng, incident.service)
        lines.append({"timestamp": _iso(t), "service": incident.service, "level": level,
                      "message": message})
    return lines


def metrics(incident: Incident, rng: random.Random) -> list[list[object]]:
    """One point a minute per metric."""
    rows: list[list[object]] = []
    t = incident.alert_at - timedelta(minutes=80)
    while t < incident.alert_at + timedelta(minutes=10):
        for name, shift in incident.metrics.items():
            level = shift.incident if t >= incident.onset else shift.base
            value = level * (1 + rng.uniform(-shift.noise, shift.noise))
            rows.append([_iso(t), name, round(value, 3), incident.service])
        t += timedelta(minutes=1)
    return rows


def deploys(incident: Incident) -> list[dict[str, object]]:
    """The deploy history."""
    return [{"id": f"dep-{i}", "service": incident.service, "commit": d.commit,
             "deployed_at": _iso(incident.alert_at - timedelta(minutes=d.minutes_before)),
             "author": d.author, "description": d.description, "files": d.files}
            for i, d in enumerate(incident.deploys, 1)]


def alert(incident: Incident) -> dict[str, Any]:
    """The alert body exactly as the source would deliver it."""
    at = _iso(incident.alert_at)
    if incident.source == "alertmanager":
        labels = {"alertname": incident.alert_title.split(":")[0].replace(" ", ""),
                  "service": incident.service, "severity": "critical"}
        return {"version": "4", "status": "firing", "receiver": "triage",
                "groupKey": f'{{}}:{{service="{incident.service}"}}', "truncatedAlerts": 0,
                "groupLabels": {"service": incident.service}, "commonLabels": labels,
                "commonAnnotations": {"summary": incident.alert_title},
                "externalURL": "http://alertmanager.example:9093",
                "alerts": [{"status": "firing", "labels": labels,
                            "annotations": {"summary": incident.alert_title},
                            "startsAt": at, "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus.example:9090/graph",
                            "fingerprint": hashlib.sha256(incident.name.encode()).hexdigest()[:16]}]}
    if incident.source == "datadog":
        millis = str(int(incident.alert_at.timestamp() * 1000))
        return {"id": "7360522491735290001", "event_type": "query_alert_monitor",
                "title": f"[Triggered] {incident.alert_title}", "date": millis,
                "last_updated": millis, "tags": f"monitor, service:{incident.service}, env:prod",
                "service": incident.service, "env": "prod", "alert_id": "221160001",
                "alert_cycle_key": "7360522488811070001", "alert_transition": "Triggered",
                "alert_type": "error", "alert_priority": "P2", "alert_title": incident.alert_title,
                "alert_query": "avg(last_5m):avg:trace.http.request.duration{env:prod}",
                "alert_scope": f"env:prod, service:{incident.service}",
                "link": "https://app.datadoghq.com/event/jump_to?event_id=7360522491735290001"}
    incident_id = "Q" + hashlib.sha256(incident.name.encode()).hexdigest()[:9].upper()
    return {"event": {"id": f"01{incident_id}EVENT", "event_type": "incident.triggered",
                      "resource_type": "incident", "occurred_at": at, "agent": None, "client": None,
                      "data": {"id": incident_id, "type": "incident", "number": 77,
                               "status": "triggered", "created_at": at, "urgency": "high",
                               "title": incident.alert_title,
                               "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                               "service": {"id": f"P{incident.service.upper()[:6]}",
                                           "type": "service_reference",
                                           "summary": incident.service.title()}}}}


def scenario(incident: Incident) -> dict[str, Any]:
    """scenario.yaml."""
    match: dict[str, Any] = ({"pagerduty_service_ids": [f"P{incident.service.upper()[:6]}"]}
                             if incident.source == "pagerduty" else {})
    return {
        "name": incident.name, "description": incident.description, "source": incident.source,
        "headers": {"x-webhook-id": f"{incident.name}-1"} if incident.source == "pagerduty" else {},
        "incident_time": _iso(incident.alert_at),
        "config": {
            "services": [{"name": incident.service, "match": match,
                          "connectors": ["logs", "metrics", "deploys"]}],
            "connectors": {"logs": {"type": "files_logs", "path": "logs.jsonl"},
                           "metrics": {"type": "files_metrics", "path": "metrics.csv"},
                           "deploys": {"type": "files_deploys", "path": "deploys.json"}},
        },
        "expectations": incident.expectations,
    }


def write_bundle(incident: Incident, root: Path) -> Path:
    """Render `incident` into `root/<name>`."""
    rng = random.Random(incident.seed)
    folder = root / incident.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in logs(incident, rng)))
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "metric", "value", "service"])
        writer.writerows(metrics(incident, rng))
    (folder / "deploys.json").write_text(json.dumps(deploys(incident), indent=2) + "\n")
    (folder / "alert.json").write_text(json.dumps(alert(incident), separators=(",", ":")))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario(incident), sort_keys=False))
    return folder


AT = datetime(2026, 10, 14, 9, 30, tzinfo=UTC)
INCIDENTS = [
    Incident(
        name="search-bad-deploy", service="search", source="alertmanager",
        description="A deploy of the search service adds locale-aware ranking; requests without "
                    "a locale now raise KeyError.",
        alert_title="SearchErrorRate: search 5xx ratio above 2%", alert_at=AT,
        onset_minutes_before=9,
        incident_errors=[("KeyError: 'locale' in search/rank.py:88 request_id={hex}", 0.2)],
        baseline_errors=["slow query to index shard {n} took {ms}ms"],
        metrics={"http_requests_total": Shift(600, 610), "http_errors_total": Shift(2, 120, 0.2),
                 "http_latency_p99_ms": Shift(140, 150)},
        deploys=[Deploy(30 * 60, "1111111aaaaaaa2222222bbbbbbb3333333ccccc", "ana", "Tune shard cache"),
                 Deploy(10, "7d1e0c5b9a8f7e6d5c4b3a2918273645ab1c2d3e", "raj",
                        "Locale-aware ranking", ["search/rank.py"])],
        expectations={"top_category": "bad-deploy",
                      "culprit_commit": "7d1e0c5b9a8f7e6d5c4b3a2918273645ab1c2d3e",
                      "report_contains": ["KeyError", "search/rank.py"]},
    ),
    Incident(
        name="orders-db-lock-contention", service="orders", source="datadog",
        description="A long-running batch job holds row locks on the orders table; API writes "
                    "time out waiting for locks and latency climbs. No recent deploy.",
        alert_title="orders p99 latency above 2s", alert_at=AT, onset_minutes_before=12,
        incident_errors=[
            ("psycopg.errors.LockNotAvailable: canceling statement due to lock timeout "
             "(UPDATE orders SET status = ... WHERE id = {n})", 0.15),
            ("could not obtain lock on row in relation \"orders\" after {s}s", 0.05)],
        metrics={"http_requests_total": Shift(300, 305), "http_latency_p99_ms": Shift(180, 2400, 0.1),
                 "db_lock_wait_seconds": Shift(0.02, 4.5, 0.1)},
        deploys=[Deploy(3 * 24 * 60, "aaaa1111bbbb2222cccc3333dddd4444eeee5555", "kim", "Add export job")],
        expectations={"top_category": "db-contention", "report_contains": ["lock timeout"]},
    ),
    Incident(
        name="payments-dependency-timeout", service="payments", source="pagerduty",
        description="The external card processor degrades: charge calls time out and the "
                    "service's latency and error rate rise. Nothing changed on our side.",
        alert_title="Payments error budget burn rate critical", alert_at=AT, onset_minutes_before=10,
        incident_errors=[("upstream request POST https://api.cardproc.example/v1/charges timed out "
                          "after {s}s request_id={hex}", 0.25)],
        metrics={"http_requests_total": Shift(220, 225), "http_errors_total": Shift(1, 55, 0.2),
                 "upstream_latency_p99_ms": Shift(350, 10000, 0.05)},
        expectations={"top_category": "dependency-failure", "report_contains": ["cardproc"]},
    ),
    Incident(
        name="catalog-traffic-surge", service="catalog", source="alertmanager",
        description="A marketing push quadruples catalog traffic; the worker pool saturates and "
                    "latency rises. No code change is to blame.",
        alert_title="CatalogLatency: catalog p99 latency above 1s", alert_at=AT,
        onset_minutes_before=11,
        incident_errors=[("worker pool saturated: 64/64 busy, request queued for {ms}ms", 0.08)],
        metrics={"http_requests_total": Shift(400, 1650, 0.05),
                 "http_latency_p99_ms": Shift(120, 1300, 0.1)},
        deploys=[Deploy(26 * 60, "feedfacecafebeef0123456789abcdef01234567", "lee", "Copy changes")],
        expectations={"top_category": "traffic-surge", "report_contains": ["http_requests_total"]},
    ),
    Incident(
        name="inventory-false-alarm", service="inventory", source="pagerduty",
        description="A flapping synthetic check pages, but logs and metrics are steady: the "
                    "brain should say the evidence is too weak rather than guess.",
        alert_title="Inventory synthetic check failed", alert_at=AT, onset_minutes_before=5,
        incident_errors=[],
        baseline_errors=["synthetic probe {n} took {ms}ms"],
        metrics={"http_requests_total": Shift(150, 152), "http_latency_p99_ms": Shift(90, 92)},
        expectations={"abstains": True, "report_contains": ["too weak to name a cause"]},
    ),
]


if __name__ == "__main__":
    for each in INCIDENTS:
        print(write_bundle(each, Path(__file__).parent / "bundles"))
