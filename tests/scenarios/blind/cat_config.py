"""Configuration changes: a timeout lowered in code, a flag flipped by the config service, a
connection pool cut in Helm values."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind import repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, later, pod_resources, traffic
from tests.scenarios.blind.kit import deploy, flat, hexsha, history, plus, step
from tests.scenarios.blind.releases import release, repo
from tests.scenarios.blind.stacks import Svc


def timeout_lowered(ctx: Ctx) -> Incident:
    """A release lowers the upstream timeout from 5s to 750ms: slow-but-fine upstream calls now 504."""
    rng = ctx.rng
    name = rng.choice(["fx-gateway", "convert-api", "rates-edge"])
    svc = Svc.make(rng, name, "python", replicas=4)
    h = repo(ctx, "gateway", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = ctx.onset(3, 16)
    share = rng.uniform(0.05, 0.12)
    traffic(
        tel,
        svc,
        flat(rng.uniform(500, 1200)),
        [("GET", "/v1/convert?from=EUR&to=USD&amount=120"), ("GET", "/v1/rates"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, share, ramp=2)),
        error_status=(504,),
        p99=step(onset, 1.35, 0.78, ramp=2),
    )
    # The upstream is exactly as slow as it always was.
    tel.series(
        "rates_upstream_request_duration_seconds:p99",
        flat(rng.uniform(1.1, 1.5)),
        noise=0.07,
        service=svc.name,
        upstream="rates-provider",
    )
    pod_resources(tel, svc)
    background(tel, svc)

    def timeout(t: Any) -> dict[str, Any]:
        pair = rng.choice([("EUR", "USD"), ("GBP", "EUR"), ("USD", "JPY")])
        up = int(rng.uniform(760, 2300))
        path = f"/v1/convert?from={pair[0]}&to={pair[1]}&amount={rng.randrange(5, 900)}"
        return svc.line(
            "ERROR",
            "upstream timeout: rates upstream did not answer within 750ms",
            logger="app.upstream",
            upstream="rates-provider",
            request={"method": "GET", "path": path, "upstream_ms": up},
        )

    tel.stream(step(onset, 0, share * 50, ramp=2), timeout)
    tel.stream(
        flat(0.2),
        lambda t: svc.line("WARNING", "rates cache miss for pair XAUUSD, fetching", logger="app.cache"),
    )
    pk = name.replace("-", "_")
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(0.5, 2),
        "release: retry idempotent GETs, tighten upstream timeouts, request ids",
        [f"{pk}/retry.py", f"{pk}/settings.py", f"{pk}/logging_ids.py"],
    )
    return Incident(
        name=f"convert-504s-{ctx.seed}",
        service=svc.name,
        truth="config-change",
        description="A release lowers UPSTREAM_TIMEOUT_S from 5.0 to 0.75; the rates upstream is as slow "
        "as ever (p99 1.3s), so its slower answers now time out as 504s.",
        alert=AlertSpec(
            "GatewayErrorBudgetBurn",
            f"{name}: error budget burn rate 14x (1h)",
            f"5xx ratio on {name} above SLO",
            "trace.http.request.errors",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config("upstream timeout: rates upstream", expect="upstream timeout"),
        expectations={
            "culprit_commit": h.shas["culprit"],
            "repro_verdict": "reproduced",
            "fix_verified": True,
        },
    )


def flag_flip(ctx: Ctx) -> Incident:
    """The config service flips a feature flag; checkout starts failing; no deploy near it."""
    rng = ctx.rng
    name = rng.choice(["checkout-api", "cart-service", "payments-web"])
    svc = Svc.make(rng, name, "spring", replicas=rng.randint(4, 8))
    tel = ctx.telemetry()
    onset = ctx.onset(5, 28)
    flag = rng.choice(
        ["checkout.async-tax-calculation", "cart.split-shipments", "payments.3ds2-frictionless"]
    )
    share = rng.uniform(0.04, 0.2)
    traffic(
        tel,
        svc,
        flat(rng.uniform(600, 1500)),
        [("POST", "/api/v1/checkout"), ("GET", "/api/v1/cart"), ("GET", "/actuator/health")],
        errors=plus(flat(0.0015), step(onset, 0, share)),
        p99=step(onset, 0.42, 0.55),
    )
    pod_resources(tel, svc, mem_gib=1.4, limit_gib=2.0, cpu=0.6, cpu_limit=2.0)
    background(tel, svc)
    for pod in svc.pods:  # every replica receives the push at once
        tel.log(
            later(tel.at(onset), -rng.uniform(0.05, 0.3)),
            svc.line(
                "INFO",
                f"Flag update received from config service: {flag}=true (was false), revision "
                f"{rng.randrange(300, 900)}, changed by "
                f"{rng.choice(['j.garcia', 'priya', 'wen'])}@acme.example",
                pod=pod,
                logger="com.acme.config.FlagUpdateListener",
                thread="ld-event-stream",
            ),
        )
    tel.stream(
        flat(1 / 15),
        lambda t: svc.line(
            "INFO",
            "Config service stream heartbeat, 214 flags in sync",
            logger="com.acme.config.FlagUpdateListener",
            thread="ld-event-stream",
        ),
    )
    cause = rng.choice(
        [
            ("java.lang.IllegalStateException", "Tax quote not ready for cart"),
            ("java.util.NoSuchElementException", "No shipment group for line item"),
            ("java.lang.UnsupportedOperationException", "Challenge flow not configured for issuer"),
        ]
    )

    def fail(t: Any) -> dict[str, Any]:
        ref = rng.randrange(10**5, 10**6)
        return svc.line(
            "ERROR",
            f"Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception "
            f"[Request processing failed: {cause[0]}: {cause[1]} {ref}] with root cause",
            logger="o.a.c.c.C.[.[.[/].[dispatcherServlet]",
            stack_trace=f"{cause[0]}: {cause[1]} {ref}\n\tat "
            "com.acme.checkout.FlowCoordinator.next(FlowCoordinator.java:212)"
            f"\n\tat com.acme.checkout.CheckoutController.submit(CheckoutController.java:88)",
        )

    tel.stream(step(onset, 0, share * 40), fail)
    deploys = history(rng, svc.name, ctx.alert_at, rng.randint(2, 4), newest_hours=rng.uniform(18, 40))
    return Incident(
        name=f"flag-flip-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="config-change",
        description=f"The config service pushed {flag}=true to every replica; the new flow fails for part "
        "of the requests. The last deploy was a day earlier.",
        alert=AlertSpec(
            "CheckoutErrorRatio",
            f"{name} 5xx ratio above 2% for 5m",
            f"{share * 100:.1f}% of {name} requests returned 5xx",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=deploys,
    )


def pool_cut(ctx: Ctx) -> Incident:
    """A Helm values change cuts the Hikari pool from 40 to 8: threads wait for connections."""
    rng = ctx.rng
    name = rng.choice(["inventory", "catalog-api", "ledger"])
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 18)
    small = rng.choice([6, 8, 10])
    traffic(
        tel,
        svc,
        flat(rng.uniform(800, 1600)),
        [("GET", "/api/items/{id}"), ("POST", "/api/reservations"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset, 0, rng.uniform(0.03, 0.08), ramp=3)),
        error_status=(500, 503),
        p99=step(onset, 0.18, 30.0 * 0.8, ramp=3),
    )
    for pod in svc.pods:
        tel.series(
            "hikaricp_connections_max",
            step(onset, 40, small),
            noise=0.0,
            digits=0,
            service=svc.name,
            pod=pod.name,
            pool="HikariPool-1",
        )
        tel.series(
            "hikaricp_connections_active",
            step(onset, rng.uniform(6, 11), small * 0.98),
            noise=0.05,
            digits=1,
            service=svc.name,
            pod=pod.name,
            pool="HikariPool-1",
        )
        tel.series(
            "hikaricp_connections_pending",
            step(onset, 0.0, rng.uniform(25, 60), ramp=3),
            noise=0.2,
            digits=0,
            service=svc.name,
            pod=pod.name,
            pool="HikariPool-1",
        )
    tel.series(
        "pg_stat_activity_count",
        step(onset, 34, small * 4),
        digits=0,
        service="inventory-db",
        datname=name,
        state="active",
    )
    pod_resources(tel, svc, mem_gib=1.1, limit_gib=2.0, cpu=0.5, cpu_limit=2.0)
    background(tel, svc)
    tel.stream(
        step(onset, 0, 6, ramp=3),
        lambda t: svc.line(
            "ERROR",
            "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            logger="com.zaxxer.hikari.pool.HikariPool",
            stack_trace="java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not "
            "available, "
            "request timed out after 30000ms.\n\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException"
            "(HikariPool.java:696)",
        ),
    )
    tel.stream(
        step(onset, 0, 3, ramp=3),
        lambda t: svc.line(
            "WARN", "SQL Error: 0, SQLState: 08001", logger="o.h.engine.jdbc.spi.SqlExceptionHelper"
        ),
    )
    for pod in svc.pods:
        tel.log(
            later(tel.at(onset), -rng.uniform(0.1, 0.8)),
            svc.line(
                "INFO",
                f"HikariPool-1 - Starting... maximumPoolSize={small}, minimumIdle={small}",
                pod=pod,
                logger="com.zaxxer.hikari.HikariDataSource",
                thread="main",
            ),
        )
    deploys = history(rng, svc.name, ctx.alert_at, rng.randint(2, 3), newest_hours=rng.uniform(20, 50))
    values = hexsha(rng)
    deploys.append(
        deploy(
            rng,
            svc.name,
            later(tel.at(onset), -rng.uniform(1, 2.5)),
            values,
            "argocd",
            "Sync helm values: tune datasource pools for pgbouncer rollout",
            ["deploy/helm/values-prod.yaml"],
            deploys[-1]["commit"],
        )
    )
    return Incident(
        name=f"pool-values-change-{ctx.seed}",
        service=svc.name,
        truth="config-change",
        description=f"An Argo CD sync of Helm values sets maximumPoolSize={small} (was 40); at normal "
        "traffic "
        "requests queue for connections and time out after 30s.",
        alert=AlertSpec(
            "InventoryLatencyHigh",
            f"{name} p99 latency above 2s",
            f"{name} p99 latency is 24s",
            "http_server_requests_seconds",
        ),
        tel=tel,
        deploys=deploys,
        expectations={"culprit_commit": values},
    )
