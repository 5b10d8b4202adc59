"""More load than usual, nothing broken: hourly cron schedules firing at once, a cache stampede
when keys warmed together expire together, a push notification that opens the app for millions."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import Curve, flat, history, plus, step
from tests.scenarios.blind.stacks import Svc, nginx
from tests.scenarios.fresh.formats import counter, logfmt


def cron_surge(ctx: Ctx) -> Incident:
    """Thousands of customer schedules fire at the top of the hour; this hour's batch is the largest yet."""
    rng = ctx.rng
    ctx.alert_at = ctx.alert_at.replace(minute=rng.randrange(3, 8), second=rng.randrange(0, 60))
    name = rng.choice(["report-runner", "scheduled-exports", "automation-api"])
    svc = Svc.make(rng, name, "zap", replicas=6)
    tel = ctx.telemetry()
    top = -float(ctx.alert_at.minute) - ctx.alert_at.second / 60  # minutes from the hour to the alert
    base = rng.uniform(150, 300)
    sizes = {top - 120: 2.5, top - 60: 3.0, top: rng.uniform(8, 12)}

    def load(m: float) -> float:
        bursts = sum(base * (k - 1) * math.exp(-(m - at) / 2.5) for at, k in sizes.items() if m >= at)
        return base + bursts

    shed: Curve = lambda m: 0.12 if top + 0.5 <= m < top + 8 else 0.001  # noqa: E731
    traffic(
        tel,
        svc,
        load,
        [("POST", "/v1/schedules/run"), ("GET", "/v1/exports/{id}"), ("GET", "/readyz")],
        errors=shed,
        error_status=(503,),
        p99=lambda m: 0.4 + 4 * (load(m) / base - 1) / 10,
    )
    tel.series("workqueue_depth", lambda m: max(0.0, load(m) - base) * 3, digits=0, service=name, name="runs")
    counter(
        tel,
        "schedules_fired_total",
        lambda m: sum(base * 40 * (k - 1) for at, k in sizes.items() if at <= m < at + 1),
        9e6,
        service=name,
        cron="0 * * * *",
    )
    for at, k in sizes.items():
        tel.log(
            tel.at(at + 0.01),
            logfmt(
                svc,
                tel.at(at),
                "info",
                "cron tick",
                caller="sched/tick.go:52",
                spec="0 * * * *",
                fired=int(base * 40 * (k - 1)),
                tenants=rng.randrange(300, 900),
            ),
        )

    def rejected(t: datetime) -> dict[str, Any]:
        return logfmt(
            svc,
            t,
            "warn",
            "run rejected: worker pool saturated",
            caller="runner/pool.go:88",
            tenant=f"t_{rng.randrange(1000, 9999)}",
            inflight=256,
            queue=rng.randrange(3000, 9000),
        )

    tel.stream(lambda m: load(m) * shed(m) * 0.05 if shed(m) > 0.01 else 0, rejected)
    tel.stream(
        flat(0.3),
        lambda t: logfmt(
            svc, t, "warn", "export upload slow", caller="export/s3.go:71", took=f"{rng.uniform(3, 9):.1f}s"
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"top-of-hour-cron-surge-{ctx.seed}",
        service=name,
        truth="traffic-surge",
        description="Customer schedules set to '0 * * * *' all fire at the top of the hour; a large tenant "
        "onboarded this morning makes this hour's burst ten times the base rate. The worker pool saturates "
        "for a few minutes and sheds; the previous hours' smaller bursts passed.",
        alert=AlertSpec(
            "RunnerErrorRate",
            f"{name} 5xx ratio above 5%",
            f"{name} 503 ratio 11% over 5m",
            "http_requests_total",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 80)),
    )


