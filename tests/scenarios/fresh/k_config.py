"""Configuration changes: a flag ramped to a percentage of traffic, an ingress rate limit
tightened in Git, a rotated API key that belongs to another project."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import Curve, deploy, flat, hexsha, history, step
from tests.scenarios.blind.stacks import Svc, k8s_event, nginx
from tests.scenarios.fresh.formats import counter, java_trace, logfmt, plain


def _stages(onset: float, shares: list[float], gap: float) -> Curve:
    """The rollout percentage: each stage `gap` minutes after the previous, the last at `onset`."""
    starts = [onset - gap * (len(shares) - 1 - i) for i in range(len(shares))]
    return lambda m: max([0.0] + [s for at, s in zip(starts, shares, strict=True) if m >= at])


def flag_percent(ctx: Ctx) -> Incident:
    """A flag's percentage rollout sends a growing share of searches through a slow reranker."""
    rng = ctx.rng
    name = rng.choice(["search-api", "query-service", "discovery-search"])
    svc = Svc.make(rng, name, "zap", replicas=5)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 12)
    gap = rng.uniform(15, 30)
    shares = [0.05, 0.2, 0.5]
    share = _stages(onset, shares, gap)
    flag = rng.choice(["search.semantic-rerank", "search.vector-recall", "ranking.ltr-v2"])
    rate = rng.uniform(900, 1800)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/v1/search?q=jacket"), ("GET", "/v1/suggest?q=ja"), ("GET", "/readyz")],
        errors=lambda m: 0.001 + share(m) * 0.03,
        error_status=(504,),
        p99=lambda m: 0.25 + share(m) * 2.4,
        access="envoy",
        upstream=f"inbound|8080||{name}.prod.svc.cluster.local",
    )
    counter(
        tel, "rerank_requests_total", lambda m: rate * share(m), 0, service=name, model="cross-encoder-v3"
    )
    tel.series(
        "rerank_request_duration_seconds:p99",
        lambda m: 1.9 if share(m) else 0.0,
        noise=0.08,
        service=name,
        model="cross-encoder-v3",
    )
    for pct, at in zip(
        shares, [onset - gap * (len(shares) - 1 - i) for i in range(len(shares))], strict=True
    ):
        for pod in svc.pods:
            tel.log(
                tel.at(at + rng.uniform(0.01, 0.2)),
                logfmt(
                    svc,
                    tel.at(at),
                    "info",
                    "flag configuration updated",
                    pod=pod,
                    caller="flags/stream.go:118",
                    flag=flag,
                    rollout=f"{pct * 100:.0f}%",
                    version=rng.randrange(200, 900),
                    source="flagd-sync",
                ),
            )

    def timeout(t: datetime) -> dict[str, Any]:
        return logfmt(
            svc,
            t,
            "error",
            "rerank failed, serving recall order",
            caller="search/rerank.go:74",
            err="context deadline exceeded",
            flag=flag,
            deadline="2s",
            q_len=rng.randint(1, 9),
        )

    tel.stream(lambda m: rate * share(m) * 0.03 * 0.5, timeout)
    tel.stream(
        flat(0.4),
        lambda t: logfmt(
            svc,
            t,
            "warn",
            "suggest index refresh slow",
            caller="suggest/idx.go:40",
            took=f"{rng.uniform(1.1, 2.9):.1f}s",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"flag-percent-rollout-{ctx.seed}",
        service=name,
        truth="config-change",
        description=f"{flag} is ramped 5% -> 20% -> 50% from the flag service; every stage routes more "
        "searches through a reranker with a 1.9s p99, so the service's p99 steps up with each "
        "stage. No deploy "
        "for a day.",
        alert=AlertSpec(
            "SearchLatencyP99",
            f"{name} p99 latency above 1s",
            f"{name} p99 1.4s for 10m",
            "envoy_cluster_upstream_rq_time",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 40)),
    )


