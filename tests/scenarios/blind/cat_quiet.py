"""Alerts with nothing behind them: a ratio over a tiny denominator, a probe's own outage, a tight apdex."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import blip, deploy, flat, hexsha, history, plus, step
from tests.scenarios.blind.stacks import Svc


def _quiet(ctx: Ctx, name: str, stack: str) -> tuple[Svc, Any]:
    rng = ctx.rng
    svc = Svc.make(rng, name, stack, replicas=3)
    tel = ctx.telemetry()
    return svc, tel


def night_blip(ctx: Ctx) -> Incident:
    """At 3am a handful of ordinary errors over a tiny denominator trips the ratio alert."""
    rng = ctx.rng
    ctx.alert_at = ctx.alert_at.replace(hour=3, minute=rng.randrange(0, 59))
    name = rng.choice(["admin-portal", "partner-api", "reports-api"])
    svc, tel = _quiet(ctx, name, rng.choice(["spring", "python"]))
    traffic(
        tel,
        svc,
        flat(rng.uniform(25, 60)),
        [("GET", "/api/reports"), ("GET", "/healthz")],
        errors=plus(flat(0.01), blip(-4, 2, 0, 0.06)),
        p99=flat(0.5),
        log_share=0.5,
    )
    err = (
        "Request failed: java.net.SocketTimeoutException: Read timed out"
        if svc.stack == "spring"
        else "Internal Server Error: /api/reports"
    )
    tel.stream(plus(flat(0.4), blip(-4, 2, 0, 1.2)), lambda t: svc.line("ERROR", err, logger="app.errors"))
    pod_resources(tel, svc, mem_gib=0.5, cpu=0.05)
    background(tel, svc)
    return Incident(
        name=f"night-ratio-blip-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description="Three ordinary errors out of forty requests at 3am trip a 5% ratio alert; the same "
        "errors "
        "occur all night.",
        alert=AlertSpec(
            "ErrorRatioHigh",
            f"High 5xx on {name}",
            f"{name} 5xx ratio 7.5% over 5m",
            "http_server_requests_seconds_count",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 2, newest_hours=rng.uniform(6, 20)),
    )


def probe_flake(ctx: Ctx) -> Incident:
    """One synthetic probe location loses its own connectivity; the service is fine."""
    rng = ctx.rng
    name = rng.choice(["checkout-web", "signup-web", "docs-site"])
    svc, tel = _quiet(ctx, name, "zap")
    traffic(
        tel,
        svc,
        flat(rng.uniform(600, 1200)),
        [("GET", "/"), ("POST", "/api/submit"), ("GET", "/readyz")],
        errors=flat(0.002),
        p99=flat(0.3),
    )
    onset = ctx.onset(3, 10)
    for loc in ("frankfurt", "virginia", rng.choice(["sao-paulo", "singapore", "sydney"])):
        bad = loc not in ("frankfurt", "virginia")
        tel.series(
            "probe_success",
            step(onset, 1, 0.3 if bad else 1),
            noise=0.0 if not bad else 0.2,
            digits=2,
            service="synthetics",
            probe_location=loc,
            target=f"https://{name}.acme.example/",
        )
    tel.stream(
        flat(0.6),
        lambda t: svc.line(
            "warn", "client closed connection before response was written", caller="server/conn.go:211"
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"synthetic-probe-flake-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description="One synthetic-check location loses its own uplink and reports the site down; real "
        "traffic "
        "and error rates are normal.",
        alert=AlertSpec(
            "SyntheticCheckFailing",
            f"{name} synthetic check failing",
            "synthetics check failed from 1 of 3 locations",
            "synthetics.http.check",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(8, 30)),
    )


def deploy_apdex_flap(ctx: Ctx) -> Incident:
    """An apdex alert flaps right after an uneventful deploy; nothing moved beyond its usual noise."""
    rng = ctx.rng
    name = rng.choice(["catalog-web", "blog-api", "help-center"])
    svc, tel = _quiet(ctx, name, rng.choice(["logrus", "spring"]))
    traffic(
        tel,
        svc,
        plus(flat(rng.uniform(500, 900)), blip(-70, 5, 0, 150)),
        [("GET", "/"), ("GET", "/api/articles")],
        errors=flat(0.003),
        p99=plus(flat(0.45), blip(-70, 5, 0, 0.2), blip(-3, 2, 0, 0.12)),
    )
    tel.stream(flat(0.25), lambda t: svc.line("warn", "template cache evicted 40 entries"))
    pod_resources(tel, svc)
    background(tel, svc, rate=0.5)
    deploys = history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 40))
    deploys.append(
        deploy(
            rng,
            name,
            ctx.alert_at - timedelta(minutes=rng.uniform(6, 14)),
            hexsha(rng),
            "argocd",
            "Update article footer copy",
            ["templates/footer.html"],
            deploys[-1]["commit"],
        )
    )
    return Incident(
        name=f"apdex-flap-after-deploy-{ctx.seed}",
        service=name,
        truth="false-alarm",
        description="An apdex monitor tuned too tight flaps minutes after a copy-only deploy; latency and "
        "errors "
        "are within their normal range (a bigger cron blip happened an hour earlier).",
        alert=AlertSpec(
            "ApdexLow",
            f"{name} apdex below 0.94",
            f"{name} apdex 0.93",
            "trace.http.request.apdex",
            severity="warning",
        ),
        tel=tel,
        deploys=deploys,
    )
