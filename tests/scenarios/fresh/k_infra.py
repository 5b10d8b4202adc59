"""The platform underneath: one node's clock drifts, a cloud volume runs out of burst IOPS, full
conntrack tables drop DNS packets on two nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc
from tests.scenarios.fresh.formats import counter, plain


def _kernel(node: str, message: str) -> dict[str, Any]:
    """A node's kernel ring buffer line, as the node log agent ships it."""
    return {
        "service": "node-journal",
        "level": "warning",
        "logger": "kernel",
        "node": node,
        "message": message,
    }


def clock_skew(ctx: Ctx) -> Incident:
    """chrony on one node loses its time source and drifts; pods there reject fresh tokens."""
    rng = ctx.rng
    name = rng.choice(["api-gateway", "edge-auth", "partner-gateway"])
    svc = Svc.make(rng, name, "zap", replicas=6)
    bad = svc.pods[rng.randrange(6)]
    on_bad = [p for p in svc.pods if p.node == bad.node]
    tel = ctx.telemetry()
    onset = ctx.onset(5, 20)
    lost = onset - rng.uniform(60, 100)
    drift = lambda m: 0.0 if m < lost else -2.0 * (m - lost)  # noqa: E731  (seconds, falling behind)
    rate = rng.uniform(1500, 2500)
    share = len(on_bad) / len(svc.pods)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/v1/orders"), ("POST", "/v1/payments"), ("GET", "/readyz")],
        errors=flat(0.001),
        p99=flat(0.12),
    )
    tel.series(
        "http_requests_total",
        step(onset, rate * 0.003, rate * share * 0.7, ramp=3),
        noise=0.08,
        digits=0,
        service=name,
        code="401",
    )
    nodes = sorted({p.node for p in svc.pods})
    for node in nodes:
        tel.series(
            "node_timex_offset_seconds",
            drift if node == bad.node else flat(0.0004),
            noise=0.02,
            digits=4,
            service="node-exporter",
            instance=node,
        )
        tel.series(
            "node_timex_sync_status",
            step(lost, 1, 0) if node == bad.node else flat(1),
            noise=0.0,
            digits=0,
            service="node-exporter",
            instance=node,
        )
    tel.log(
        tel.at(lost),
        {
            "service": "node-journal",
            "level": "warning",
            "logger": "chronyd",
            "node": bad.node,
            "message": "Can't synchronise: no selectable sources",
        },
    )

    def reject(t: datetime) -> dict[str, Any]:
        return svc.line(
            "warn",
            "request unauthorized",
            pod=rng.choice(on_bad),
            caller="auth/jwt.go:58",
            error="token has invalid claims: token used before issued",
            path="/v1/payments",
        )

    tel.stream(step(onset, 0, rate * share * 0.7 * 0.02, ramp=3), reject)
    tel.stream(flat(0.3), lambda t: svc.line("warn", "jwks: refreshed 2 keys", caller="auth/jwks.go:40"))
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"node-clock-skew-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description=f"chrony on {bad.node} loses its time source and the clock falls behind by "
        "minutes; tokens "
        "issued elsewhere look issued in the future to the replicas on that node, which answer 401.",
        alert=AlertSpec(
            "Gateway4xxAnomaly",
            f"{name}: 401 responses above baseline",
            f"{name} 401 rate 12x its weekly baseline",
            "http_requests_total",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(6, 50)),
    )