def ingress_limit(ctx: Ctx) -> Incident:
    """A GitOps commit lowers the ingress rate limit; clients behind carrier NAT get 503s."""
    rng = ctx.rng
    name = rng.choice(["public-api", "mobile-bff", "app-gateway"])
    svc = Svc.make(rng, name, "logrus", replicas=6)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 16)
    rate = rng.uniform(2000, 4000)
    share = rng.uniform(0.06, 0.12)
    traffic(
        tel,
        svc,
        step(onset, rate, rate * (1 - share)),
        [("GET", "/v2/feed"), ("GET", "/v2/me"), ("POST", "/v2/events")],
        errors=flat(0.001),
        p99=flat(0.3),
        log_share=0.01,
    )
    tel.series(
        "nginx_ingress_controller_requests",
        step(onset, 0.5, rate * share),
        noise=0.1,
        digits=0,
        service=name,
        ingress=name,
        status="503",
    )
    nat = [f"100.64.{rng.randrange(0, 255)}.{rng.randrange(1, 255)}" for _ in range(6)]

    def limited(t: datetime) -> dict[str, Any]:
        ip = rng.choice(nat)
        path = rng.choice(["/v2/feed", "/v2/me", "/v2/events"])
        if rng.random() < 0.5:
            return nginx(svc, t, "GET", path, 503, 0.0, client=ip, upstream=0.0, agent="okhttp/4.12.0")
        msg = (
            f"{t.strftime('%Y/%m/%d %H:%M:%S')} [error] {rng.randrange(30, 90)}#{rng.randrange(30, 90)}: "
            f"*{rng.randrange(10**6, 10**8)} limiting requests, excess: {rng.uniform(5, 60):.3f} by zone "
            f'"{name}-limit-rps", client: {ip}, server: api.acme.example, request: "GET {path} HTTP/1.1", '
            'host: "api.acme.example"'
        )
        return {**svc.base(), "level": "error", "message": msg, "logger": "ingress-nginx", "stream": "stderr"}

    tel.stream(step(onset, 0, rate * share * 0.01), limited)
    tel.stream(flat(0.3), lambda t: svc.line("warning", "push token rejected by APNs: BadDeviceToken"))
    for pod in svc.pods[:2]:
        tel.log(
            tel.at(onset - 0.3),
            {
                **k8s_event(
                    svc,
                    pod,
                    "RELOAD",
                    "NGINX reload triggered due to a change in configuration",
                    kind="Normal",
                    obj=f"Ingress/{name}",
                ),
                "source": "nginx-ingress-controller",
            },
        )
    pod_resources(tel, svc)
    background(tel, svc)
    deploys = history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 40))
    commit = hexsha(rng)
    deploys.append(
        deploy(
            rng,
            name,
            tel.at(onset - rng.uniform(0.5, 1.5)),
            commit,
            "argocd",
            "Sync platform-gitops: ingress limit-rps 20 / burst x2 for public hosts",
            [f"apps/{name}/ingress.yaml"],
            deploys[-1]["commit"],
        )
    )
    return Incident(
        name=f"ingress-rate-limit-{ctx.seed}",
        service=name,
        truth="config-change",
        description="A GitOps sync lowers the ingress-nginx limit-rps annotation from 200 to "
        "20; phones behind "
        "a carrier's NAT share a handful of addresses and get 503 'limiting requests'. The app itself sees "
        "less traffic and no errors.",
        alert=AlertSpec(
            "PublicAvailabilitySLO",
            f"{name} availability below 99.5%",
            f"{name} ingress success ratio 91% over 5m",
            "nginx_ingress_controller_requests",
        ),
        tel=tel,
        deploys=deploys,
        expectations={"culprit_commit": commit},
    )


