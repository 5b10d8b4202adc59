"""One node or zone bad while the rest of the fleet is fine."""

from __future__ import annotations

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc, k8s_event


def noisy_neighbour(ctx: Ctx) -> Incident:
    """A batch job lands on one node; the replica there is starved of CPU and slow."""
    rng = ctx.rng
    name = rng.choice(["catalog-api", "user-profile", "content-api"])
    svc = Svc.make(rng, name, "zap", replicas=rng.randint(4, 6))
    bad = svc.pods[rng.randrange(len(svc.pods))]
    tel = ctx.telemetry()
    onset = ctx.onset(5, 25)
    traffic(
        tel,
        svc,
        flat(rng.uniform(800, 1500)),
        [("GET", "/v2/items"), ("GET", "/readyz")],
        errors=flat(0.0015),
        p99=step(onset, 0.18, 1.6, ramp=3),
    )
    for pod in svc.pods:
        hot = pod is bad
        tel.series(
            "container_cpu_cfs_throttled_periods_total",
            step(onset, 30, 2900 if hot else 32, ramp=2),
            noise=0.1,
            digits=0,
            service=name,
            pod=pod.name,
            node=pod.node,
        )
        tel.series(
            "node_cpu_seconds_total",
            step(onset, 0.2, 3.9 if hot else 0.21, ramp=2),
            noise=0.05,
            service="node-exporter",
            instance=pod.node,
            mode="steal",
        )
        tel.series(
            "node_load1",
            step(onset, 3.1, 31 if hot else 3.2, ramp=2),
            noise=0.05,
            service="node-exporter",
            instance=pod.node,
        )
        tel.series(
            "pod_request_duration_seconds:p99",
            step(onset, 0.17, 2.8 if hot else 0.18, ramp=2),
            noise=0.06,
            service=name,
            pod=pod.name,
            node=pod.node,
        )
    tel.log(
        tel.at(onset - 0.5),
        {
            **k8s_event(
                svc,
                bad,
                "Scheduled",
                f"Successfully assigned batch/etl-spark-exec-{rng.randrange(1, 40)} to {bad.node}",
                kind="Normal",
                obj="Pod/etl-spark-exec",
            ),
            "source": "default-scheduler",
        },
    )
    tel.stream(
        step(onset, 0, 5, ramp=2),
        lambda t: svc.line(
            "warn",
            f"slow request: GET /v2/items took {rng.randrange(1200, 4000)}ms",
            pod=bad,
            caller="mw/timing.go:40",
        ),
    )
    tel.stream(
        step(onset, 0, 1.5, ramp=2),
        lambda t: svc.line(
            "error", "cache refresh failed: context deadline exceeded", pod=bad, caller="cache/refresh.go:88"
        ),
    )
    tel.stream(
        flat(0.5),
        lambda t: svc.line(
            "warn",
            f"slow request: GET /v2/items/export took {rng.randrange(1500, 3000)}ms",
            caller="mw/timing.go:40",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"noisy-neighbour-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description=f"A Spark executor is scheduled on {bad.node}; the {name} replica there is throttled and "
        "slow "
        "while the other replicas are fine.",
        alert=AlertSpec(
            "LatencyP99High",
            f"{name} p99 latency above 1s",
            f"{name} p99 latency 1.6s",
            "service:http_request_duration_seconds:p99",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(3, 30)),
    )


def node_not_ready(ctx: Ctx) -> Incident:
    """A node stops reporting; its pods stay in the endpoints until eviction: resets and 503s."""
    rng = ctx.rng
    name = rng.choice(["orders-api", "cart-api", "accounts-api"])
    svc = Svc.make(rng, name, "logrus", replicas=6)
    bad = svc.pods[rng.randrange(len(svc.pods))]
    gone = [p for p in svc.pods if p.node == bad.node]
    share = len(gone) / len(svc.pods)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 9)
    traffic(
        tel,
        svc,
        flat(rng.uniform(700, 1300)),
        [("GET", "/api/orders"), ("POST", "/api/orders"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, share * 0.8)),
        error_status=(503,),
        p99=step(onset, 0.2, 3.0),
        access="envoy",
        upstream=f"outbound|8080||{name}.prod.svc.cluster.local",
    )
    tel.series(
        "kube_node_status_condition",
        step(onset, 1, 0),
        noise=0.0,
        digits=0,
        service="kube-state-metrics",
        node=bad.node,
        condition="Ready",
        status="true",
    )
    tel.series(
        "up", step(onset, 1, 0), noise=0.0, digits=0, service="node-exporter", instance=f"{bad.node}:9100"
    )
    tel.log(
        tel.at(onset + 0.7),
        k8s_event(
            svc, bad, "NodeNotReady", f"Node {bad.node} status is now: NodeNotReady", obj=f"Node/{bad.node}"
        ),
    )
    for pod in gone:
        tel.log(
            tel.at(onset + 0.8),
            k8s_event(svc, pod, "NodeNotReady", "Node is not ready", obj=f"Pod/{pod.name}"),
        )
    tel.stream(
        step(onset, 0, 12),
        lambda t: svc.line(
            "error",
            f"upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
            f"transport failure reason: delayed connect error: 113 (upstream {bad.node})",
            upstream_host=f"10.{rng.randrange(0, 4)}.{rng.randrange(16, 250)}.{rng.randrange(2, 250)}:8080",
            node_upstream=bad.node,
        ),
    )
    tel.stream(
        flat(0.3), lambda t: svc.line("warning", "kafka producer: broker 3 metadata refresh took 1.4s")
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"node-not-ready-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description=f"{bad.node} stops reporting (kernel hang); its replicas stay in the endpoints and "
        "requests routed "
        "to them fail with connection errors until eviction.",
        alert=AlertSpec(
            "High5xx",
            f"High 5xx on {name}",
            f"{name} 503 ratio {share * 80:.0f}%",
            "envoy_cluster_upstream_rq_xx",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(5, 40)),
    )