def iops_throttle(ctx: Ctx) -> Incident:
    """A gp2 volume spends its burst credits; the database's disk is capped at baseline IOPS."""
    rng = ctx.rng
    name = rng.choice(["ledger-api", "audit-api", "timeline-service"])
    db = f"{name}-pg"
    svc = Svc.make(rng, name, "spring", replicas=4)
    tel = ctx.telemetry(before=180)
    onset = ctx.onset(5, 15)
    node = f"ip-10-1-{rng.randrange(16, 250)}-{rng.randrange(2, 250)}.ec2.internal"
    volume = f"vol-0{rng.randrange(16**15, 16**16):x}"
    rate = rng.uniform(500, 900)
    traffic(
        tel,
        svc,
        flat(rate),
        [("GET", "/api/entries"), ("POST", "/api/entries"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset + 2, 0, 0.03)),
        error_status=(500,),
        p99=step(onset, 0.15, 4.5, ramp=2),
    )
    tel.series(
        "aws_ebs_burst_balance_average",
        lambda m: max(0.0, 100 - max(0.0, m + 170) * 100 / (onset + 170)),
        noise=0.0,
        service=db,
        volume_id=volume,
    )
    tel.series(
        "aws_ebs_volume_read_ops_sum", step(onset, 2400, 300, ramp=1), digits=0, service=db, volume_id=volume
    )
    tel.series(
        "aws_ebs_volume_queue_length_average", step(onset, 0.6, 38, ramp=1), service=db, volume_id=volume
    )
    counter(
        tel,
        "node_disk_io_time_seconds_total",
        step(onset, 18, 60),
        8e6,
        noise=0.01,
        service="node-exporter",
        instance=node,
        device="nvme1n1",
    )
    tel.series(
        "node_disk_read_time_seconds:avg",
        step(onset, 0.0008, 0.11, ramp=1),
        digits=5,
        service="node-exporter",
        instance=node,
        device="nvme1n1",
    )
    tel.stream(
        step(onset, 0, 6),
        lambda t: {
            "service": db,
            "level": "info",
            "logger": "postgresql",
            "db_instance": db,
            "node": node,
            "message": f"LOG:  duration: {rng.randrange(1500, 9000)}.{rng.randrange(100, 999)} "
            "ms  execute <unnamed>: "
            "SELECT e.* FROM entries e WHERE e.account_id = $1 ORDER BY e.posted_at DESC LIMIT 50",
        },
    )
    tel.stream(
        step(onset, 0, 0.2),
        lambda t: {
            "service": db,
            "level": "info",
            "logger": "postgresql",
            "db_instance": db,
            "node": node,
            "message": f"LOG:  checkpoint complete: wrote {rng.randrange(8000, 30000)} buffers "
            "(9.1%); write=29.4 s, "
            f"sync={rng.uniform(20, 60):.3f} s, total={rng.uniform(60, 120):.3f} s",
        },
    )
    tel.stream(
        step(onset + 2, 0, 4),
        lambda t: plain(
            svc,
            t,
            "ERROR",
            "o.h.engine.jdbc.spi.SqlExceptionHelper",
            "ERROR: canceling statement due to statement "
            "timeout\norg.postgresql.util.PSQLException: ERROR: canceling "
            "statement due to statement timeout\n\tat "
            "org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse("
            "QueryExecutorImpl.java:2713)\n\tat "
            "com.acme.ledger.EntryRepository.page(EntryRepository.java:58)",
            thread=f"http-nio-8080-exec-{rng.randrange(1, 200)}",
        ),
    )
    tel.stream(
        flat(0.3),
        lambda t: svc.line(
            "WARN",
            "Kafka producer: metadata refresh for ledger.events took 900ms",
            logger="o.a.k.clients.Metadata",
        ),
    )
    pod_resources(tel, svc, mem_gib=1.0, limit_gib=2.0, cpu=0.3, cpu_limit=2.0)
    background(tel, svc)
    return Incident(
        name=f"ebs-burst-iops-throttle-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description=f"The database's gp2 volume {volume} has drained its burst balance over three hours of "
        "month-end reads; capped at 300 baseline IOPS, disk queue and read latency jump and "
        "queries time out. "
        "Traffic and query mix are unchanged.",
        alert=AlertSpec(
            "LedgerLatencyHigh",
            f"{name} p99 latency above 2s",
            f"{name} p99 4.4s",
            "http_server_requests_seconds",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 90)),
        other_services=[{"name": db}],
    )


def conntrack_dns(ctx: Ctx) -> Incident:
    """Conntrack tables fill on two nodes; UDP DNS queries from pods there are dropped and time out."""
    rng = ctx.rng
    name = rng.choice(["notifications-api", "profile-api", "search-indexer"])
    svc = Svc.make(rng, name, "python", replicas=6)
    nodes = sorted({p.node for p in svc.pods})
    full = set(nodes[:2])
    bad = [p for p in svc.pods if p.node in full]
    tel = ctx.telemetry()
    onset = ctx.onset(4, 18)
    rate = rng.uniform(600, 1200)
    traffic(
        tel,
        svc,
        flat(rate),
        [("POST", "/v1/notify"), ("GET", "/v1/prefs"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(onset, 0, 0.06 * len(bad) / len(svc.pods) * 3)),
        error_status=(500, 504),
        p99=step(onset, 0.2, 5.3),
    )
    for node in nodes:
        hot = node in full
        tel.series(
            "node_nf_conntrack_entries",
            step(onset - 15, 40000, 262144 if hot else 52000, ramp=15),
            noise=0.01,
            digits=0,
            service="node-exporter",
            instance=node,
        )
        tel.series(
            "node_nf_conntrack_entries_limit",
            flat(262144),
            noise=0.0,
            digits=0,
            service="node-exporter",
            instance=node,
        )
    counter(tel, "coredns_dns_requests_total", flat(rate * 8), 3e9, service="coredns", proto="udp", type="A")
    tel.stream(
        step(onset, 0, 5),
        lambda t: _kernel(
            rng.choice(sorted(full)), "nf_conntrack: nf_conntrack: table full, dropping packet"
        ),
    )

    def lookup(t: datetime) -> dict[str, Any]:
        host = rng.choice(
            ["prefs-db.internal", "smtp-relay.mail.svc.cluster.local", "api.push-vendor.example"]
        )
        return plain(
            svc,
            t,
            "ERROR",
            "app.notify",
            "delivery failed\nTraceback (most recent call last):\n  File "
            '"/app/notify/send.py", line 41, in send\n    conn = socket.create_connection((host, port), '
            f"timeout=3)\nsocket.gaierror: [Errno -3] Temporary failure in name resolution ({host})",
            pod=rng.choice(bad),
            thread="MainThread",
        )

    tel.stream(step(onset, 0, 12), lookup)
    tel.stream(
        flat(0.3), lambda t: plain(svc, t, "WARNING", "app.prefs", "prefs cache cold, loading from db")
    )
    pod_resources(tel, svc)
    background(tel, svc)
    return Incident(
        name=f"conntrack-full-dns-{ctx.seed}",
        service=name,
        truth="infrastructure",
        description="A batch of short-lived UDP flows fills the conntrack table on two nodes; "
        "the kernel drops "
        "new packets, so DNS lookups from the replicas there time out ('Temporary failure in "
        "name resolution'). "
        "Replicas on other nodes are fine.",
        alert=AlertSpec(
            "NotifyLatency",
            f"{name} p99 above 2s",
            f"{name} p99 5.3s",
            "django_http_requests_latency_seconds_by_view_method",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(8, 60)),
    )
