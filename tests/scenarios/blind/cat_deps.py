"""Something we call fails: a carrier's certificate expires (while an innocent release lands),
a gRPC downstream goes away."""

from __future__ import annotations

from typing import Any

from tests.scenarios.blind import repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.releases import release, repo
from tests.scenarios.blind.stacks import Svc, envoy, k8s_event


def cert_expired(ctx: Ctx) -> Incident:
    """The carrier's TLS certificate expires on the hour; a harmless release landed just before."""
    rng = ctx.rng
    name = rng.choice(["shipping-quotes", "freight-rates", "parcel-pricing"])
    carrier = rng.choice(["api.parcelhub.example", "rates.fastfreight.example"])
    svc = Svc.make(rng, name, "python", replicas=3)
    h = repo(ctx, "carrier", name.replace("-", "_"))
    tel = ctx.telemetry()
    onset = float(-rng.randint(4, 18))  # certificates expire on the minute
    expiry = tel.at(onset).strftime("%b %d %H:%M:%S %Y GMT")
    traffic(
        tel,
        svc,
        flat(rng.uniform(200, 500)),
        [("POST", "/v1/quotes"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, 0.9)),
        error_status=(502,),
        p99=flat(0.4),
    )

    def tls(t: Any) -> dict[str, Any]:
        body = {
            "weight_kg": round(rng.uniform(0.3, 25), 1),
            "from": "NL-1012",
            "to": f"BE-{rng.randrange(1000, 9999)}",
        }
        return svc.line(
            "ERROR",
            f"carrier quote failed: requests.exceptions.SSLError: HTTPSConnectionPool(host='{carrier}', "
            "port=443): Max retries exceeded with url: /v2/rates (Caused by "
            "SSLError(SSLCertVerificationError("
            "1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired "
            "(_ssl.c:1006)')))",
            logger="app.carrier",
            carrier=carrier,
            request={"method": "POST", "path": "/v1/quotes", "body": body},
        )

    tel.stream(step(onset, 0, 14), tls)
    tel.series(
        "probe_ssl_earliest_cert_expiry_seconds",
        lambda m: (onset - m) * 60,
        noise=0.0,
        digits=0,
        service=name,
        instance=f"https://{carrier}",
    )
    tel.log(
        tel.at(-60), svc.line("WARNING", f"certificate for {carrier} expires {expiry}", logger="cert-watch")
    )
    pod_resources(tel, svc)
    background(tel, svc)
    pk = name.replace("-", "_")
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(4, 9),
        "release: carrier logos, pin urllib3",
        [f"{pk}/logos.py", "requirements.txt"],
    )
    return Incident(
        name=f"carrier-cert-expired-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"{carrier}'s certificate expired at {expiry}; every quote fails TLS verification. A "
        "release "
        "landed minutes before; replaying a failed quote against it succeeds.",
        alert=AlertSpec(
            "QuotesHigh5xx", f"High 5xx on {name}", f"{name} 5xx ratio 88%", "trace.http.request.errors"
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=repos.service_config("carrier quote failed"),
        expectations={"repro_verdict": "not_reproduced", "fix_verified": False},
    )


def grpc_unavailable(ctx: Ctx) -> Incident:
    """The ranking service we call over gRPC crash-loops; we serve errors and unranked fallbacks."""
    rng = ctx.rng
    name = rng.choice(["feed-api", "home-timeline", "discovery"])
    down = rng.choice(["ranking", "ranker-svc", "personalize"])
    svc = Svc.make(rng, name, "zap", replicas=4)
    other = Svc.make(rng, down, "zap", replicas=3)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 16)
    traffic(
        tel,
        svc,
        flat(rng.uniform(1000, 2000)),
        [("GET", "/v1/feed"), ("GET", "/v1/feed/more"), ("GET", "/readyz")],
        errors=plus(flat(0.001), step(onset, 0, 0.12, ramp=2)),
        error_status=(503,),
        p99=step(onset, 0.25, 2.1),
        access="envoy",
        upstream=f"outbound|50051||{down}.{down}.svc.cluster.local",
    )
    tel.series(
        "grpc_client_handled_total",
        step(onset, 1400, 300, ramp=2),
        noise=0.04,
        digits=0,
        service=name,
        grpc_service=f"{down}.v1.Ranker",
        grpc_code="OK",
    )
    tel.series(
        "grpc_client_handled_total",
        step(onset, 0.5, 1100, ramp=2),
        noise=0.06,
        digits=0,
        service=name,
        grpc_service=f"{down}.v1.Ranker",
        grpc_code="Unavailable",
    )
    ip = f"10.4.{rng.randrange(1, 9)}.{rng.randrange(2, 250)}"
    tel.stream(
        step(onset, 0, 14, ramp=2),
        lambda t: svc.line(
            "error",
            "rank candidates failed",
            caller="feed/rank.go:61",
            error=rng.choice(
                [
                    'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
                    f'dialing: dial tcp {ip}:50051: connect: connection refused"',
                    "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
                ]
            ),
            grpc_service=f"{down}.v1.Ranker",
        ),
    )
    tel.stream(
        step(onset, 0, 6),
        lambda t: svc.line(
            "warn", "ranking unavailable, serving unranked feed", caller="feed/fallback.go:23"
        ),
    )
    tel.stream(
        step(onset - 1, 0, 0.8),
        lambda t: k8s_event(
            other,
            other.pod(),
            "BackOff",
            f"Back-off restarting failed container {down} in pod {other.pod().name}",
        ),
    )
    tel.stream(
        step(onset - 1, 0, 0.8),
        lambda t: other.line(
            "error",
            "failed to load model shard: open /models/ranker-v31/shard-03.bin: no such file or directory",
            caller="model/load.go:40",
        ),
    )
    tel.stream(
        flat(3),
        lambda t: envoy(other, t, "POST", f"/{down}.v1.Ranker/Rank", 200, rng.randrange(8, 40)),
        end=onset - 1,
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"grpc-downstream-down-{ctx.seed}",
        service=name,
        truth="dependency-failure",
        description=f"{down} crash-loops (a model shard is missing); {name} gets UNAVAILABLE / "
        "DEADLINE_EXCEEDED "
        "and serves 503s or unranked fallbacks.",
        alert=AlertSpec(
            "FeedAvailability",
            f"{name} availability SLO burn",
            f"{name} 503 ratio 11%",
            "envoy_cluster_upstream_rq",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(6, 40)),
        service_extra={"depends_on": [down]},
        other_services=[{"name": down, "hosts": [f"{down}.{down}.svc.cluster.local", f"{ip}:50051"]}],
    )