def zone_packet_loss(ctx: Ctx) -> Incident:
    """Packet loss on the network path out of one availability zone: that zone's replicas time out."""
    rng = ctx.rng
    name = rng.choice(["sessions", "auth-api", "token-service"])
    svc = Svc.make(rng, name, "zap", replicas=6)
    zone = rng.choice(["us-east-1a", "us-east-1b", "us-east-1c"])
    bad = [p for p in svc.pods if p.zone == zone]
    tel = ctx.telemetry()
    onset = ctx.onset(4, 20)
    traffic(
        tel,
        svc,
        flat(rng.uniform(1500, 3000)),
        [("POST", "/oauth/token"), ("GET", "/session"), ("GET", "/readyz")],
        errors=plus(flat(0.001), step(onset, 0, 0.1, ramp=2)),
        error_status=(500, 504),
        p99=step(onset, 0.08, 1.2),
    )
    for z in ("us-east-1a", "us-east-1b", "us-east-1c"):
        tel.series(
            "node_netstat_Tcp_RetransSegs",
            step(onset, 120, 9500 if z == zone else 130, ramp=2),
            noise=0.08,
            digits=0,
            service="node-exporter",
            zone=z,
        )
        tel.series(
            "probe_success",
            step(onset, 1, 0.55 if z == zone else 1, ramp=2),
            noise=0.02,
            digits=2,
            service="blackbox-exporter",
            zone=z,
            target="redis-sessions:6379",
        )
    tel.stream(
        step(onset, 0, 14, ramp=2),
        lambda t: svc.line(
            "error",
            rng.choice(
                [
                    "redis: get session: read tcp 10.1.44.7:51122->10.1.9.20:6379: i/o timeout",
                    "pq: could not receive data from server: connection timed out",
                    "redis: connection pool timeout",
                ]
            ),
            pod=rng.choice(bad),
            caller="store/session.go:97",
        ),
    )
    tel.stream(
        flat(0.4),
        lambda t: svc.line("warn", "jwks refresh: using cached keys (age 11m)", caller="auth/jwks.go:51"),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"zone-packet-loss-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description=f"Packet loss out of {zone}: replicas there time out on Redis and PostgreSQL; other "
        "zones are fine.",
        alert=AlertSpec(
            "TokenErrors", f"{name} error rate above 2%", f"{name} 5xx 10%", "http_requests_total"
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(10, 60)),
    )
