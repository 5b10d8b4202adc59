"""Database contention: a backfill's WAL makes the read replica lag (reads miss fresh writes), and
a flash sale queues every buyer on one inventory row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc
from tests.scenarios.fresh.formats import counter, java_trace


def _pg(db: str, message: str, **fields: Any) -> dict[str, Any]:
    level = "error" if "ERROR" in message or "FATAL" in message else "info"
    return {
        "service": db,
        "level": level,
        "message": message,
        "logger": "postgresql",
        "db_instance": db,
        **fields,
    }


def replica_lag(ctx: Ctx) -> Incident:
    """A backfill floods WAL; the replica replays a minute behind and reads miss what was just written."""
    rng = ctx.rng
    name = rng.choice(["checkout-summary", "accounts-api", "address-book"])
    db = f"{name}-pg"
    svc = Svc.make(rng, name, "python", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(8, 25)
    rate = rng.uniform(400, 800)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/api/addresses"), ("GET", "/api/checkout/summary"), ("GET", "/healthz")],
        errors=flat(0.001),
        p99=flat(0.22),
    )
    tel.series(
        "django_http_responses_total_by_status_total",
        step(onset, rate * 0.002, rate * 0.07, ramp=4),
        noise=0.08,
        digits=0,
        service=name,
        status="422",
    )
    tel.series(
        "pg_replication_lag_seconds",
        lambda m: 0.2 if m < onset else min(95.0, 0.2 + 6 * (m - onset)),
        noise=0.05,
        service=db,
        instance=f"{db}-replica-1:9187",
    )
    counter(
        tel,
        "pg_stat_wal_bytes_total",
        step(onset - 2, 4e6, 2.2e8, ramp=2),
        9e12,
        service=db,
        instance=f"{db}-primary:9187",
    )
    tel.series(
        "aws_rds_write_iops_average",
        step(onset - 2, 300, 4800, ramp=2),
        digits=0,
        service=db,
        dbinstance_identifier=f"{db}-primary",
    )
    job = f"backfill-address-geohash-{rng.randrange(10**4, 10**5)}"
    tel.log(
        tel.at(onset - 2.2),
        {
            "service": name,
            "level": "info",
            "pod": job,
            "logger": "backfill",
            "message": "backfill started: UPDATE addresses SET geohash = ... batch_size=50000",
        },
    )
    tel.stream(
        step(onset - 2, 0, 1),
        lambda t: {
            "service": name,
            "level": "info",
            "pod": job,
            "logger": "backfill",
            "message": f"batch committed: {rng.randrange(49000, 50001)} rows, cursor "
            f"id>{rng.randrange(10**6, 10**8)}",
        },
    )

    def missing(t: datetime) -> dict[str, Any]:
        return svc.line(
            "WARNING",
            "Unprocessable Entity: /api/checkout/summary",
            logger="django.request",
            status_code=422,
            detail=f"shipping_address {rng.randrange(10**7, 10**8)} does not exist",
            user_id=rng.randrange(10**5, 10**6),
        )

    tel.stream(step(onset, 0, rate * 0.07 * 0.1, ramp=4), missing)
    tel.stream(
        step(onset + 3, 0, 0.5),
        lambda t: _pg(
            db,
            "ERROR:  canceling statement due to conflict with recovery",
            detail="User query might have needed to see row versions that must be removed.",
            instance=f"{db}-replica-1",
        ),
    )
    tel.stream(flat(0.2), lambda t: _pg(db, "LOG:  checkpoint starting: time", instance=f"{db}-primary"))
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"replica-lag-read-after-write-{ctx.seed}",
        service=name,
        truth="db-contention",
        description=f"A geohash backfill ({job}) writes 50k-row batches; WAL volume x50, the read replica's "
        "replay falls up to a minute and a half behind, and the summary (read from the replica) "
        "does not find "
        "the address the client created a second earlier: 422s.",
        alert=AlertSpec(
            "CheckoutSummary4xx",
            f"{name}: 422 responses above baseline",
            f"{name} 422 ratio 7% (baseline 0.2%)",
            "django_http_responses_total_by_status_total",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 60)),
        other_services=[{"name": db}],
    )


def hot_row(ctx: Ctx) -> Incident:
    """A flash sale's one SKU: every purchase updates the same inventory row and waits for its lock."""
    rng = ctx.rng
    name = rng.choice(["inventory-api", "drops-service", "stock-reservations"])
    db = f"{name}-postgres"
    svc = Svc.make(rng, name, "spring", replicas=6)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 10)
    rate = rng.uniform(600, 1100)
    sku = f"SKU-{rng.randrange(10**5, 10**6)}"
    traffic(
        tel,
        svc,
        step(onset, rate, rate * 1.5, ramp=1),
        [("POST", "/api/reservations"), ("GET", "/api/stock"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset + 1, 0, 0.14, ramp=2)),
        error_status=(500, 409),
        p99=step(onset, 0.09, 5.1, ramp=2),
    )
    tel.series(
        "pg_locks_count",
        step(onset, 3, 160, ramp=2),
        noise=0.06,
        digits=0,
        service=db,
        datname="inventory",
        mode="exclusivelock",
    )
    tel.series(
        "pg_stat_activity_count",
        step(onset, 2, 140, ramp=2),
        noise=0.06,
        digits=0,
        service=db,
        datname="inventory",
        state="active",
        wait_event_type="Lock",
    )
    tel.series("aws_rds_cpuutilization_average", step(onset, 25, 31), service=db, dbinstance_identifier=db)
    tel.series(
        "hikaricp_connections_active", step(onset, 6, 30, ramp=2), digits=0, service=name, pool="HikariPool-1"
    )
    tel.series("hikaricp_connections_max", flat(30), noise=0.0, digits=0, service=name, pool="HikariPool-1")
    tuple_ = f"({rng.randrange(0, 400)},{rng.randrange(1, 60)})"
    tel.stream(
        step(onset, 0, 14, ramp=2),
        lambda t: _pg(
            db,
            f"LOG:  process {rng.randrange(20000, 60000)} still waiting for ShareLock on transaction "
            f"{rng.randrange(10**7, 10**8)} after 1000.{rng.randrange(10, 999)} ms",
            context=f'while updating tuple {tuple_} in relation "inventory"',
            statement="UPDATE inventory SET available = available - $1 WHERE sku = $2 AND available >= $1",
        ),
    )
    trace = java_trace(
        "org.springframework.dao.PessimisticLockingFailureException: could not execute statement",
        [
            "org.hibernate.internal.ExceptionConverterImpl.convert(ExceptionConverterImpl.java:95)",
            "com.acme.inventory.ReservationService.reserve(ReservationService.java:64)",
        ],
        cause="org.postgresql.util.PSQLException: ERROR: canceling statement due to lock timeout",
        cause_frames=[
            "org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)"
        ],
    )

    def failed(t: datetime) -> dict[str, Any]:
        return svc.line(
            "ERROR",
            f"Reservation failed for {sku}: could not execute statement",
            logger="c.a.inventory.ReservationService",
            stack_trace=trace,
            sku=sku,
        )

    tel.stream(step(onset + 1, 0, 11, ramp=2), failed)
    tel.stream(
        step(onset - 1, 0, 0.5),
        lambda t: svc.line(
            "INFO",
            f"Drop {sku} is live: 5000 units",
            logger="c.a.inventory.DropScheduler",
            thread="scheduling-1",
        ),
        end=onset + 0.2,
    )
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARN",
            "Stock cache refresh skipped: previous refresh still running",
            logger="c.a.inventory.StockCache",
        ),
    )
    pod_resources(tel, svc, mem_gib=1.2, limit_gib=2.0, cpu=0.5, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"hot-row-flash-sale-{ctx.seed}",
        service=name,
        truth="db-contention",
        description=f"A limited drop of {sku} goes live; every reservation updates the same "
        "inventory row, so "
        "they queue on its row lock and hit lock_timeout. Traffic is up only 50%; the "
        "database's CPU is idle.",
        alert=AlertSpec(
            "ReservationsErrors",
            f"{name} 5xx ratio above 5%",
            f"{name} 5xx 14% over 5m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(6, 50)),
        other_services=[{"name": db}],
    )
