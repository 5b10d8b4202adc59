"""Generate the demo bundle deterministically (`python -m tests.scenarios.make_bundles`).

The demo bundle ships inside the package (`triage/demo/`); keeping its generator here means the
data can be regenerated and reviewed rather than trusted as an opaque blob. Its `repo.bundle` is
the checkout service's history (`tests/scenarios/checkout_repo.py`): the deploys name its real
commits, and the failing requests in the logs are what its `repro.py` replays.
"""

from __future__ import annotations

import csv
import json
import random
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.scenarios import checkout_repo

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "triage" / "demo" / "checkout-bad-deploy"

ALERT_AT = datetime(2026, 11, 20, 13, 50, tzinfo=UTC)
DEPLOY_AT = ALERT_AT - timedelta(minutes=10)
START = ALERT_AT - timedelta(minutes=70)
END = ALERT_AT + timedelta(minutes=10)
_ORDER = re.compile(r"order=(\d+)")

INFO_MESSAGES = [
    "GET /api/cart/{cart} 200 in {ms}ms",
    "POST /api/checkout 200 in {ms}ms order={order}",
    "payment authorised for order={order} amount={amount}",
    "cache hit ratio {ratio}",
]
BASELINE_ERRORS = ["payment gateway slow: POST https://pay.example/v2/charge took {ms}ms"]
NEW_ERROR = ("TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and 'float' "
             "in cart.total() order={order}")


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _fill(template: str, rng: random.Random) -> str:
    return template.format(cart=rng.randint(10_000, 99_999), ms=rng.randint(8, 900),
                           order=rng.randint(100_000, 999_999), amount=f"{rng.uniform(5, 300):.2f}",
                           ratio=f"{rng.uniform(0.8, 0.99):.2f}")


def demo_logs(rng: random.Random) -> list[dict[str, object]]:
    """About 20 lines a minute; one slow-gateway error every ~10 min; after the deploy a new
    TypeError on roughly a third of checkouts."""
    lines = []
    t = START
    while t < END:
        t += timedelta(seconds=rng.uniform(1, 5))
        broken = t >= DEPLOY_AT + timedelta(minutes=1)
        roll = rng.random()
        request = None
        if broken and roll < 0.30:
            level, message = "error", _fill(NEW_ERROR, rng)
            request = _logged_request(message)
        elif roll < 0.006:
            level, message = "error", _fill(BASELINE_ERRORS[0], rng)
        else:
            level, message = "info", _fill(rng.choice(INFO_MESSAGES), rng)
        line: dict[str, object] = {"timestamp": _iso(t), "service": "checkout", "level": level,
                                   "message": message, "host": f"checkout-{rng.randint(1, 3)}"}
        lines.append(line if request is None else {**line, "request": request})
    return lines


def _logged_request(message: str) -> dict[str, object]:
    """The failing request the service logged with the error (its own seed: `rng` is untouched)."""
    match = _ORDER.search(message)
    assert match is not None
    order = int(match[1])
    return checkout_repo.failing_request(order, random.Random(order).randint(0, 99))


def demo_metrics(rng: random.Random) -> list[list[object]]:
    """Per-minute request and error counts and p99 latency."""
    rows: list[list[object]] = []
    t = START
    while t < END:
        broken = t >= DEPLOY_AT + timedelta(minutes=1)
        requests = rng.randint(380, 420)
        errors = int(requests * (0.31 if broken else 0.004) + rng.randint(0, 2))
        latency = rng.uniform(180, 230) + (15 if broken else 0)
        for metric, value in (("http_requests_total", requests), ("http_errors_total", errors),
                              ("http_latency_p99_ms", round(latency, 1))):
            rows.append([_iso(t), metric, value, "checkout"])
        t += timedelta(minutes=1)
    return rows


def demo_db(rng: random.Random) -> str:
    """Orders: failures jump after the deploy."""
    statements = ["CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, "
                  "status TEXT NOT NULL, total REAL NOT NULL);"]
    t, order = START, 1
    while t < END:
        t += timedelta(seconds=rng.uniform(5, 15))
        broken = t >= DEPLOY_AT + timedelta(minutes=1)
        status = "failed" if rng.random() < (0.3 if broken else 0.01) else "paid"
        statements.append(f"INSERT INTO orders VALUES ({order}, '{t.isoformat()}', '{status}', "
                          f"{rng.uniform(5, 300):.2f});")
        order += 1
    return "\n".join(statements) + "\n"


