"""More load than usual, nothing broken: a campaign, a crawler, a partner's bulk sync (with an
innocent deploy that happens to land just before it)."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind import repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.releases import release, repo
from tests.scenarios.blind.stacks import Svc, k8s_event, nginx


def _hpa(tel: Any, svc: Svc, onset: float, start: int, maximum: int) -> None:
    """The HorizontalPodAutoscaler scales up to its maximum and stays there."""
    size = start
    for minute in range(int(onset) + 2, int(tel.after), 3):
        if size >= maximum:
            tel.log(
                tel.at(minute + 0.5),
                k8s_event(
                    svc,
                    svc.pod(),
                    "FailedGetResourceMetric" if minute % 2 else "DesiredReplicasAboveMax",
                    f"desired replica count {maximum + 4} is above maximum {maximum}",
                    kind="Warning",
                    obj=f"HorizontalPodAutoscaler/{svc.name}",
                ),
            )
            continue
        size = min(maximum, size + 3)
        tel.log(
            tel.at(minute + 0.2),
            k8s_event(
                svc,
                svc.pod(),
                "SuccessfulRescale",
                f"New size: {size}; reason: cpu resource utilization (percentage of request) above target",
                kind="Normal",
                obj=f"HorizontalPodAutoscaler/{svc.name}",
            ),
        )


def campaign(ctx: Ctx) -> Incident:
    """A newsletter goes out: landing-page traffic triples, with utm parameters in every URL."""
    rng = ctx.rng
    name = rng.choice(["storefront", "landing-web", "deals-api"])
    svc = Svc.make(rng, name, "zap", replicas=6)
    tel = ctx.telemetry()
    onset = ctx.onset(8, 28)
    base = rng.uniform(900, 1600)
    factor = rng.uniform(2.8, 4.5)
    camp = rng.choice(["black_friday_2026", "winter_sale", "cyber_week"])
    rate = step(onset, base, base * factor, ramp=rng.uniform(4, 10))
    traffic(
        tel,
        svc,
        flat(base),
        [("GET", "/"), ("GET", "/product/812"), ("GET", "/api/cart"), ("GET", "/healthz")],
        errors=flat(0.0015),
        error_status=(500, 503),
        p99=step(onset, 0.22, 0.9, ramp=8),
        log_share=0.03,
    )
    extra = plus(rate, flat(-base))

    def visitor(t: Any) -> dict[str, Any]:
        m = (t - tel.alert_at).total_seconds() / 60
        failing = rng.random() < (0.05 if m > onset + 6 else 0.002)
        path = rng.choice(["/", "/deals", f"/product/{rng.randrange(100, 999)}"])
        path += f"?utm_source=newsletter&utm_medium=email&utm_campaign={camp}"
        path += f"&utm_content=hero_{rng.randint(1, 3)}"
        return nginx(svc, t, "GET", path, 503 if failing else 200, rng.uniform(0.05, 1.4))

    tel.stream(lambda m: extra(m) * 0.03, visitor)
    tel.series(
        "http_requests_total", extra, noise=0.05, digits=0, service=svc.name, code="200", handler="campaign"
    )
    tel.series(
        "nginx_ingress_controller_requests",
        rate,
        noise=0.03,
        digits=0,
        service=svc.name,
        ingress=svc.name,
        status="2xx",
    )
    for pod in svc.pods:
        tel.series(
            "container_cpu_usage_seconds_total",
            step(onset, 0.45, 0.95, ramp=8),
            noise=0.05,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
    tel.series(
        "kube_deployment_status_replicas",
        step(onset + 3, 6, 18, ramp=9),
        noise=0.0,
        digits=0,
        service=svc.name,
        deployment=svc.name,
    )
    _hpa(tel, svc, onset, 6, 18)
    background(tel, svc)
    return Incident(
        name=f"campaign-surge-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="traffic-surge",
        description=f"The {camp} newsletter lands: requests x{factor:.1f}, all with utm_campaign={camp}; the "
        "HPA "
        "maxes out and some requests 503 while it scales.",
        alert=AlertSpec(
            "StorefrontLatencyHigh",
            f"{name} p99 latency above 750ms",
            f"{name} p99 latency is 0.9s",
            "trace.http.request.duration",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(6, 30)),
    )


def crawler(ctx: Ctx) -> Incident:
    """One crawler from one address block hammers search pages; everybody's latency suffers."""
    rng = ctx.rng
    name = rng.choice(["search-web", "catalog-search", "listings"])
    svc = Svc.make(rng, name, "logrus", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(6, 26)
    base = rng.uniform(500, 1000)
    bot_rate = base * rng.uniform(1.5, 3.0)
    ua = rng.choice(
        [
            "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
            "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ]
    )
    block = f"{rng.choice([47, 110, 220])}.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
    traffic(
        tel,
        svc,
        flat(base),
        [("GET", "/search?q=boots"), ("GET", "/l/4411"), ("GET", "/healthz")],
        errors=flat(0.001),
        p99=step(onset, 0.35, 1.9, ramp=5),
        log_share=0.04,
    )
    tel.stream(
        step(onset, 0, bot_rate * 0.04, ramp=3),
        lambda t: nginx(
            svc,
            t,
            "GET",
            f"/search?q={rng.choice(['shoes', 'lamp', 'sofa', 'tent'])}"
            f"&page={rng.randrange(1, 400)}&sort=price",
            rng.choice([200] * 19 + [429]),
            rng.uniform(0.4, 2.5),
            agent=ua,
            client=f"{block}.{rng.randrange(2, 250)}",
        ),
    )
    tel.series(
        "nginx_ingress_controller_requests",
        step(onset, base, base + bot_rate, ramp=3),
        noise=0.03,
        digits=0,
        service=svc.name,
        ingress=svc.name,
        status="2xx",
    )
    tel.series(
        "elasticsearch_thread_pool_queue_count",
        step(onset, 2, 180, ramp=5),
        noise=0.2,
        digits=0,
        service="search-es",
        name="search",
    )
    tel.stream(
        step(onset, 0, 1.2, ramp=5),
        lambda t: svc.line(
            "warning", f"search backend slow: took {rng.randrange(900, 3000)}ms", backend="search-es"
        ),
    )
    pod_resources(tel, svc, cpu=0.4)
    background(tel, svc)
    return Incident(
        name=f"crawler-surge-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="traffic-surge",
        description=f"A crawler ({ua.split(';')[1].strip()}) from {block}.0/24 pages through search at twice "
        "our "
        "normal rate; latency rises for everyone, nothing is broken.",
        alert=AlertSpec(
            "SearchLatencySLO",
            f"{name} latency SLO burn (p99 > 1s)",
            f"{name} p99 latency 1.9s",
            "nginx_ingress_controller_request_duration_seconds",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 2, newest_hours=rng.uniform(10, 50)),
    )


def partner_sync(ctx: Ctx) -> Incident:
    """A marketplace partner starts its bulk re-quote; a harmless deploy landed ten minutes before."""
    rng = ctx.rng
    name = rng.choice(["shipping-quotes", "freight-rates", "parcel-pricing"])
    svc = Svc.make(rng, name, "python", replicas=4)
    h = repo(ctx, "carrier", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = ctx.onset(5, 20)
    base = rng.uniform(300, 600)
    factor = rng.uniform(3, 5)
    partner = rng.choice(["mkt-partner-0142", "acme-marketplace", "shopbridge-eu"])
    traffic(
        tel,
        svc,
        step(onset, base, base * factor, ramp=3),
        [("POST", "/v1/quotes"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset + 2, 0, 0.05)),
        error_status=(503,),
        p99=step(onset, 0.2, 1.6, ramp=4),
    )
    tel.series(
        "api_requests_by_key",
        step(onset, 3, base * (factor - 1)),
        noise=0.05,
        digits=0,
        service=svc.name,
        api_key=partner,
    )
    tel.series("gunicorn_workers_busy", step(onset, 9, 32, ramp=3), noise=0.03, digits=0, service=svc.name)

    def shed(t: Any) -> dict[str, Any]:
        body = {
            "weight_kg": round(rng.uniform(0.2, 30), 1),
            "from": "DE-10115",
            "to": f"FR-{rng.randrange(10000, 95999)}",
        }
        return svc.line(
            "ERROR",
            "Shedding request: worker queue full (backlog=2048), answering 503",
            logger="app.admission",
            api_key=partner,
            request={"method": "POST", "path": "/v1/quotes", "body": body},
        )

    tel.stream(step(onset + 2, 0, 10), shed)
    tel.stream(
        step(onset, 0, 0.3),
        lambda t: svc.line(
            "WARNING", f"Worker timeout (pid:{rng.randrange(100, 999)})", logger="gunicorn.error"
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    pk = name.replace("-", "_")
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(6, 12),
        "release: carrier logos, pin urllib3",
        [f"{pk}/logos.py", "requirements.txt"],
    )
    return Incident(
        name=f"partner-bulk-requote-{ctx.seed}",
        service=svc.name,
        truth="traffic-surge",
        description=f"Partner {partner} starts a bulk re-quote at {factor:.1f}x our usual rate; workers "
        "saturate and "
        "shed with 503. A release (carrier logos) went out minutes before; replaying the shed requests "
        "against it succeeds.",
        alert=AlertSpec(
            "QuotesErrorRate", f"High 5xx on {name}", f"{name} 5xx above 2%", "trace.http.request.errors"
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config("Shedding request"),
        expectations={"repro_verdict": "not_reproduced", "fix_verified": False},
    )
