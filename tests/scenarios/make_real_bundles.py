"""Generate the bundles whose key evidence exists only in a running database
(`python -m tests.scenarios.make_real_bundles`): each stages sessions in `db_activity.yaml`, so it
replays only through `triage eval --backends real` (skipped, with the reason, under `files`).

`orders-pool-leak`: the refund worker opens a transaction per batch and, on one code path, never
ends it; its sessions sit `idle in transaction`, the orders pool's in-use gauge reaches its limit
and requests wait for a connection. The logs say the pool is exhausted; only the database says
who holds it (the application name) and after which statement.

`orders-batch-lock-contention`: the nightly reconcile batch runs one long `UPDATE` and keeps its
transaction open; payment writes on the same rows queue behind it until requests time out. The
logs hold only 504 access lines and the metrics only latency and errors: the blocking tree in
`pg_locks` is the evidence that names the batch job and its statement.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.synth import AT, Deploy, Incident, Shift, write_bundle

BUNDLES = Path(__file__).parent / "bundles"
LEAKING_APP = "orders-refund-worker"
LEAKED_STATEMENT = "SELECT id, total FROM orders WHERE status = 'refund_pending' ORDER BY id LIMIT 50"
BATCH_APP = "nightly-reconcile"
BATCH_STATEMENT = "UPDATE orders SET status = 'reconciling' WHERE created_at < '2026-10-14 09:00:00+00'"
OLD_DEPLOY = Deploy(3 * 24 * 60, "aaaa1111bbbb2222cccc3333dddd4444eeee5555", "kim",
                    "Add export job")

POOL_LEAK = Incident(
    name="orders-pool-leak", service="orders", source="pagerduty",
    description="The refund worker leaks database sessions idle in transaction; the orders "
                "connection pool is at its limit and requests wait for a connection. Who holds "
                "the connections is only visible in the running database.",
    alert_title="orders: database connection pool exhausted", alert_at=AT,
    onset_minutes_before=14,
    incident_errors=[("could not serve POST /api/orders/{n}/refund: waiting for a connection "
                      "from the pool (20/20 in use) for {s}s", 0.12)],
    metrics={"http_requests_total": Shift(300, 304), "http_latency_p99_ms": Shift(180, 3100, 0.1),
             "db_pool_in_use": Shift(6, 20, 0.0), "db_pool_max": Shift(20, 20, 0.0)},
    deploys=[OLD_DEPLOY],
    expectations={"top_category": "resource-exhaustion", "blames_commit": False,
                  "report_contains": [LEAKING_APP, LEAKED_STATEMENT, "idle in transaction"]},
    seed=11,
)

LOCK_CONTENTION = Incident(
    name="orders-batch-lock-contention", service="orders", source="alertmanager",
    description="A nightly reconcile batch keeps its UPDATE's transaction open; payment writes on "
                "the same rows queue behind its row locks and time out. Only the database's "
                "lock graph names the batch job and its statement.",
    alert_title="OrdersPaymentsStalled: orders payment writes stalled on the database",
    alert_at=AT, onset_minutes_before=11,
    incident_errors=[("POST /api/orders/{n}/pay 504 in 30000ms", 0.15)],
    metrics={"http_requests_total": Shift(300, 302), "http_latency_p99_ms": Shift(180, 2900, 0.1),
             "http_errors_total": Shift(1, 45, 0.2)},
    deploys=[OLD_DEPLOY],
    expectations={"top_category": "db-contention", "blames_commit": False,
                  "report_contains": [BATCH_APP, BATCH_STATEMENT]},
    seed=12,
)


def db_sql(rows: int = 200) -> str:
    """The orders table (SQL that SQLite and PostgreSQL both accept), one order a minute."""
    lines = ["CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL, "
             "status text NOT NULL, total numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);"]
    statuses = ["paid", "paid", "refund_pending", "paid", "shipped"]
    for n in range(1, rows + 1):
        at = (AT - timedelta(minutes=rows - n)).strftime("%Y-%m-%d %H:%M:%S+00")
        lines.append(f"INSERT INTO orders VALUES ({n}, {4700 + n % 37}, '{statuses[n % 5]}', "
                     f"{10 + n % 90}.50, '{at}');")
    return "\n".join(lines) + "\n"


ACTIVITY: dict[str, dict[str, Any]] = {
    POOL_LEAK.name: {
        # past the diagnostics' 30 s threshold for "idle in transaction"
        "idle_for": "35s",
        "sessions": [{"application_name": LEAKING_APP, "count": 8, "statement": LEAKED_STATEMENT}],
    },
    LOCK_CONTENTION.name: {
        "sessions": [
            {"application_name": BATCH_APP, "statement": BATCH_STATEMENT},
            *({"application_name": "orders-api", "wait": True, "lock_timeout": "300s",
               "statement": f"UPDATE orders SET status = 'paid' WHERE id = {n}"} for n in (7, 8, 9)),
        ],
    },
}


def write(incident: Incident, root: Path = BUNDLES) -> Path:
    """The synthetic bundle plus `db.sql`, `db_activity.yaml` and a database connector."""
    folder = write_bundle(incident, root)
    (folder / "db.sql").write_text(db_sql(), encoding="utf-8")
    (folder / "db_activity.yaml").write_text(
        yaml.safe_dump(ACTIVITY[incident.name], sort_keys=False), encoding="utf-8")
    path = folder / "scenario.yaml"
    scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
    scenario["config"]["connectors"]["orders_db"] = {"type": "sqlite", "path": "db.sqlite"}
    scenario["config"]["services"][0]["connectors"].append("orders_db")
    scenario["requires"] = "real"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return folder


if __name__ == "__main__":
    for each in (POOL_LEAK, LOCK_CONTENTION):
        print(write(each))
