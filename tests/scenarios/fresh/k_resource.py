"""Resources run out: a JVM heap after organic growth (long G1 pauses), ephemeral ports held in
TIME_WAIT, a managed database's connection slots after the autoscaler adds replicas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import GIB, Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc, k8s_event
from tests.scenarios.fresh.formats import counter, gc_log, logfmt, plain


def gc_heap(ctx: Ctx) -> Incident:
    """Traffic grows a fifth over two hours; the old generation no longer fits, G1 pauses for seconds."""
    rng = ctx.rng
    name = rng.choice(["recommendation-api", "pricing-engine-jvm", "profile-service"])
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry(before=180)
    onset = ctx.onset(6, 20)
    rate = rng.uniform(900, 1600)
    growth = step(-170, rate, rate * rng.uniform(1.18, 1.3), ramp=150)
    traffic(
        tel,
        svc,
        growth,
        [("GET", "/api/recs/{user}"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset, 0, 0.03, ramp=4)),
        error_status=(503, 504),
        p99=step(onset - 25, 0.3, 3.4, ramp=25),
    )
    heap = 4 * GIB
    for pod in svc.pods:
        tel.series(
            "jvm_memory_used_bytes",
            lambda m: heap * min(0.97, 0.55 + 0.42 * max(0.0, m + 150) / 150),
            noise=0.02,
            digits=0,
            service=name,
            pod=pod.name,
            area="heap",
            id="G1 Old Gen",
        )
        tel.series(
            "jvm_memory_max_bytes",
            flat(heap),
            noise=0.0,
            digits=0,
            service=name,
            pod=pod.name,
            area="heap",
            id="G1 Old Gen",
        )
        counter(
            tel,
            "jvm_gc_pause_seconds_sum",
            step(onset - 25, 0.4, 21, ramp=25),
            3000 * rng.random(),
            noise=0.1,
            service=name,
            pod=pod.name,
            action="end of major GC",
            cause="G1 Evacuation Pause",
        )
        counter(
            tel,
            "jvm_gc_pause_seconds_count",
            step(onset - 25, 6, 14, ramp=25),
            9e4 * rng.random(),
            service=name,
            pod=pod.name,
            action="end of major GC",
            cause="G1 Evacuation Pause",
        )
        tel.series("process_cpu_usage", step(onset - 25, 0.35, 0.92, ramp=25), service=name, pod=pod.name)
    uptime = rng.uniform(3e5, 9e5)

    def pause(t: datetime) -> dict[str, Any]:
        pod = svc.pod()
        gc_id = rng.randrange(20000, 90000)
        before, after = rng.randrange(3900, 4060), rng.randrange(3700, 3980)
        text = rng.choice(
            [
                f"GC({gc_id}) Pause Full (G1 Compaction Pause) {before}M->{after}M(4096M) "
                f"{rng.uniform(1800, 4200):.3f}ms",
                f"GC({gc_id}) To-space exhausted",
                f"GC({gc_id}) Pause Young (Normal) (G1 Evacuation Pause) {before}M->{after}M(4096M) "
                f"{rng.uniform(300, 900):.3f}ms",
            ]
        )
        return gc_log(svc, t, pod, uptime + (t - tel.alert_at).total_seconds(), text)

    tel.stream(step(onset - 25, 0.5, 6, ramp=25), pause)
    tel.stream(
        step(onset, 0, 0.8),
        lambda t: k8s_event(
            svc,
            svc.pod(),
            "Unhealthy",
            'Liveness probe failed: Get "http://10.2.3.4:8080/actuator/health/liveness'
            '": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        ),
    )
    tel.stream(
        step(onset, 0, 3),
        lambda t: svc.line(
            "WARN",
            "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=3s).",
            logger="com.zaxxer.hikari.pool.HikariPool",
            thread="HikariPool-1 housekeeper",
        ),
    )
    pod_resources(tel, svc, mem_gib=4.6, limit_gib=6.0, cpu=1.2, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"gc-heap-pressure-{ctx.seed}",
        service=name,
        truth="resource-exhaustion",
        description="Organic traffic growth of ~25% over two hours pushes the live set past "
        "what a 4 GiB heap "
        "holds: the old generation stays at 95%, G1 falls back to multi-second full GCs, "
        "liveness probes time "
        "out. No deploy for days.",
        alert=AlertSpec(
            "RecsLatencySLOBurn",
            f"{name} latency SLO burn",
            f"{name} p99 3.1s over 10m",
            "http_server_requests_seconds",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(50, 120)),
    )


def ephemeral_ports(ctx: Ctx) -> Incident:
    """A dispatcher dials a new connection per webhook; TIME_WAIT sockets use up the local port range."""
    rng = ctx.rng
    name = rng.choice(["webhook-dispatcher", "event-fanout", "callback-sender"])
    svc = Svc.make(rng, name, "zap", replicas=3)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 12)
    sends = rng.uniform(180, 260)
    ramp_from = onset - rng.uniform(25, 45)
    tel.series(
        "node_sockstat_TCP_tw",
        lambda m: 4000 if m < ramp_from else min(28200, 4000 + 24200 * (m - ramp_from) / (onset - ramp_from)),
        noise=0.02,
        digits=0,
        service="node-exporter",
        instance=svc.pods[0].node,
    )
    tel.series(
        "node_sockstat_TCP_inuse",
        flat(310),
        noise=0.05,
        digits=0,
        service="node-exporter",
        instance=svc.pods[0].node,
    )
    counter(
        tel,
        "webhook_deliveries_total",
        plus(step(ramp_from, sends * 55, sends * 66, ramp=20), step(onset, 0, -sends * 30)),
        4e7,
        service=name,
        result="ok",
    )
    counter(
        tel,
        "webhook_deliveries_total",
        step(onset, 0.5, sends * 30, ramp=2),
        2e4,
        noise=0.1,
        service=name,
        result="error",
    )
    tel.series(
        "webhook_queue_depth",
        lambda m: 50 if m < onset else 50 + 900 * (m - onset),
        digits=0,
        service=name,
        queue="deliveries",
    )

    def dial(t: datetime) -> dict[str, Any]:
        octets = [rng.choice([34, 52, 104, 185]), *(rng.randrange(1, 255) for _ in range(3))]
        ip = ".".join(map(str, octets))
        return logfmt(
            svc,
            t,
            "error",
            "delivery failed",
            caller="deliver/http.go:131",
            err=f'Post "https://hooks.customer-{rng.randrange(100, 999)}.example/acme": dial tcp '
            f"{ip}:443: connect: cannot assign requested address",
            attempt=rng.randint(1, 5),
        )

    tel.stream(step(onset, 0, 25, ramp=2), dial)
    tel.stream(
        flat(sends * 0.05),
        lambda t: logfmt(
            svc,
            t,
            "info",
            "delivered",
            caller="deliver/http.go:120",
            status=rng.choice([200, 200, 200, 204, 410]),
            took=f"{rng.randrange(40, 900)}ms",
        ),
    )
    tel.stream(
        flat(0.5),
        lambda t: logfmt(
            svc,
            t,
            "warn",
            "customer endpoint slow",
            caller="deliver/http.go:140",
            host=f"hooks.customer-{rng.randrange(100, 999)}.example",
            took="9.8s",
        ),
    )
    pod_resources(tel, svc, mem_gib=0.3, limit_gib=0.5)
    background(tel, svc)
    return Incident(
        name=f"ephemeral-port-exhaustion-{ctx.seed}",
        service=name,
        truth="resource-exhaustion",
        description="The dispatcher disables keep-alive and dials per delivery; as volume grows 20% the "
        "sockets in TIME_WAIT reach the 28k local port range and connect() fails with EADDRNOTAVAIL.",
        alert=AlertSpec(
            "WebhookBacklog",
            f"{name} delivery queue growing",
            "webhook_queue_depth above 5000",
            "webhook_queue_depth",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 2, newest_hours=rng.uniform(30, 100)),
    )


def db_slots(ctx: Ctx) -> Incident:
    """The autoscaler adds replicas at lunchtime; their pools exceed the managed database's "
    "max_connections."""
    rng = ctx.rng
    name = rng.choice(["orders-api", "menu-service", "booking-api"])
    db = f"{name}-db"
    svc = Svc.make(rng, name, "python", replicas=8)
    tel = ctx.telemetry()
    onset = ctx.onset(3, 12)
    rate = rng.uniform(1200, 2000)
    traffic(
        tel,
        svc,
        step(onset - 20, rate, rate * 1.3, ramp=20),
        [("GET", "/api/menu"), ("POST", "/api/orders"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, 0.07, ramp=2)),
        p99=step(onset, 0.3, 1.2),
    )
    tel.series(
        "kube_deployment_status_replicas",
        lambda m: 8 if m < onset - 12 else min(14, 8 + (m - onset + 12) / 2),
        noise=0.0,
        digits=0,
        service=name,
        deployment=name,
    )
    tel.series(
        "aws_rds_database_connections_average",
        lambda m: min(247, 165 + 12 * max(0.0, m - onset + 12)),
        noise=0.01,
        digits=0,
        service=db,
        dbinstance_identifier=db,
    )
    tel.series("pg_settings_max_connections", flat(250), noise=0.0, digits=0, service=db, server=f"{db}:5432")
    tel.series("aws_rds_cpuutilization_average", flat(41), service=db, dbinstance_identifier=db)
    tel.stream(
        step(onset, 0, 9, ramp=2),
        lambda t: svc.line(
            "ERROR",
            "Internal Server Error: /api/orders",
            logger="django.request",
            exc_info='django.db.utils.OperationalError: connection to server at "'
            + db
            + ".c8k1.eu-west-1.rds."
            'amazonaws.com" (10.0.7.21), port 5432 failed: FATAL:  remaining connection slots are '
            "reserved for non-replication superuser and rds_superuser connections",
        ),
    )
    tel.stream(
        step(onset, 0, 4, ramp=2),
        lambda t: {
            "service": db,
            "level": "error",
            "logger": "postgresql",
            "db_instance": db,
            "message": f"{t.strftime('%Y-%m-%d %H:%M:%S UTC')}:10.0.{rng.randrange(1, 9)}."
            f"{rng.randrange(2, 250)}({rng.randrange(30000, 60000)}):app@{name.replace('-', '_')}:"
            f"[{rng.randrange(1000, 30000)}]:FATAL:  "
            "remaining connection slots are reserved for non-replication superuser and "
            "rds_superuser connections",
        },
    )
    for minute in range(int(onset) - 12, int(onset) + 1, 2):
        tel.log(
            tel.at(minute + 0.1),
            {
                **k8s_event(
                    svc,
                    svc.pod(),
                    "SuccessfulRescale",
                    f"New size: {min(14, 8 + (minute - int(onset) + 12) // 2 + 1)}; "
                    "reason: cpu resource utilization (percentage of request) above target",
                    kind="Normal",
                    obj=f"HorizontalPodAutoscaler/{name}",
                ),
                "source": "horizontal-pod-autoscaler",
            },
        )
    tel.stream(
        flat(0.2),
        lambda t: plain(
            svc,
            t,
            "WARNING",
            "gunicorn.error",
            f"Worker with pid {rng.randrange(100, 999)} was terminated due to signal 15",
        ),
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"db-connection-slots-{ctx.seed}",
        service=name,
        truth="resource-exhaustion",
        description="The lunchtime rise (+30%) makes the HPA grow the deployment from 8 to 14 pods; each "
        "holds up to 18 connections, and the RDS instance's max_connections (250) runs out: new pods fail "
        "to connect. The database itself is idle.",
        alert=AlertSpec(
            "OrdersErrorRate",
            f"{name} 5xx above 3%",
            f"{name} 5xx 6.8% over 5m",
            "django_http_responses_total_by_status_total",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 70)),
        other_services=[{"name": db, "hosts": [f"{db}.c8k1.eu-west-1.rds.amazonaws.com"]}],
    )
