"""Alerts with no incident behind them: a latency threshold that flaps on an endpoint's ordinary
jitter, a traffic alert fired by a scrape gap while requests flow as usual, 410s of a retired
endpoint counted as errors."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import RED, Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, iso
from tests.scenarios.blind.stacks import Svc, nginx


def flapping(ctx: Ctx) -> Incident:
    """A p99 threshold sits inside the endpoint's normal swing; the alert fires for the ninth time today."""
    rng = ctx.rng
    name = rng.choice(["export-api", "invoices-search", "admin-reports"])
    svc = Svc.make(rng, name, rng.choice(["spring", "zap"]), replicas=3)
    tel = ctx.telemetry()
    period = rng.uniform(17, 29)
    traffic(
        tel,
        svc,
        flat(rng.uniform(60, 140)),
        [("GET", "/api/exports"), ("GET", "/api/exports/{id}")],
        errors=flat(0.004),
        p99=lambda m: 0.48 + 0.07 * math.sin(m / period * 2 * math.pi + 1.3),
        log_share=0.3,
    )
    for k in range(8):
        at = -tel.before + 10 + k * (tel.before - 12) / 8
        for state, prev, when in (("Alerting", "Normal", at), ("Normal", "Alerting", at + rng.uniform(3, 9))):
            tel.log(
                tel.at(when),
                {
                    "service": "grafana",
                    "level": "info",
                    "logger": "ngalert.state.manager",
                    "message": f'msg="Alert state changed" rule="{name} p99 latency" '
                    f"prev={prev} next={state}",
                    "alert_count_24h": 1 + k,
                },
            )
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARN" if svc.stack == "spring" else "warn",
            f"export of {rng.randrange(2000, 90000)} rows took {rng.randrange(400, 900)}ms",
        ),
    )
    pod_resources(tel, svc, cpu=0.15)
    background(tel, svc)
    return Incident(
        name=f"flapping-latency-alert-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description="A 500 ms p99 threshold sits inside the export endpoint's ordinary 420-550 ms swing; the "
        "alert has fired and resolved eight times today. Errors, traffic and resources are steady.",
        alert=AlertSpec(
            "ExportsLatencyP99",
            f"{name} p99 latency above 500ms",
            f"{name} p99 0.53s for 2m",
            RED[svc.stack][2],
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 60)),
    )


def scrape_gap(ctx: Ctx) -> Incident:
    """Prometheus stops scraping the service (its target times out); 'no traffic' fires, requests flow."""
    rng = ctx.rng
    name = rng.choice(["orders-web", "storefront-api", "accounts-web"])
    svc = Svc.make(rng, name, rng.choice(["python", "logrus"]), replicas=4)
    tel = ctx.telemetry()
    gap = ctx.onset(8, 14)
    traffic(
        tel,
        svc,
        flat(rng.uniform(500, 900)),
        [("GET", "/"), ("GET", "/api/orders"), ("GET", "/healthz")],
        errors=flat(0.002),
        p99=flat(0.3),
        log_share=0.05,
    )
    counter_name = RED[svc.stack][0]
    tel.metrics = [s for s in tel.metrics if not (s[1] == counter_name and s[0] >= tel.at(gap))]
    tel.series("up", lambda m: 1.0 if m < gap else 0.0, noise=0.0, digits=0, service=name, job=name)
    tel.series(
        "scrape_duration_seconds", lambda m: 0.8 if m < gap else 10.0, noise=0.05, service=name, job=name
    )
    tel.series(
        "prometheus_tsdb_head_series",
        flat(2.9e6),
        noise=0.01,
        digits=0,
        service="prometheus",
        instance="prometheus-k8s-0",
    )

    def failed(t: datetime) -> dict[str, Any]:
        return {
            "service": "prometheus",
            "level": "debug",
            "logger": "scrape",
            "message": f'ts={iso(t)} caller=scrape.go:1400 level=debug component="scrape manager" '
            f"scrape_pool=serviceMonitor/{name}/{name}/0 target=http://10.2.{rng.randrange(1, 9)}."
            f'{rng.randrange(2, 250)}:9102/metrics msg="Scrape failed" err="Get \\"http://.../metrics\\": '
            'context deadline exceeded"',
        }

    tel.stream(lambda m: 4.0 if m >= gap else 0.0, failed)
    tel.stream(flat(0.2), lambda t: svc.line("warning", "metrics registry has 41200 series for label route"))
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"scrape-gap-no-traffic-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description="The service's /metrics grew slow to render (high label cardinality) and "
        "Prometheus's scrape "
        "times out; the request counter goes absent and 'traffic dropped to zero' fires. The "
        "access log shows "
        "requests, errors and latency exactly as before.",
        alert=AlertSpec(
            "TrafficDropped",
            f"{name} receives no requests",
            f"rate({counter_name}[5m]) == 0 or absent for 5m",
            counter_name,
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 60)),
    )


def retired_endpoint(ctx: Ctx) -> Incident:
    """An old app version polls an endpoint retired last week; a 4xx-counting alert fires on its 410s."""
    rng = ctx.rng
    name = rng.choice(["mobile-api", "app-backend", "consumer-api"])
    svc = Svc.make(rng, name, "logrus", replicas=4)
    tel = ctx.telemetry()
    old = rng.choice(["7.2.1", "7.3.0", "7.1.4"])
    rate = rng.uniform(800, 1500)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/v3/home"), ("GET", "/v3/orders"), ("GET", "/healthz")],
        errors=flat(0.001),
        p99=flat(0.25),
        log_share=0.02,
    )
    tel.series("http_requests_total", flat(rate * 0.05), noise=0.1, digits=0, service=name, code="410")
    tel.stream(
        flat(rate * 0.05 * 0.02),
        lambda t: nginx(svc, t, "GET", "/v2/inbox/poll", 410, 0.002, agent=f"AcmeApp/{old} (Android 11)"),
    )
    tel.stream(flat(0.3), lambda t: svc.line("warning", "deprecated header X-App-Session used"))
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"retired-endpoint-410s-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description=f"App {old}, still on a few thousand phones, polls /v2/inbox/poll, retired "
        "last week with "
        "410 Gone; an alert that counts every 4xx as an error crosses its threshold as that version's "
        "users wake up. Nothing is broken and the rate is the same all afternoon.",
        alert=AlertSpec(
            "ClientErrorsHigh",
            f"{name} error responses above 4%",
            f"{name} 4xx+5xx ratio 5.1% over 15m",
            "http_requests_total",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(30, 90)),
    )
