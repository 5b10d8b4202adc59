"""Dependencies fail us: a vendor's one region (while an innocent release lands), a retry storm
that keeps a 40-second blip going, a managed Redis failover that leaves clients on the replica."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind import repos as blind_repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import blip, flat, history, plus, step
from tests.scenarios.blind.releases import release
from tests.scenarios.blind.stacks import Svc
from tests.scenarios.fresh.formats import counter
from tests.scenarios.fresh.repos import repo

REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-1")


def vendor_region(ctx: Ctx) -> Incident:
    """The object store's one region answers 503 SlowDown / InternalError; a release landed minutes before."""
    rng = ctx.rng
    name = rng.choice(["media-uploads", "avatar-service", "attachments-api"])
    pk = name.replace("-", "_")
    svc = Svc.make(rng, name, "python", replicas=4)
    h = repo(ctx, "uploads", pk)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 15)
    bad = rng.choice(REGIONS)
    rate = rng.uniform(200, 400)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/v1/uploads"), ("GET", "/v1/uploads/{id}"), ("GET", "/healthz")],
        errors=plus(flat(0.002), step(onset, 0, 0.3 * 0.6, ramp=2)),
        error_status=(502, 503),
        p99=flat(1.1),
    )
    for region in REGIONS:
        share = 0.3 if region == bad else 0.35
        counter(
            tel,
            "object_store_requests_total",
            step(onset, rate * share, rate * share * (0.4 if region == bad else 1)),
            5e7,
            service=name,
            region=region,
            code="200",
        )
        counter(
            tel,
            "object_store_requests_total",
            step(onset, 0.02, rate * share * (1.8 if region == bad else 0.0002)),
            900,
            noise=0.1,
            service=name,
            region=region,
            code="503",
        )

    def failed(t: datetime) -> dict[str, Any]:
        body = {
            "name": f"{svc.trace()[:12]}.jpg",
            "bytes": rng.randrange(20000, 8 * 1024 * 1024),
            "region": bad,
        }
        err = rng.choice(
            [
                "An error occurred (SlowDown) when calling the PutObject operation (reached max retries: "
                "4): Please reduce your request rate.",
                "An error occurred (InternalError) when calling the PutObject operation (reached max "
                "retries: 4): We encountered an internal error. Please try again.",
            ]
        )
        return svc.line(
            "ERROR",
            f"upload failed: botocore.exceptions.ClientError: {err}",
            logger="app.uploads",
            bucket=f"media-{bad.replace('-', '')[:6]}",
            request={"method": "POST", "path": "/v1/uploads", "body": body},
        )

    tel.stream(step(onset, 0, rate * 0.18 * 0.05, ramp=2), failed)
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARNING",
            "PIL.Image.DecompressionBombWarning: Image size (98000000 pixels) exceeds limit",
            logger="py.warnings",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(2, 6),
        "release: thumbnail presets, bump Pillow",
        [f"{pk}/presets.py", "requirements.txt"],
    )
    return Incident(
        name=f"vendor-one-region-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"The object store's {bad} region answers SlowDown / InternalError to most PUTs; uploads "
        "from users homed there fail, the other regions are fine. A release went out minutes before; "
        "replaying a failed upload against it succeeds.",
        alert=AlertSpec(
            "UploadsErrorRate",
            f"{name} error rate above 5%",
            f"{name} 5xx 17% over 5m",
            "django_http_responses_total_by_status_total",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=blind_repos.service_config("upload failed"),
        expectations={"repro_verdict": "not_reproduced", "fix_verified": False},
    )


def retry_storm(ctx: Ctx) -> Incident:
    """The auth service hiccups for 40 seconds; three immediate retries per call keep it down "
    "for twenty minutes."""
    rng = ctx.rng
    name = rng.choice(["checkout-api", "orders-gateway", "cart-api"])
    auth = rng.choice(["auth-service", "token-introspect", "identity-api"])
    svc = Svc.make(rng, name, "logrus", replicas=6)
    other = Svc.make(rng, auth, "zap", replicas=3)
    tel = ctx.telemetry()
    onset = ctx.onset(12, 25)
    rate = rng.uniform(800, 1500)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/api/checkout"), ("GET", "/api/cart"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, 0.22, ramp=1)),
        error_status=(503,),
        p99=step(onset, 0.3, 3.0, ramp=1),
    )
    counter(
        tel,
        "http_client_requests_total",
        step(onset, rate, rate * 3.6, ramp=1),
        6e7,
        service=name,
        peer=auth,
        outcome="attempt",
    )
    counter(
        tel, "http_client_retries_total", step(onset, 0.5, rate * 2.5, ramp=1), 4e4, service=name, peer=auth
    )
    tel.series(
        "http_request_duration_seconds:p99",
        plus(flat(0.02), blip(onset, 0.7, 0, 2.0), step(onset + 0.7, 0, 1.4)),
        service=auth,
        handler="/oauth/introspect",
    )
    tel.series("grpc_server_started_total", step(onset, rate, rate * 3.6, ramp=1), digits=0, service=auth)
    for pod in other.pods:
        tel.series(
            "container_cpu_usage_seconds_total",
            step(onset, 0.4, 1.98, ramp=1),
            service=auth,
            pod=pod.name,
            container=auth,
        )
    tel.log(
        tel.at(onset - 0.1),
        other.line(
            "warn", "leader election lost, re-syncing signing keys from KMS", caller="keys/leader.go:77"
        ),
    )
    tel.log(
        tel.at(onset + 0.6),
        other.line("info", "signing keys synced (3 keys), serving", caller="keys/leader.go:102"),
    )
    tel.stream(
        step(onset + 0.7, 0, 4),
        lambda t: other.line(
            "warn", "shedding request: in-flight limit 512 reached", caller="server/limit.go:31"
        ),
    )

    def retry(t: datetime) -> dict[str, Any]:
        attempt = rng.randint(1, 3)
        return svc.line(
            "warning",
            f"introspect token failed, retrying ({attempt}/3)",
            peer=auth,
            error=rng.choice(
                [
                    f'Post "http://{auth}.prod.svc:8080/oauth/introspect": context deadline '
                    "exceeded (Client.Timeout exceeded while awaiting headers)",
                    f"unexpected status 503 from {auth}",
                ]
            ),
            backoff="0s",
        )

    tel.stream(step(onset, 0, 30, ramp=1), retry)
    tel.stream(
        step(onset, 0, 8, ramp=1),
        lambda t: svc.line(
            "error", "request failed: authenticate: giving up after 3 retries", peer=auth, status=503
        ),
    )
    tel.stream(flat(0.3), lambda t: svc.line("warning", "cart: promo engine answered slowly (1.2s)"))
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"retry-storm-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"{auth} pauses for 40 seconds on a leader election; {name} retries each "
        "call three times "
        "without backoff, quadrupling the load, so the dependency stays saturated and shedding for twenty "
        "minutes after it recovered.",
        alert=AlertSpec(
            "CheckoutAvailability",
            f"{name} availability SLO burn",
            f"{name} 503 ratio 21%",
            "http_requests_total",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(8, 60)),
        service_extra={"depends_on": [auth]},
        other_services=[{"name": auth}],
    )


