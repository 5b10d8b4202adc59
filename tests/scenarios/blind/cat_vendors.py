"""A vendor API fails us: it rate-limits our account, or its hostname stops resolving."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc


def vendor_429(ctx: Ctx) -> Incident:
    """The payment vendor rate-limits our account; our retries make it worse."""
    rng = ctx.rng
    name = rng.choice(["payments-api", "billing-gateway", "subscriptions"])
    vendor = rng.choice(["api.paygate.example", "api.cardvault.example"])
    svc = Svc.make(rng, name, "spring", replicas=5)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 20)
    rate = rng.uniform(300, 700)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/api/v2/charges"), ("GET", "/api/v2/charges/{id}"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset, 0, 0.18, ramp=6)),
        error_status=(502,),
        p99=step(onset, 0.6, 4.1, ramp=4),
    )
    tel.series(
        "http_client_requests_seconds_count",
        step(onset, rate * 0.6, rate * 0.35, ramp=6),
        noise=0.05,
        digits=0,
        service=name,
        client_name=vendor,
        status="200",
    )
    tel.series(
        "http_client_requests_seconds_count",
        step(onset, 0.2, rate * 1.6, ramp=6),
        noise=0.05,
        digits=0,
        service=name,
        client_name=vendor,
        status="429",
    )
    tel.series(
        "resilience4j_retry_calls_total",
        step(onset, 1, rate * 0.9, ramp=6),
        noise=0.08,
        digits=0,
        service=name,
        name="vendorCharges",
        kind="failed_with_retry",
    )

    def limited(t: Any) -> dict[str, Any]:
        return svc.line(
            "WARN",
            f"Vendor call failed: 429 Too Many Requests from POST https://{vendor}/v1/charges: "
            '{"error":{"type":"rate_limit_error","message":"Too many requests hit the API too quickly."}}; '
            f"retry {rng.randint(1, 3)}/3 after {rng.choice([1, 2, 4])}s",
            logger="c.a.payments.VendorClient",
            vendor=vendor,
            http_status=429,
        )

    tel.stream(step(onset, 0, 20, ramp=6), limited)
    tel.stream(
        step(onset + 2, 0, 6, ramp=6),
        lambda t: svc.line(
            "ERROR",
            "Charge failed after 3 attempts: "
            "org.springframework.web.client.HttpClientErrorException$TooManyRequests: "
            "429 Too Many Requests",
            logger="c.a.payments.ChargeController",
            vendor=vendor,
        ),
    )
    pod_resources(tel, svc, mem_gib=1.0, limit_gib=2.0, cpu=0.4, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"vendor-rate-limited-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"{vendor} starts answering 429 to our account; retries triple outbound calls and "
        "charges fail.",
        alert=AlertSpec(
            "ChargesFailing",
            f"{name}: charge success rate below 95%",
            "charge success ratio 83% over 10m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(5, 40)),
    )


def nxdomain(ctx: Ctx) -> Incident:
    """The geo-IP vendor's API hostname stops resolving (NXDOMAIN)."""
    rng = ctx.rng
    name = rng.choice(["fraud-signals", "geo-enrichment", "signup-api"])
    host = rng.choice(["api.ipgeo.example", "lookup.geodata-vendor.example"])
    svc = Svc.make(rng, name, "python", replicas=3)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 22)
    traffic(
        tel,
        svc,
        flat(rng.uniform(250, 600)),
        [("POST", "/v1/score"), ("GET", "/healthz")],
        errors=plus(flat(0.002), step(onset, 0, 0.35, ramp=2)),
        p99=step(onset, 0.3, 10.2, ramp=2),
    )
    tel.stream(
        step(onset, 0, 16, ramp=2),
        lambda t: svc.line(
            "ERROR",
            f"geo lookup failed: requests.exceptions.ConnectionError: HTTPSConnectionPool(host='{host}', "
            "port=443): "
            'Max retries exceeded with url: /v1/lookup (Caused by NameResolutionError("<urllib3.connection.'
            f"HTTPSConnection object at 0x7f{rng.randrange(16**9, 16**10):x}>: Failed to resolve '{host}' "
            "([Errno -2] "
            'Name or service not known)"))',
            logger="app.geo",
        ),
    )
    tel.series(
        "coredns_dns_responses_total",
        step(onset, 3, 900, ramp=2),
        noise=0.05,
        digits=0,
        service="coredns",
        rcode="NXDOMAIN",
        server="dns://:53",
    )
    tel.series(
        "coredns_dns_responses_total",
        flat(52000),
        noise=0.03,
        digits=0,
        service="coredns",
        rcode="NOERROR",
        server="dns://:53",
    )
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARNING", "score model v14 missing feature 'device_age_days', using default", logger="app.model"
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"vendor-nxdomain-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"{host} stops resolving (the vendor's DNS zone broke); every lookup fails "
        "after retries.",
        alert=AlertSpec(
            "ScoringErrors",
            f"{name} error rate critical",
            f"{name} 5xx ratio 35%",
            "django_http_responses_total_by_status_total",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(4, 50)),
    )
