"""Incidents a change caused: code regressions shipped in a deploy, and configuration changes
(a timeout lowered in code, a flag flipped by the config service, a pool cut in Helm values)."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind import repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, plus, step
from tests.scenarios.blind.releases import release, repo
from tests.scenarios.blind.stacks import Svc, k8s_event


def pricing_regression(ctx: Ctx) -> Incident:
    """Word-suffixed coupon codes 500 after a release parses a numeric tier from the suffix."""
    rng = ctx.rng
    name = rng.choice(["pricing", "quotes", "basket-pricing"])
    svc = Svc.make(rng, name, "python", replicas=rng.randint(3, 6))
    h = repo(ctx, "pricing", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = ctx.onset(4, 14)
    share = rng.uniform(0.06, 0.14)
    traffic(
        tel,
        svc,
        flat(rng.uniform(400, 900)),
        [("POST", "/v2/quote"), ("GET", "/v2/basket"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, share * 0.6, ramp=3)),
        p99=flat(0.31),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    words = ["SPRING", "GOLD", "FRIENDS", "BF"]

    def failed(t: Any) -> dict[str, Any]:
        coupon = f"{rng.choice(['WELCOME', 'SPRING', 'VIP'])}-{rng.choice(words)}"
        body = {"sku": f"sku-{rng.randrange(100, 1000)}", "qty": rng.randint(1, 3), "coupon": coupon}
        bad = coupon.split("-")[1]
        exc = (
            'Traceback (most recent call last):\n  File "/app/'
            + svc.name.replace("-", "_")
            + '/app.py", line 17, in handle_quote\n    net = coupons.apply(net, body.get("coupon"))\n'
            '  File "/app/coupons.py", line 12, in apply\n    tier = int(suffix) if suffix else 0\n'
            f"ValueError: invalid literal for int() with base 10: '{bad}'"
        )
        return svc.line(
            "ERROR",
            "Internal Server Error: /v2/quote",
            logger="django.request",
            status_code=500,
            exc_info=exc,
            request={"method": "POST", "path": "/v2/quote", "body": body},
        )

    tel.stream(step(onset, 0, share * 40, ramp=3), failed)
    tel.stream(
        flat(0.15),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /v2/basket",
            logger="django.request",
            status_code=500,
            exc_info="psycopg2.OperationalError: server closed the connection unexpectedly",
        ),
    )
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(0.5, 2),
        "release: VAT rates for the Nordics, coupon tiers from the code suffix, quote timings",
        [
            f"{svc.name.replace('-', '_')}/tax.py",
            f"{svc.name.replace('-', '_')}/coupons.py",
            f"{svc.name.replace('-', '_')}/timing.py",
        ],
    )
    return Incident(
        name=f"quote-coupon-regression-{ctx.seed}",
        service=svc.name,
        truth="bad-deploy",
        description="A release makes coupon codes with a word suffix raise ValueError in the quote "
        "handler; a tenth of quotes 500. Django logs only 'Internal Server Error' with "
        "the traceback in exc_info.",
        alert=AlertSpec(
            f"{name.title().replace('-', '')}High5xx",
            f"High 5xx on {name}",
            f"{share * 60:.1f}% of {name} requests failed over 5m",
            "django_http_responses_total_by_status_total",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config("Internal Server Error: /v2/quote", expect="ValueError"),
        expectations={
            "culprit_commit": h.shas["culprit"],
            "repro_verdict": "reproduced",
            "fix_verified": True,
        },
    )


def n_plus_one(ctx: Ctx) -> Incident:
    """Order history turns slow (no errors) after a release fetches line items per order."""
    rng = ctx.rng
    name = rng.choice(["order-history", "orders-api", "account-orders"])
    svc = Svc.make(rng, name, "python", replicas=rng.randint(3, 5))
    h = repo(ctx, "orders", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = ctx.onset(6, 25)
    rate = rng.uniform(300, 700)
    traffic(
        tel,
        svc,
        flat(rate),
        [
            ("GET", f"/api/orders?customer={rng.randrange(1, 4999)}&limit=20"),
            ("GET", "/api/orders/summary"),
            ("GET", "/healthz"),
        ],
        errors=flat(0.001),
        p99=step(onset, 0.28, rng.uniform(1.8, 3.2), ramp=rng.uniform(3, 8)),
    )
    tel.series(
        "django_db_execute_total",
        step(onset, rate * 1.4, rate * 14, ramp=5),
        digits=0,
        service=svc.name,
        vendor="postgresql",
    )
    tel.series(
        "pg_stat_database_tup_fetched",
        step(onset, rate * 60, rate * 75, ramp=5),
        digits=0,
        service="orders-db",
        datname="orders",
    )
    pod_resources(tel, svc, cpu=0.3)
    background(tel, svc)

    def slow(t: Any) -> dict[str, Any]:
        customer = rng.randrange(1, 4999)
        ms = int(rng.uniform(1400, 3600))
        return svc.line(
            "WARNING",
            f"Slow request GET /api/orders took {ms}ms",
            logger="app.middleware.timing",
            duration_ms=ms,
            request={"method": "GET", "path": f"/api/orders?customer={customer}&limit=20"},
        )

    tel.stream(step(onset, 0, rng.uniform(3, 8), ramp=5), slow)
    tel.stream(
        flat(0.4),
        lambda t: svc.line(
            "WARNING",
            f"Slow request GET /api/reports/monthly took {int(rng.uniform(2100, 5200))}ms",
            logger="app.middleware.timing",
        ),
    )
    pk = name.replace("-", "_")
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(1, 3),
        "release: totals with two decimals, line items on order history, endpoint docs",
        [f"{pk}/money.py", f"{pk}/app.py", "README.md"],
    )
    return Incident(
        name=f"orders-latency-after-release-{ctx.seed}",
        service=svc.name,
        truth="bad-deploy",
        description="A release fetches line items one query per order: p99 latency and DB query rate "
        "rise, no errors at all.",
        alert=AlertSpec(
            "OrderHistoryLatencySLOBurn",
            f"p99 latency SLO burn on {name}",
            f"{name} is burning its latency SLO budget at 14x over 1h",
            "django_http_requests_latency_seconds_by_view_method",
            severity="warning",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config("Slow request GET /api/orders"),
        expectations={
            "culprit_commit": h.shas["culprit"],
            "repro_verdict": "reproduced",
            "fix_verified": True,
        },
    )


def crash_loop(ctx: Ctx) -> Incident:
    """A consumer crash-loops on messages whose user has a null preferred name; the queue backs up."""
    rng = ctx.rng
    name = rng.choice(["notifier", "mailer-worker", "notification-consumer"])
    svc = Svc.make(rng, name, "python", replicas=3)
    h = repo(ctx, "notifier", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = ctx.onset(8, 22)
    throughput = rng.uniform(200, 500)
    tel.series(
        "rabbitmq_queue_messages_ready",
        lambda m: 40 if m < onset else 40 + throughput * 0.7 * (m - onset),
        digits=0,
        service=svc.name,
        queue="notifications.email",
        vhost="/",
    )
    tel.series(
        "notifier_messages_processed_total",
        step(onset, throughput, throughput * 0.25, ramp=2),
        digits=0,
        service=svc.name,
    )
    tel.series(
        "kube_pod_container_status_restarts_total",
        step(onset, 0, 0.6, ramp=1),
        noise=0.3,
        service=svc.name,
        container=svc.name,
    )
    pod_resources(tel, svc, mem_gib=0.3, limit_gib=0.5)
    background(tel, svc)
    tel.stream(
        flat(throughput * 0.03),
        lambda t: svc.line(
            "INFO",
            "delivered message",
            logger="notifier.consumer",
            template=rng.choice(["order_confirmed", "order_shipped"]),
        ),
    )

    def crash(t: Any) -> dict[str, Any]:
        payload = {
            "template": "order_shipped",
            "user": {
                "id": rng.randrange(10**6, 10**7),
                "first_name": rng.choice(["Ada", "Lin", "Omar", "Iris"]),
                "preferred_name": None,
            },
            "vars": {"order": f"A{rng.randrange(10**5, 10**6)}"},
        }
        return svc.line(
            "ERROR",
            "Unhandled exception in consumer, exiting: AttributeError: 'NoneType' "
            "object has no attribute 'strip'",
            logger="notifier.consumer",
            payload=payload,
            delivery_tag=rng.randrange(1, 5000),
        )

    tel.stream(step(onset, 0, 1.8), crash)
    tel.stream(
        step(onset, 0, 1.6),
        lambda t: k8s_event(
            svc,
            svc.pod(),
            "BackOff",
            f"Back-off restarting failed container {svc.name} in pod {svc.pod().name}",
        ),
    )
    tel.stream(
        flat(0.1),
        lambda t: svc.line(
            "WARNING", "SMTP relay answered 421 4.7.0 Try again later, requeueing", logger="notifier.smtp"
        ),
    )
    pk = name.replace("-", "_")
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(1, 4),
        "release: preferred names in greetings, prefetch 20",
        [f"{pk}/render.py", f"{pk}/consumer.py"],
    )
    return Incident(
        name=f"consumer-crashloop-{ctx.seed}",
        service=svc.name,
        truth="bad-deploy",
        description="After a release the notification consumer exits on messages whose user has a null "
        "preferred_name; pods back off, the queue grows.",
        alert=AlertSpec(
            "NotificationsQueueBacklog",
            "notifications.email queue backlog growing",
            "rabbitmq_queue_messages_ready above 5000 for 10m",
            "rabbitmq_queue_messages_ready",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config(
            "Unhandled exception in consumer", field="payload", expect="AttributeError"
        ),
        expectations={
            "culprit_commit": h.shas["culprit"],
            "repro_verdict": "reproduced",
            "fix_verified": True,
        },
    )
