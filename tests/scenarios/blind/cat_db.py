"""Database contention: a migration queued behind a long query, a batch job deadlocking with
requests, a transaction left idle holding row locks."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import blip, flat, history, plus, step
from tests.scenarios.blind.stacks import Svc


def _pg(svc_name: str, message: str, **fields: Any) -> dict[str, Any]:
    """A PostgreSQL server log line as the RDS log forwarder ships it."""
    level = "error" if message.startswith(("ERROR", "FATAL")) else "info"
    return {
        "service": svc_name,
        "level": level,
        "message": message,
        "logger": "postgresql",
        "db_instance": svc_name,
        **fields,
    }


def migration_lock(ctx: Ctx) -> Incident:
    """An ALTER TABLE waits for ACCESS EXCLUSIVE behind a report query; every request queues behind it."""
    rng = ctx.rng
    name = rng.choice(["billing", "invoices", "accounts"])
    table = {"billing": "charges", "invoices": "invoices", "accounts": "account_balances"}[name]
    db = f"{name}-postgres"
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 14)
    traffic(
        tel,
        svc,
        flat(rng.uniform(500, 1100)),
        [("GET", f"/api/{table}/{{id}}"), ("POST", f"/api/{table}"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset + 1, 0, 0.22, ramp=2)),
        error_status=(500, 504),
        p99=step(onset, 0.12, 15.0, ramp=1),
    )
    tel.series(
        "pg_locks_count",
        step(onset, 0, 1),
        noise=0.0,
        digits=0,
        service=db,
        datname=name,
        mode="accessexclusivelock",
    )
    tel.series(
        "pg_locks_count",
        step(onset, 14, 190, ramp=2),
        noise=0.05,
        digits=0,
        service=db,
        datname=name,
        mode="rowexclusivelock",
    )
    tel.series(
        "pg_stat_activity_count",
        step(onset, 3, 95, ramp=2),
        noise=0.05,
        digits=0,
        service=db,
        datname=name,
        state="active",
        wait_event_type="Lock",
    )
    tel.series(
        "pg_stat_activity_max_tx_duration",
        lambda m: 2.0 if m < onset - 35 else 60 * (m - onset + 35),
        noise=0.01,
        service=db,
        datname=name,
        state="active",
    )
    tel.series(
        "hikaricp_connections_active",
        step(onset, 9, 30, ramp=2),
        noise=0.03,
        digits=0,
        service=name,
        pool="HikariPool-1",
    )
    tel.series("hikaricp_connections_max", flat(30), noise=0.0, digits=0, service=name, pool="HikariPool-1")
    job = f"{name}-schema-migrate-{rng.randrange(10**4, 10**5)}"
    version = rng.randrange(60, 140)
    tel.log(
        tel.at(onset - 0.2),
        {
            "service": name,
            "level": "info",
            "pod": job,
            "logger": "org.flywaydb.core.internal.command.DbMigrate",
            "message": f'Migrating schema "public" to version "{version} - add currency to {table}"',
        },
    )
    pid, holder = rng.randrange(20000, 60000), rng.randrange(20000, 60000)
    tel.log(
        tel.at(onset + 0.02),
        _pg(
            db,
            f"LOG:  process {pid} still waiting for AccessExclusiveLock on relation "
            f"{rng.randrange(16000, 17000)} of database 16384 after 1000.084 ms",
            detail=f"Process holding the lock: {holder}. Wait queue: {pid}.",
            statement=f"ALTER TABLE {table} ADD COLUMN currency char(3) NOT NULL DEFAULT 'EUR'",
        ),
    )
    tel.stream(
        step(onset, 0, 12, ramp=1),
        lambda t: _pg(
            db,
            f"LOG:  process {rng.randrange(20000, 60000)} still waiting for RowExclusiveLock on relation "
            f"{rng.randrange(16000, 17000)} of database 16384 after 1000.{rng.randrange(10, 999)} ms",
            detail=f"Process holding the lock: {pid}. Wait queue: {pid}, {rng.randrange(20000, 60000)}, ...",
        ),
    )
    tel.stream(
        step(onset + 1, 0, 9, ramp=2),
        lambda t: svc.line(
            "ERROR",
            "SQL Error: 0, SQLState: 57014",
            logger="o.h.engine.jdbc.spi.SqlExceptionHelper",
            stack_trace="org.springframework.dao.QueryTimeoutException: could not execute "
            "statement\n\tCaused by: "
            "org.postgresql.util.PSQLException: ERROR: canceling statement due to statement timeout",
        ),
    )
    tel.stream(
        flat(0.2), lambda t: _pg(db, f"LOG:  checkpoint complete: wrote {rng.randrange(200, 4000)} buffers")
    )
    pod_resources(tel, svc, mem_gib=1.2, limit_gib=2.0, cpu=0.4, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"migration-lock-queue-{ctx.seed}",
        service=svc.name,
        truth="db-contention",
        description=f"A manually run schema migration (ALTER TABLE {table}) waits for ACCESS EXCLUSIVE "
        "behind a "
        "35-minute report query; every read and write queues behind it and times out.",
        alert=AlertSpec(
            "BillingApiDown",
            f"{name} API: requests timing out",
            f"{name} success ratio below 80% for 3m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 60)),
        other_services=[{"name": db, "hosts": [f"{db}.cluster-c9xk2.eu-west-1.rds.amazonaws.com"]}],
    )


def deadlocks(ctx: Ctx) -> Incident:
    """A settlement batch job updates rows in the opposite order to requests: deadlocks."""
    rng = ctx.rng
    name = rng.choice(["wallet", "settlements", "loyalty-points"])
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 25)
    traffic(
        tel,
        svc,
        flat(rng.uniform(400, 900)),
        [("POST", "/api/transfers"), ("GET", "/api/balance"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset, 0, 0.05, ramp=2)),
        p99=step(onset, 0.2, 1.9, ramp=2),
    )
    tel.series(
        "pg_stat_database_deadlocks",
        plus(flat(0.02), step(onset, 0, rng.uniform(4, 12))),
        noise=0.2,
        service=f"{name}-postgres",
        datname=name,
    )
    tel.series(
        "pg_locks_count",
        step(onset, 10, 70, ramp=2),
        noise=0.06,
        digits=0,
        service=f"{name}-postgres",
        datname=name,
        mode="sharelock",
    )
    tel.log(
        tel.at(onset - 0.1),
        svc.line(
            "INFO",
            "Job: [SimpleJob: [name=settlementReconcileJob]] launched with the following parameters: "
            f"[{{run.date=2026-12-0{rng.randint(1, 7)}}}]",
            logger="o.s.b.c.l.support.SimpleJobLauncher",
            thread="scheduling-1",
        ),
    )
    tel.stream(
        step(onset, 0, 0.5),
        lambda t: svc.line(
            "INFO",
            f"Step: [reconcileAccounts] chunk committed, {rng.randrange(400, 500)} items",
            thread="scheduling-1",
            logger="o.s.batch.core.step.AbstractStep",
        ),
    )

    def loser(t: Any) -> dict[str, Any]:
        a, b = rng.randrange(8000, 9999), rng.randrange(8000, 9999)
        return svc.line(
            "ERROR",
            "Transfer failed: org.springframework.dao.CannotAcquireLockException: could not execute "
            "statement; "
            "SQL [n/a]; nested exception is org.hibernate.exception.LockAcquisitionException",
            logger="c.a.wallet.TransferService",
            stack_trace="Caused by: org.postgresql.util.PSQLException: ERROR: deadlock detected\n  Detail: "
            f"Process {a} "
            f"waits for ShareLock on transaction {rng.randrange(10**6, 10**7)}; blocked by process {b}.",
        )

    tel.stream(step(onset, 0, 7, ramp=2), loser)
    tel.stream(
        step(onset, 0, 4, ramp=2),
        lambda t: _pg(
            f"{name}-postgres",
            "ERROR:  deadlock detected",
            detail="Process waits for ShareLock on transaction; blocked by process.",
        ),
    )
    pod_resources(tel, svc, mem_gib=1.0, limit_gib=2.0, cpu=0.5, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"batch-deadlocks-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="db-contention",
        description="The scheduled settlement reconcile job locks accounts in id order while transfers lock "
        "payer-then-payee; PostgreSQL aborts the losers with 'deadlock detected'.",
        alert=AlertSpec(
            "TransfersFailing",
            f"{name}: transfer failures above 2%",
            "transfer failure ratio 4.8% over 5m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(8, 40)),
        other_services=[{"name": f"{name}-postgres"}],
    )


def idle_in_transaction(ctx: Ctx) -> Incident:
    """A worker stalls inside a transaction holding FOR UPDATE on a hot row; writers hit lock_timeout."""
    rng = ctx.rng
    name = rng.choice(["tickets", "seat-reservations", "stock-ledger"])
    svc = Svc.make(rng, name, "python", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(6, 28)
    traffic(
        tel,
        svc,
        flat(rng.uniform(300, 700)),
        [("POST", "/api/reserve"), ("GET", "/api/availability"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset + 1, 0, 0.07, ramp=4)),
        p99=step(onset, 0.25, 5.2, ramp=3),
    )
    tel.series(
        "pg_stat_activity_max_tx_duration",
        lambda m: rng.uniform(0.5, 3) if m < onset else 60 * (m - onset),
        noise=0.0,
        service=f"{name}-postgres",
        datname=name.replace("-", "_"),
        state="idle in transaction",
    )
    tel.series(
        "pg_locks_count",
        step(onset, 6, 48, ramp=4),
        noise=0.06,
        digits=0,
        service=f"{name}-postgres",
        datname=name.replace("-", "_"),
        mode="rowexclusivelock",
    )
    tel.series(
        "pgbouncer_pools_client_waiting_connections",
        step(onset + 2, 0, 35, ramp=5),
        noise=0.15,
        digits=0,
        service=f"{name}-pgbouncer",
        database=name.replace("-", "_"),
    )
    tel.stream(
        step(onset + 1, 0, 8, ramp=4),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /api/reserve",
            logger="django.request",
            exc_info="django.db.utils.OperationalError: canceling statement due to lock timeout\nCONTEXT:  "
            "while "
            f'updating tuple ({rng.randrange(0, 90)},{rng.randrange(1, 40)}) in relation "inventory_slot"',
        ),
    )
    tel.stream(
        step(onset + 3, 0, 2, ramp=4),
        lambda t: {
            "service": f"{name}-pgbouncer",
            "level": "warning",
            "logger": "pgbouncer",
            "message": f"C-0x{rng.randrange(16**11, 16**12):x}: "
            f"{name.replace('-', '_')}/app@10.0.{rng.randrange(1, 9)}."
            f"{rng.randrange(2, 250)}:{rng.randrange(30000, 60000)} closing because: query_wait_timeout "
            "(age=120s)",
        },
    )
    tel.stream(
        flat(0.25),
        lambda t: svc.line(
            "WARNING",
            f"Cache miss storm guard: 3 concurrent rebuilds of availability:{rng.randrange(100, 999)}",
            logger="app.cache",
        ),
    )
    tel.stream(
        blip(-100, 3, 0, 2),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /api/availability",
            logger="django.request",
            exc_info="redis.exceptions.TimeoutError: Timeout reading from socket",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"idle-tx-row-locks-{ctx.seed}",
        service=svc.name,
        truth="db-contention",
        description="A reservation worker hung on an HTTP call inside a transaction holding SELECT … FOR "
        "UPDATE "
        "on hot slots; reservations hit lock_timeout, pgbouncer clients queue.",
        alert=AlertSpec(
            "ReservationsLatency",
            f"{name} p99 latency above 2s",
            f"{name} p99 is 5.2s",
            "django_http_requests_latency_seconds_by_view_method",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(3, 30)),
    )
