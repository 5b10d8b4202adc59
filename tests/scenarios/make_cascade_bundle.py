"""Generate the cascade bundle (`python -m tests.scenarios.make_cascade_bundle`).

`checkout` pages: its calls to `ledger` (on `ledger-svc.internal`) time out. Nothing in
checkout's own logs, metrics or deploys says why: `ledger` ran out of heap warming its entry
cache, was OOM-killed and restarted cold, and keeps missing its cache. The cause is only in
ledger's logs and metrics, so a correct triage follows checkout's errors one hop to ledger and
names ledger's resource exhaustion, with the path in the report.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.synth import Incident, alert

NAME = "checkout-ledger-oom-cascade"
AT = datetime(2026, 10, 21, 14, 0, tzinfo=UTC)
START, END = AT - timedelta(minutes=100), AT + timedelta(minutes=10)
LEDGER_OOM = AT - timedelta(minutes=13)  # ledger's heap fills, it is killed and restarts cold
CHECKOUT_ONSET = LEDGER_OOM + timedelta(minutes=1)  # checkout's calls start to time out
LEDGER_HOST = "ledger-svc.internal"

CHECKOUT_INFO = ["GET /api/cart/{n} 200 in {ms}ms", "POST /api/checkout 201 in {ms}ms order={n}",
                 "payment authorised order={n}", "worker heartbeat ok pid={n}"]
CHECKOUT_ERRORS = [
    (f"POST http://{LEDGER_HOST}:8080/v1/entries timed out after 5s request_id={{hex}}", 0.22),
    (f"ledger call failed: upstream={LEDGER_HOST}:8080 status=503 order={{n}}", 0.06),
]
CHECKOUT_BASELINE_ERROR = "payment gateway slow: POST https://pay.example/v2/charge took {ms}ms"
LEDGER_INFO = ["GET /v1/entries/{n} 200 in {ms}ms", "POST /v1/entries 201 in {ms}ms",
               "entry cache hit ratio 0.9{d}", "gc pause {d}ms (young)"]
LEDGER_ERRORS = [
    ("java.lang.OutOfMemoryError: Java heap space at EntryCache.warm(EntryCache.java:{d}{d})", 0.08),
    ("container ledger OOMKilled: memory limit 2Gi exceeded, restarting", 0.02),
]
LEDGER_WARNINGS = [("entry cache miss for account {n}: loaded from postgres in {ms}ms", 0.35)]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1000, 99999), ms=rng.randint(5, 900), d=rng.randint(0, 9),
                           hex=f"{rng.getrandbits(48):012x}")


def _pick(roll: float, choices: list[tuple[str, float]]) -> str | None:
    for template, share in choices:
        if roll < share:
            return template
        roll -= share
    return None


def checkout_logs(rng: random.Random) -> list[dict[str, Any]]:
    """Steady traffic; from the onset about 28% of lines are failed calls to ledger."""
    lines, t = [], START
    while t < END:
        t += timedelta(seconds=rng.uniform(0.2, 5.8))
        level, message = "info", _fill(rng.choice(CHECKOUT_INFO), rng)
        roll = rng.random()
        failing = _pick(roll, CHECKOUT_ERRORS) if t >= CHECKOUT_ONSET else None
        if failing:
            level, message = "error", _fill(failing, rng)
        elif t < CHECKOUT_ONSET and roll < 0.01:
            level, message = "error", _fill(CHECKOUT_BASELINE_ERROR, rng)
        lines.append({"timestamp": _iso(t), "service": "checkout", "host": f"checkout-{t.second % 3}",
                      "level": level, "message": message})
    return lines


def ledger_logs(rng: random.Random) -> list[dict[str, Any]]:
    """Steady; then out-of-memory errors, an OOM kill and a cold cache that keeps missing."""
    lines, t = [], START
    while t < END:
        t += timedelta(seconds=rng.uniform(0.2, 5.8))
        level, message = "info", _fill(rng.choice(LEDGER_INFO), rng)
        if t >= LEDGER_OOM:
            roll = rng.random()
            error, warning = _pick(roll, LEDGER_ERRORS), _pick(roll - 0.1, LEDGER_WARNINGS)
            if error:
                level, message = "error", _fill(error, rng)
            elif warning:
                level, message = "warning", _fill(warning, rng)
        lines.append({"timestamp": _iso(t), "service": "ledger", "host": "ledger-0",
                      "level": level, "message": message})
    return lines


SERIES: dict[str, dict[str, tuple[float, float]]] = {
    "checkout": {"http_requests_total": (400, 405), "http_errors_total": (2, 110),
                 "http_latency_p99_ms": (210, 5100)},
    "ledger": {"http_requests_total": (380, 385), "jvm_memory_used_bytes": (1.1e9, 2.1e9),
               "process_restarts_total": (0.2, 6), "entry_cache_hit_ratio": (0.95, 0.08),
               "http_latency_p99_ms": (25, 2600)},
}


def metrics(rng: random.Random) -> list[list[object]]:
    """One point a minute per series; each service moves at its own onset."""
    rows: list[list[object]] = []
    t = START
    while t < END:
        for service, series in SERIES.items():
            onset = LEDGER_OOM if service == "ledger" else CHECKOUT_ONSET
            for name, (base, incident) in series.items():
                level = incident if t >= onset else base
                rows.append([_iso(t), name, round(level * (1 + rng.uniform(-0.05, 0.05)), 3),
                             service])
        t += timedelta(minutes=1)
    return rows


def deploys() -> list[dict[str, object]]:
    """Neither service deployed anywhere near the incident."""
    return [
        {"id": "dep-71", "service": "checkout", "commit": "c0ffee00aa11bb22cc33dd44ee55ff6677889900",
         "deployed_at": _iso(AT - timedelta(days=2)), "author": "mara",
         "description": "Copy changes on the order page", "files": ["web/order.html"]},
        {"id": "dep-72", "service": "ledger", "commit": "1edge5000aa11bb22cc33dd44ee55ff667788990",
         "deployed_at": _iso(AT - timedelta(days=3)), "author": "ivo",
         "description": "Warm the entry cache at start", "files": ["src/EntryCache.java"]},
    ]


def scenario() -> dict[str, Any]:
    """scenario.yaml: both services configured; nothing declares that checkout calls ledger."""
    connectors = ["logs", "metrics", "deploys"]
    return {
        "name": NAME,
        "description": "checkout's calls to ledger time out; ledger ran out of heap warming its "
                       "entry cache, was OOM-killed and restarted cold. The cause is only in "
                       "ledger's logs and metrics: triage must follow checkout's errors there.",
        "source": "pagerduty", "headers": {"x-webhook-id": f"{NAME}-1"},
        "incident_time": _iso(AT),
        "config": {
            "services": [
                {"name": "checkout", "match": {"pagerduty_service_ids": ["PCHECKO"]},
                 "connectors": connectors},
                {"name": "ledger", "hosts": [LEDGER_HOST], "connectors": connectors},
            ],
            "connectors": {"logs": {"type": "files_logs", "path": "logs.jsonl"},
                           "metrics": {"type": "files_metrics", "path": "metrics.csv"},
                           "deploys": {"type": "files_deploys", "path": "deploys.json"}},
        },
        "expectations": {"top_category": "resource-exhaustion", "blames_commit": False,
                         "report_contains": ["## Followed", "checkout → ledger",
                                             "OutOfMemoryError", LEDGER_HOST]},
    }


def write(root: Path) -> Path:
    """Write the bundle under `root`."""
    rng = random.Random(1721)
    folder = root / NAME
    folder.mkdir(parents=True, exist_ok=True)
    logs = sorted([*checkout_logs(rng), *ledger_logs(rng)], key=lambda line: line["timestamp"])
    (folder / "logs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in logs))
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "metric", "value", "service"])
        writer.writerows(metrics(rng))
    (folder / "deploys.json").write_text(json.dumps(deploys(), indent=2) + "\n")
    page = Incident(name=NAME, description="", service="checkout", source="pagerduty",
                    alert_title="Checkout 5xx error rate above 5% for 5 minutes", alert_at=AT,
                    onset_minutes_before=12, incident_errors=[], metrics={}, expectations={})
    (folder / "alert.json").write_text(json.dumps(alert(page), separators=(",", ":")))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario(), sort_keys=False,
                                                         allow_unicode=True))
    return folder


if __name__ == "__main__":
    print(write(Path(__file__).parent / "bundles"))