def demo_deploys(shas: dict[str, str]) -> list[dict[str, object]]:
    """The last good deploy and the bad one (six commits later), by the repository's SHAs."""
    return [
        {"id": "dep-1041", "service": "checkout", "commit": shas["good"],
         "deployed_at": _iso(ALERT_AT - timedelta(hours=26)), "author": "mara",
         "description": "Add order confirmation e-mail template", "files": ["checkout/mail.py"]},
        {"id": "dep-1042", "service": "checkout", "commit": shas["bad"],
         "previous_commit": shas["good"], "deployed_at": _iso(DEPLOY_AT), "author": "lee",
         "description": "Switch cart totals to Decimal",
         "files": ["README.md", "checkout/app.py", "checkout/cart.py", "checkout/shipping.py",
                   "tests/test_cart.py"]},
    ]


def demo_alert() -> dict[str, object]:
    """A PagerDuty V3 incident.triggered delivery for the checkout service."""
    incident = {
        "id": "Q1CHK0UT42", "type": "incident", "number": 4242, "status": "triggered",
        "self": "https://api.pagerduty.com/incidents/Q1CHK0UT42",
        "html_url": "https://acme.pagerduty.com/incidents/Q1CHK0UT42",
        "incident_key": "checkout-5xx-rate", "created_at": _iso(ALERT_AT),
        "title": "Checkout 5xx error rate above 5% for 5 minutes", "urgency": "high",
        "service": {"id": "PCHKOUT", "type": "service_reference", "summary": "Checkout API",
                    "self": "https://api.pagerduty.com/services/PCHKOUT",
                    "html_url": "https://acme.pagerduty.com/services/PCHKOUT"},
        "assignees": [], "priority": None, "conference_bridge": None, "resolve_reason": None,
    }
    return {"event": {"id": "01DEMOEVENT0000000000000001", "event_type": "incident.triggered",
                      "resource_type": "incident", "occurred_at": _iso(ALERT_AT),
                      "agent": None, "client": None, "data": incident}}


SCENARIO = """\
name: checkout-bad-deploy
description: >
  The checkout service's error rate jumps minutes after a deploy that switched cart totals to
  Decimal; a new TypeError appears in the logs and failed orders rise.
source: pagerduty
headers:
  x-webhook-id: demo-delivery-0001
incident_time: "{alert_at}"
config:
  services:
    - name: checkout
      match:
        pagerduty_service_ids: [PCHKOUT]
      repository: repo.bundle
      connectors: [logs, metrics, orders_db, deploys]
      repro:
        command: [python3, repro.py, --request, "{{request}}"]
        setup: [python3, -m, compileall, -q, checkout, repro.py]
        expect: "{expect}"
        timeout: 60
        setup_timeout: 120
        inputs:
          request: {{kind: logs, match: "TypeError: unsupported operand", field: request}}
      test:
        command: [python3, -m, unittest, -q]
        timeout: 120
      queries:
        - id: orders_by_status
          kind: database
          description: Orders per status in the window
          query: >-
            SELECT status, count(*) AS orders FROM orders
            WHERE created_at >= :start AND created_at < :end GROUP BY status ORDER BY status
  connectors:
    logs: {{type: files_logs, path: logs.jsonl}}
    metrics: {{type: files_metrics, path: metrics.csv}}
    orders_db: {{type: sqlite, path: db.sqlite}}
    deploys: {{type: files_deploys, path: deploys.json}}
  sandbox: local
expectations:
  top_category: bad-deploy
  culprit_commit: "{culprit}"
  repro_verdict: reproduced
  fix_verified: true
  report_contains:
    - "TypeError: unsupported operand type(s)"
    - "{bad_short}"
    - "Culprit commit"
"""


def write_demo() -> None:
    """Write the demo bundle."""
    rng = random.Random(4242)
    DEMO.mkdir(parents=True, exist_ok=True)
    (DEMO / "logs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in demo_logs(rng)))
    with (DEMO / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "metric", "value", "service"])
        writer.writerows(demo_metrics(rng))
    (DEMO / "db.sql").write_text(demo_db(rng))
    with tempfile.TemporaryDirectory(prefix="checkout-repo-") as tmp:
        history = checkout_repo.build(Path(tmp) / "checkout")
        history.bundle(DEMO / "repo.bundle")
    shas = history.shas
    (DEMO / "deploys.json").write_text(json.dumps(demo_deploys(shas), indent=2) + "\n")
    (DEMO / "alert.json").write_text(json.dumps(demo_alert(), separators=(",", ":")))
    (DEMO / "scenario.yaml").write_text(SCENARIO.format(
        alert_at=_iso(ALERT_AT), culprit=shas["culprit"], bad_short=shas["bad"][:12],
        expect=checkout_repo.EXPECTED_FAILURE))


if __name__ == "__main__":
    write_demo()