def redis_failover(ctx: Ctx) -> Incident:
    """A managed Redis fails over; pooled connections still point at the demoted node: READONLY on writes."""
    rng = ctx.rng
    name = rng.choice(["session-api", "cart-service", "rate-limiter"])
    cache = f"{name}-redis"
    svc = Svc.make(rng, name, "zap", replicas=5)
    tel = ctx.telemetry()
    onset = ctx.onset(5, 18)
    rate = rng.uniform(1500, 3000)
    traffic(
        tel,
        svc,
        flat(rate),
        [("PUT", "/v1/session"), ("GET", "/v1/session"), ("GET", "/readyz")],
        errors=plus(flat(0.001), step(onset, 0, 0.38)),
        error_status=(500,),
        p99=flat(0.05),
    )
    tel.series(
        "redis_connected_slaves",
        step(onset, 1, 0),
        noise=0.0,
        digits=0,
        service=cache,
        instance=f"{cache}-001:9121",
    )
    tel.series(
        "redis_instance_info",
        flat(1),
        noise=0.0,
        digits=0,
        service=cache,
        instance=f"{cache}-002:9121",
        role="master",
    )
    counter(
        tel,
        "redis_commands_processed_total",
        step(onset, rate * 3, rate * 1.7),
        4e10,
        service=cache,
        instance=f"{cache}-001:9121",
    )
    tel.log(
        tel.at(onset - 0.4),
        {
            "service": cache,
            "level": "info",
            "logger": "aws.elasticache",
            "message": f"Failover from master node {cache}-001 to replica node {cache}-002 completed",
            "source_type": "replication-group",
        },
    )
    tel.stream(
        step(onset, 0, 22),
        lambda t: svc.line(
            "error",
            "save session failed",
            caller="store/redis.go:64",
            error="READONLY You can't write against a read only replica.",
            key=f"sess:{svc.trace()[:20]}",
        ),
    )
    tel.stream(
        flat(0.4),
        lambda t: svc.line("warn", "redis: pool stats hits=0.99 timeouts=0", caller="store/redis.go:30"),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"redis-failover-readonly-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"ElastiCache promotes {cache}-002; the service's pooled connections still reach the "
        "demoted node, so every write answers READONLY until the pods are restarted.",
        alert=AlertSpec("SessionWrites5xx", f"{name} 5xx above 1%", f"{name} 5xx 38%", "http_requests_total"),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(5, 70)),
        service_extra={"depends_on": [cache]},
        other_services=[{"name": cache}],
    )