def rotated_key(ctx: Ctx) -> Incident:
    """The quarterly key rotation ships the sandbox project's key; the vendor answers 401 as pods roll."""
    rng = ctx.rng
    name = rng.choice(["address-validation", "geo-service", "checkout-address"])
    vendor = rng.choice(["maps.geoapi.example", "api.addressly.example"])
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry()
    onset = ctx.onset(4, 14)
    rate = rng.uniform(300, 700)
    rolled = [onset + i * rng.uniform(0.7, 1.5) for i in range(len(svc.pods))]
    bad_share: Curve = lambda m: sum(1 for r in rolled if m >= r) / len(rolled)  # noqa: E731
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/api/v1/addresses/validate"), ("GET", "/actuator/health")],
        errors=lambda m: 0.001 + 0.9 * bad_share(m),
        error_status=(502,),
        p99=flat(0.35),
    )
    tel.series(
        "http_client_requests_seconds_count",
        lambda m: rate * (1 - bad_share(m)),
        digits=0,
        service=name,
        client_name=vendor,
        status="200",
    )
    tel.series(
        "http_client_requests_seconds_count",
        lambda m: rate * bad_share(m),
        digits=0,
        service=name,
        client_name=vendor,
        status="401",
    )
    for pod, at in zip(svc.pods, rolled, strict=True):
        tel.log(tel.at(at - 0.4), k8s_event(svc, pod, "Killing", f"Stopping container {name}", kind="Normal"))
        tel.log(
            tel.at(at - 0.05),
            plain(
                svc,
                tel.at(at - 0.05),
                "INFO",
                "c.a.geo.GeoApplication",
                f"Started GeoApplication in {rng.uniform(9, 16):.3f} seconds (process running for 17.2)",
                pod=pod,
            ),
        )
    trace = java_trace(
        'org.springframework.web.client.HttpClientErrorException$Unauthorized: 401 Unauthorized: "{"error":'
        '{"code":401,"message":"API key not valid for this project.","status":"UNAUTHENTICATED"}}"',
        [
            "org.springframework.web.client.HttpClientErrorException.create(HttpClientErrorException.java:106)",
            "org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler"
            ".java:183)",
            "com.acme.geo.vendor.GeoClient.validate(GeoClient.java:77)",
            "com.acme.geo.api.ValidateController.validate(ValidateController.java:41)",
        ],
    )

    def failed(t: datetime) -> dict[str, Any]:
        return plain(
            svc,
            t,
            "ERROR",
            "c.a.geo.api.ValidateController",
            f"address validation failed for request {svc.trace()[:16]}\n{trace}",
            thread=f"http-nio-8080-exec-{rng.randrange(1, 200)}",
        )

    tel.stream(lambda m: rate * bad_share(m) * 0.02, failed)
    tel.stream(
        flat(0.3),
        lambda t: plain(
            svc,
            t,
            "WARN",
            "o.h.e.j.e.i.JdbcEnvironmentInitiator",
            "HHH000342: Could not obtain connection to query metadata",
            thread="main",
        ),
        end=-100,
    )
    pod_resources(tel, svc, mem_gib=1.1, limit_gib=2.0, cpu=0.4, cpu_limit=2.0)
    background(tel, svc)
    deploys = history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 60))
    commit = hexsha(rng)
    deploys.append(
        deploy(
            rng,
            name,
            tel.at(onset - rng.uniform(0.8, 2)),
            commit,
            "secrets-bot",
            "Quarterly credential rotation (sops): GEO_API_KEY",
            ["deploy/secrets/prod.enc.yaml"],
            deploys[-1]["commit"],
        )
    )
    return Incident(
        name=f"rotated-key-wrong-project-{ctx.seed}",
        service=name,
        truth="config-change",
        description=f"The quarterly rotation commits the sandbox project's key for {vendor}; as pods restart "
        "with it one after another, every call from them gets 401 'API key not valid for this project'.",
        alert=AlertSpec(
            "AddressValidationErrors",
            f"{name} 5xx ratio above 5%",
            f"{name} 5xx 64% over 5m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=deploys,
        expectations={"culprit_commit": commit},
    )
