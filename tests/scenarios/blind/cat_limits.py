"""Capacity incidents at a hard limit: a full volume, the file descriptor ulimit."""

from __future__ import annotations

from functools import partial

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import GIB, Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, history, plus, step
from tests.scenarios.blind.stacks import Svc, k8s_event


def disk_full(ctx: Ctx) -> Incident:
    """A spool volume fills up; writes fail with ENOSPC."""
    rng = ctx.rng
    name = rng.choice(["ingest-writer", "audit-log-shipper", "export-worker"])
    svc = Svc.make(rng, name, "logrus", replicas=2)
    tel = ctx.telemetry()
    full = ctx.onset(3, 15)
    size = 100 * GIB
    fill_start = full - rng.uniform(70, 130)
    tel.series(
        "node_filesystem_avail_bytes",
        lambda m: (
            size * 0.42
            if m < fill_start
            else max(size * 0.0004, size * 0.42 * (1 - (m - fill_start) / (full - fill_start)))
        ),
        noise=0.002,
        digits=0,
        service=svc.name,
        mountpoint="/var/lib/ingest",
        device="/dev/nvme1n1",
        instance=svc.pods[0].node,
    )
    tel.series(
        "node_filesystem_size_bytes",
        flat(size),
        noise=0.0,
        digits=0,
        service=svc.name,
        mountpoint="/var/lib/ingest",
        device="/dev/nvme1n1",
        instance=svc.pods[0].node,
    )
    tel.series(
        "kafka_consumergroup_lag",
        step(full, 800, 800 + 60000, ramp=20),
        noise=0.05,
        digits=0,
        service=svc.name,
        consumergroup=svc.name,
        topic="events.raw",
    )
    traffic(
        tel,
        svc,
        flat(rng.uniform(200, 400)),
        [("POST", "/v1/batch"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(full, 0, 0.3)),
        error_status=(500, 507),
        p99=flat(0.15),
        access="envoy",
    )
    seg = rng.randrange(1000, 9000)
    tel.stream(
        step(full, 0, 12),
        lambda t: svc.line(
            "error",
            "flush segment failed: write "
            f"/var/lib/ingest/spool/segment-{seg + rng.randrange(0, 40):06d}.log: "
            "no space left on device",
            component="spool",
            partition=rng.randrange(0, 12),
        ),
    )
    tel.stream(
        step(full - 20, 0, 0.5),
        lambda t: svc.line("warning", "spool compaction behind: 412 segments pending", component="spool"),
    )
    tel.stream(
        step(full, 0, 0.3),
        lambda t: k8s_event(
            svc,
            svc.pods[0],
            "FreeDiskSpaceFailed",
            "failed to garbage collect required amount of images. Wanted to free 5368709120 bytes, but freed "
            "0 bytes",
            obj=f"Node/{svc.pods[0].node}",
        ),
    )
    # The kubelet evicts the log sidecar of a neighbour on the same node under disk pressure.
    tel.log(
        tel.at(full + 2.5),
        k8s_event(
            svc,
            svc.pods[0],
            "Evicted",
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 3212Mi. "
            "Container fluent-bit was using 2Gi, request is 0, has larger consumption of ephemeral-storage.",
            obj=f"Pod/fluent-bit-{svc.pods[0].name[-5:]}",
        ),
    )
    pod_resources(tel, svc, mem_gib=0.4, limit_gib=1.0)
    background(tel, svc)
    return Incident(
        name=f"spool-enospc-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="resource-exhaustion",
        description="The spool volume fills over two hours (compaction fell behind); writes fail with ENOSPC "
        "and consumer lag climbs.",
        alert=AlertSpec(
            "KafkaConsumerLagHigh",
            f"{name} consumer lag above 50k",
            "kafka_consumergroup_lag for events.raw rising",
            "kafka_consumergroup_lag",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 2, newest_hours=rng.uniform(30, 80)),
    )


def fd_leak(ctx: Ctx) -> Incident:
    """Open file descriptors creep up to the ulimit; accept() fails."""
    rng = ctx.rng
    name = rng.choice(["image-proxy", "webhook-relay", "pdf-render"])
    svc = Svc.make(rng, name, "zap", replicas=3)
    tel = ctx.telemetry()
    hit = ctx.onset(2, 12)
    creep = hit - rng.uniform(50, 120)
    for i, pod in enumerate(svc.pods):
        tel.series(
            "process_open_fds",
            partial(_open_fds, creep + i * 3, hit),
            noise=0.01,
            digits=0,
            service=svc.name,
            pod=pod.name,
        )
        tel.series("process_max_fds", flat(1024), noise=0.0, digits=0, service=svc.name, pod=pod.name)
    traffic(
        tel,
        svc,
        flat(rng.uniform(500, 1100)),
        [("GET", "/img/resize"), ("GET", "/healthz")],
        errors=plus(flat(0.001), step(hit, 0, 0.09, ramp=3)),
        error_status=(502,),
        p99=step(hit, 0.12, 1.1, ramp=3),
    )
    tel.stream(
        step(hit, 0, 14, ramp=3),
        lambda t: svc.line(
            "error",
            "http: Accept error: accept tcp [::]:8080: accept4: too many open files; retrying in 1s",
            caller="net/http/server.go:3090",
        ),
    )
    tel.stream(
        step(hit, 0, 4, ramp=3),
        lambda t: svc.line(
            "error",
            f"fetch origin failed: dial tcp 10.0.{rng.randrange(1, 9)}.{rng.randrange(2, 250)}:443: socket: "
            "too many open files",
            caller="proxy/origin.go:77",
        ),
    )
    pod_resources(tel, svc, mem_gib=0.25, limit_gib=0.5)
    background(tel, svc)
    return Incident(
        name=f"fd-exhaustion-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="resource-exhaustion",
        description="Origin response bodies are not always closed; descriptors creep to the 1024 ulimit and "
        "accept() fails.",
        alert=AlertSpec(
            "ProbeFailure",
            f"{name} blackbox probe failing",
            f"probe_success for {name} below 0.9",
            "probe_success",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(15, 60)),
    )


def _open_fds(creep: float, hit: float, m: float) -> float:
    """Descriptors leaking from `creep` until the 1024 ulimit at `hit`."""
    return min(1024.0, 180 + max(0.0, m - creep) * 844 / (hit - creep))