def cache_stampede(ctx: Ctx) -> Incident:
    """Keys warmed together an hour ago expire together; every miss goes to the database at once."""
    rng = ctx.rng
    name = rng.choice(["pricing-api", "product-detail", "offers-service"])
    db = f"{name}-db"
    svc = Svc.make(rng, name, "python", replicas=6)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 9)
    rate = rng.uniform(1500, 2500)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/v1/price/{sku}"), ("GET", "/v1/offers"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset + 1, 0, 0.05)),
        error_status=(504,),
        p99=step(onset, 0.08, 6.0),
    )
    counter(
        tel,
        "memcached_commands_total",
        step(onset, rate * 0.03, rate * 0.9),
        2e8,
        service=f"{name}-memcached",
        command="get",
        status="miss",
    )
    counter(
        tel,
        "memcached_commands_total",
        step(onset, rate * 0.97, rate * 0.1),
        9e9,
        service=f"{name}-memcached",
        command="get",
        status="hit",
    )
    tel.series(
        "memcached_current_items", step(onset, 2.4e6, 3e5, ramp=1), digits=0, service=f"{name}-memcached"
    )
    tel.series(
        "pg_stat_database_xact_commit",
        step(onset, rate * 0.05, rate * 0.95),
        digits=0,
        service=db,
        datname="pricing",
    )
    tel.series(
        "pg_stat_activity_count", step(onset, 8, 190), digits=0, service=db, datname="pricing", state="active"
    )
    tel.series("aws_rds_cpuutilization_average", step(onset, 18, 99), service=db, dbinstance_identifier=db)
    warm = onset - 60
    tel.log(
        tel.at(warm),
        {
            "service": name,
            "level": "info",
            "logger": "cron.cache-warmer",
            "pod": f"cache-warmer-{rng.randrange(10**7, 10**8)}",
            "message": "warmed 2,412,118 price keys (ttl=3600s) in 212s",
        },
    )
    tel.stream(
        step(onset + 1, 0, 10),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /v1/price/" + str(rng.randrange(10**5, 10**6)),
            logger="django.request",
            exc_info="django.db.utils.OperationalError: canceling statement due to statement timeout",
        ),
    )
    tel.stream(
        step(onset, 0, 6),
        lambda t: svc.line(
            "WARNING",
            f"Slow request GET /v1/price took {rng.randrange(2000, 9000)}ms",
            logger="app.middleware.timing",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"cache-expiry-stampede-{ctx.seed}",
        service=name,
        truth="traffic-surge",
        description="The nightly warmer wrote every price key with the same one-hour TTL; an hour later they "
        "expire together, and with no request coalescing every request goes to the database: its query rate "
        "x19, CPU at 99%, statements time out. Incoming traffic is flat.",
        alert=AlertSpec(
            "PricingLatency",
            f"{name} p99 latency above 1s",
            f"{name} p99 6s",
            "django_http_requests_latency_seconds_by_view_method",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 50)),
        other_services=[{"name": db}],
    )


def push_blast(ctx: Ctx) -> Incident:
    """A marketing push goes to every user; app opens x6 within two minutes, decaying over a quarter hour."""
    rng = ctx.rng
    name = rng.choice(["home-feed", "app-bootstrap", "mobile-config"])
    svc = Svc.make(rng, name, "logrus", replicas=8)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 8)
    base = rng.uniform(1500, 2500)
    load: Curve = lambda m: base * (1 + (5.5 * math.exp(-(m - onset) / 7) if m >= onset else 0))  # noqa: E731
    traffic(
        tel,
        svc,
        load,
        [("GET", "/v3/home"), ("GET", "/v3/bootstrap"), ("GET", "/healthz")],
        log_share=0.01,
        errors=lambda m: 0.04 if onset + 0.5 <= m < onset + 6 else 0.001,
        error_status=(503,),
        p99=lambda m: 0.2 * load(m) / base,
    )
    tel.log(
        tel.at(onset - 0.3),
        {
            "service": "campaign-sender",
            "level": "info",
            "logger": "braze-webhook",
            "message": "campaign 'winter-sale-teaser' sent to 4,120,334 devices (push)",
        },
    )
    tel.stream(
        lambda m: max(0.0, load(m) - base) * 0.004,
        lambda t: nginx(
            svc,
            t,
            "GET",
            "/v3/home?source=push&cid=winter-sale-teaser",
            rng.choice([200] * 24 + [503]),
            rng.uniform(0.1, 2.0),
            agent=rng.choice(["okhttp/4.12.0", "AcmeApp/8.14 CFNetwork/1494 Darwin/23.4.0"]),
        ),
    )
    tel.series(
        "kube_deployment_status_replicas",
        lambda m: 8 if m < onset + 2 else min(30, 8 + 2 * (m - onset - 2)),
        noise=0.0,
        digits=0,
        service=name,
        deployment=name,
    )
    tel.stream(
        flat(0.3), lambda t: svc.line("warning", "feature config fetch slow (800ms), using cached copy")
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"push-notification-blast-{ctx.seed}",
        service=name,
        truth="traffic-surge",
        description="Marketing sends a push to four million devices; app opens hit the home feed at 6.5x the "
        "usual rate within two minutes, the HPA lags, some requests 503 while it scales. Nothing is broken.",
        alert=AlertSpec(
            "HomeFeedAvailability",
            f"{name} error budget burn",
            f"{name} 5xx 4% over 5m",
            "nginx_ingress_controller_requests",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(5, 40)),
    )
