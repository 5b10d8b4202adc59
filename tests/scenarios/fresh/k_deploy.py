"""Code regressions in request handlers: a canary on one pod, a cache key that stopped sharing (each
ships its repository; the deployed commit is not the culprit)."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind import repos as blind_repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, plus, step
from tests.scenarios.blind.releases import release
from tests.scenarios.blind.stacks import Svc, k8s_event
from tests.scenarios.fresh.formats import counter
from tests.scenarios.fresh.repos import repo


def found(h: Any) -> dict[str, Any]:
    """What a correct triage of a shipped regression finds: the culprit, reproduced and reverted."""
    return {"culprit_commit": h.shas["culprit"], "repro_verdict": "reproduced", "fix_verified": True}


def canary_pod(ctx: Ctx) -> Incident:
    """A canary (one replica of eight) renders some currencies with a KeyError; the fleet is fine."""
    rng = ctx.rng
    name = rng.choice(["invoice-api", "billing-docs", "invoicing"])
    pk = name.replace("-", "_")
    svc = Svc.make(rng, name, "python", replicas=8)
    canary = svc.pods[rng.randrange(8)]
    h = repo(ctx, "invoices", pk)
    tel = ctx.telemetry()
    onset = ctx.onset(9, 30)
    rate = rng.uniform(250, 500)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/v1/invoices/render"), ("GET", "/v1/invoices"), ("GET", "/healthz")],
        errors=plus(flat(0.002), step(onset, 0, 0.012)),
        p99=flat(0.6),
    )
    new = f"{svc.version.rsplit('.', 1)[0]}.{int(svc.version.rsplit('.', 1)[1]) + 1}"
    for pod in svc.pods:
        bad = pod is canary
        counter(
            tel,
            "django_http_responses_total_by_status_view_method_total",
            step(onset, rate / 8 * 0.002, rate / 8 * (0.1 if bad else 0.002)),
            1000 * rng.random(),
            noise=0.3,
            service=name,
            pod=pod.name,
            status="500",
            view="render_invoice",
            method="POST",
        )
    tel.log(
        tel.at(onset - 0.6),
        {
            **k8s_event(
                svc,
                canary,
                "RolloutStepCompleted",
                "Rollout step 1/5 completed (setWeight: 12)",
                kind="Normal",
                obj=f"Rollout/{name}",
            ),
            "source": "rollouts-controller",
        },
    )
    currencies = ["CHF", "SEK", "NOK", "PLN", "DKK"]

    def failed(t: Any) -> dict[str, Any]:
        cur = rng.choice(currencies)
        body = {
            "invoice": f"INV-{rng.randrange(10**6, 10**7)}",
            "currency": cur,
            "lines": [{"qty": rng.randint(1, 5), "unit": rng.randrange(5, 400)}],
        }
        exc = (
            'Traceback (most recent call last):\n  File "/app/' + pk + '/app.py", line 14, in handle\n'
            '    return 200, {"total": money.display(net, body.get("currency", "USD"))}\n'
            '  File "/app/' + pk + '/money.py", line 9, in display\n    symbol = SYMBOLS[currency]\n'
            f"KeyError: '{cur}'"
        )
        line = svc.line(
            "ERROR",
            "Exception on /v1/invoices/render [POST]",
            pod=canary,
            logger="app",
            exc_info=exc,
            request={"method": "POST", "path": "/v1/invoices/render", "body": body},
        )
        return {**line, "version": new}

    tel.stream(step(onset, 0, rate * 0.009), failed)
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARNING",
            f"wkhtmltopdf took {rng.randrange(2100, 5200)}ms for a 40-page invoice",
            logger="app.pdf",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(0.3, 1.5),
        "canary 1/8 (argo-rollouts setWeight 12): euro symbol position, PDF producer metadata",
        [f"{pk}/money.py", f"{pk}/pdf_meta.py"],
    )
    return Incident(
        name=f"canary-one-pod-{ctx.seed}",
        service=name,
        truth="bad-deploy",
        description=f"A canary release runs on one replica of eight ({canary.name}); invoices in currencies "
        "without a symbol raise KeyError there. Fleet-wide the 5xx ratio is barely over 1%.",
        alert=AlertSpec(
            "ErrorBudgetBurnFast",
            f"{name}: error budget burn (2% of monthly budget in 1h)",
            f"{name} 5xx ratio 1.3% against a 99.9% SLO",
            "django_http_responses_total_by_status_total",
            severity="warning",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=blind_repos.service_config("Exception on /v1/invoices/render", expect="KeyError"),
        expectations=found(h),
    )


def cache_key(ctx: Ctx) -> Incident:
    """A release keys the shared page cache per customer: hit ratio collapses, the database melts."""
    rng = ctx.rng
    name = rng.choice(["catalog-api", "browse-api", "plp-service"])
    pk = name.replace("-", "_")
    svc = Svc.make(rng, name, "python", replicas=6)
    h = repo(ctx, "catalog", pk)
    tel = ctx.telemetry()
    onset = ctx.onset(25, 50)
    rate = rng.uniform(900, 1600)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/v1/catalog/shoes?page=2"), ("GET", "/v1/catalog/lamps?page=1"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset + 20, 0, 0.02, ramp=6)),
        error_status=(500, 504),
        p99=step(onset, 0.2, 2.4, ramp=25),
    )
    counter(
        tel,
        "redis_keyspace_hits_total",
        step(onset, rate * 0.96, rate * 0.15, ramp=3),
        8e8,
        service="catalog-redis",
        instance="catalog-redis-0:9121",
        db="db0",
    )
    counter(
        tel,
        "redis_keyspace_misses_total",
        step(onset, rate * 0.04, rate * 0.85, ramp=3),
        3e7,
        service="catalog-redis",
        instance="catalog-redis-0:9121",
        db="db0",
    )
    counter(
        tel,
        "redis_evicted_keys_total",
        step(onset + 12, 0.1, rate * 0.6, ramp=5),
        12000,
        service="catalog-redis",
        instance="catalog-redis-0:9121",
        db="db0",
    )
    tel.series(
        "redis_memory_used_bytes",
        lambda m: 2.1e9 if m < onset else min(3.9e9, 2.1e9 + 1.5e8 * (m - onset)),
        noise=0.01,
        digits=0,
        service="catalog-redis",
        instance="catalog-redis-0:9121",
    )
    tel.series(
        "redis_memory_max_bytes",
        flat(4e9),
        noise=0.0,
        digits=0,
        service="catalog-redis",
        instance="catalog-redis-0:9121",
    )
    tel.series(
        "aws_rds_cpuutilization_average",
        step(onset, 22, 97, ramp=15),
        noise=0.03,
        service="catalog-db",
        dbinstance_identifier="catalog-db-prod",
    )
    tel.series(
        "aws_rds_database_connections_average",
        step(onset, 60, 240, ramp=15),
        digits=0,
        service="catalog-db",
        dbinstance_identifier="catalog-db-prod",
    )

    def slow(t: Any) -> dict[str, Any]:
        m = (t - tel.alert_at).total_seconds() / 60
        ms = int(rng.uniform(900, 4200) * min(1.0, (m - onset) / 20 + 0.3))
        path = f"/v1/catalog/{rng.choice(['shoes', 'lamps', 'tents', 'sofas'])}?page={rng.randint(1, 9)}"
        return svc.line(
            "WARNING",
            f"Slow request GET /v1/catalog took {ms}ms",
            logger="app.middleware.timing",
            duration_ms=ms,
            request={"method": "GET", "path": path},
        )

    tel.stream(step(onset + 5, 0, 9, ramp=15), slow)
    tel.stream(
        step(onset + 20, 0, 3, ramp=5),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /v1/catalog/shoes",
            logger="django.request",
            exc_info="django.db.utils.OperationalError: canceling statement due to statement timeout",
        ),
    )
    tel.stream(
        flat(0.2),
        lambda t: svc.line(
            "WARNING",
            "redis-py: connection pool at 80% (40/50), consider raising max_connections",
            logger="app.cache",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(0.5, 2),
        "release: contract prices for B2B customers, per-customer page cache, docs",
        [f"{pk}/prices.py", f"{pk}/cache.py", "README.md"],
    )
    return Incident(
        name=f"cache-key-per-customer-{ctx.seed}",
        service=name,
        truth="bad-deploy",
        description="A release puts the customer id into the page cache key: hit ratio falls from 96% to "
        "15%, Redis fills and evicts, the catalog database's CPU saturates and latency climbs "
        "for half an hour.",
        alert=AlertSpec(
            "CatalogLatencyHigh",
            f"{name} p99 above 1.5s",
            f"{name} p99 2.3s over 10m",
            "django_http_requests_latency_seconds_by_view_method",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=blind_repos.service_config("Slow request GET /v1/catalog", expect="origin queries"),
        expectations=found(h),
    )
