"""Capacity incidents: memory up to the container limit, CPU throttled and an executor saturated."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import GIB, Ctx, background, pod_resources, traffic
from tests.scenarios.blind.kit import flat, grow, history, plus, step
from tests.scenarios.blind.stacks import Pod, Svc, k8s_event


def _oom_killed(svc: Svc, pod: Pod, t: datetime) -> dict[str, Any]:
    """The event a container killed by the kernel's OOM killer leaves."""
    return k8s_event(
        svc,
        pod,
        "OOMKilled",
        f"Container {svc.name} in pod {pod.name} terminated (exit code 137, reason OOMKilled); restarting",
    )


def oom_leak(ctx: Ctx) -> Incident:
    """Working set climbs for an hour until pods are OOMKilled in turn; 502s at the ingress."""
    rng = ctx.rng
    name = rng.choice(["session-api", "feed-renderer", "graphql-gateway"])
    svc = Svc.make(rng, name, "zap", replicas=rng.randint(3, 5))
    tel = ctx.telemetry(before=180)
    kill = ctx.onset(3, 12)
    limit = rng.choice([1.0, 1.5, 2.0])
    leak_start = kill - rng.uniform(60, 110)
    per_min = limit * 0.6 / (kill - leak_start)
    traffic(
        tel,
        svc,
        flat(rng.uniform(700, 1400)),
        [("POST", "/graphql"), ("GET", "/v1/session"), ("GET", "/readyz")],
        errors=plus(flat(0.001), step(kill, 0, 0.04)),
        error_status=(502, 503),
        p99=step(kill, 0.2, 0.6),
    )
    for i, pod in enumerate(svc.pods):
        lag = i * rng.uniform(1, 4)
        tel.series(
            "container_memory_working_set_bytes",
            grow(leak_start + lag, limit * 0.38 * GIB, per_min * GIB, cap=limit * 0.99 * GIB),
            noise=0.005,
            digits=0,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
        tel.series(
            "go_memstats_heap_inuse_bytes",
            grow(leak_start + lag, limit * 0.3 * GIB, per_min * 0.93 * GIB, cap=limit * 0.93 * GIB),
            noise=0.01,
            digits=0,
            service=svc.name,
            pod=pod.name,
        )
        tel.series(
            "go_gc_duration_seconds:p99",
            step(kill - 20, 0.004, 0.09, ramp=15),
            noise=0.1,
            digits=4,
            service=svc.name,
            pod=pod.name,
        )
        tel.stream(
            step(kill + lag, 0, 0.35),
            partial(_oom_killed, svc, pod),
            end=3,
        )
    pod_resources(tel, svc, mem_gib=0, limit_gib=limit, skip={p.name for p in svc.pods})
    tel.stream(
        step(kill + 1, 0, 0.6),
        lambda t: k8s_event(
            svc,
            svc.pod(),
            "BackOff",
            f"Back-off restarting failed container {svc.name} in pod {svc.pod().name}",
        ),
    )
    tel.stream(
        step(kill, 0, 8),
        lambda t: {
            **svc.line(
                "error",
                "upstream prematurely closed connection while reading response header from upstream",
                logger="ingress-nginx",
            ),
            "upstream": f"{svc.pod().name}:8080",
        },
    )
    tel.stream(
        step(kill - 25, 0, 1.5, ramp=20),
        lambda t: svc.line(
            "warn", "GC assist: heap near GOMEMLIMIT, mark assist time high", caller="runtime/monitor.go:54"
        ),
    )
    background(tel, svc)
    return Incident(
        name=f"oom-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="resource-exhaustion",
        description=f"Working set grows for an hour toward the {limit} GiB limit; pods are OOMKilled one "
        "after another and the ingress answers 502 while they restart. Last deploy: days ago.",
        alert=AlertSpec(
            "IngressHigh5xx",
            f"{name}: elevated 502s at the ingress",
            f"{name} 5xx above 1% for 5m",
            "nginx_ingress_controller_requests",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(40, 90)),
    )


def thread_pool(ctx: Ctx) -> Incident:
    """CPU pinned at the container limit and throttled; the async executor rejects tasks."""
    rng = ctx.rng
    name = rng.choice(["recommendations", "pricing-engine", "risk-scorer"])
    svc = Svc.make(rng, name, "spring", replicas=rng.randint(3, 6))
    tel = ctx.telemetry()
    onset = ctx.onset(5, 24)
    rate = rng.uniform(900, 1800)
    traffic(
        tel,
        svc,
        step(onset - 30, rate, rate * 1.12, ramp=30),
        [("POST", "/score"), ("GET", "/actuator/health")],
        errors=plus(flat(0.001), step(onset, 0, 0.06, ramp=6)),
        error_status=(503,),
        p99=step(onset, 0.3, 2.4, ramp=6),
    )
    for pod in svc.pods:
        tel.series(
            "container_cpu_usage_seconds_total",
            step(onset - 5, 1.3, 1.99, ramp=6),
            noise=0.02,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
        tel.series(
            "container_cpu_cfs_throttled_periods_total",
            step(onset - 5, 40, 5400, ramp=6),
            noise=0.1,
            digits=0,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
        tel.series(
            "executor_active_threads",
            step(onset, 40, 200, ramp=5),
            noise=0.03,
            digits=0,
            service=svc.name,
            pod=pod.name,
            name="scoringExecutor",
        )
        tel.series(
            "executor_pool_max_threads",
            flat(200),
            noise=0.0,
            digits=0,
            service=svc.name,
            pod=pod.name,
            name="scoringExecutor",
        )
        tel.series(
            "executor_queued_tasks",
            step(onset, 3, 1000, ramp=5),
            noise=0.02,
            digits=0,
            service=svc.name,
            pod=pod.name,
            name="scoringExecutor",
        )
    tel.series(
        "kube_pod_container_resource_limits",
        flat(2.0),
        noise=0.0,
        service=svc.name,
        resource="cpu",
        unit="core",
        container=svc.name,
    )

    def rejected(t: Any) -> dict[str, Any]:
        task = f"{rng.randrange(16**7, 16**8):x}"
        return svc.line(
            "ERROR",
            "Request processing failed: java.util.concurrent.RejectedExecutionException: Task "
            f"java.util.concurrent.FutureTask@{task} rejected from java.util.concurrent.ThreadPoolExecutor@"
            "3c9e6f21[Running, pool size = 200, active threads = 200, queued tasks = 1000, completed tasks = "
            f"{rng.randrange(10**6, 10**7)}]",
            logger="o.a.c.c.C.[.[.[/].[dispatcherServlet]",
            stack_trace="org.springframework.core.task.TaskRejectedException: Executor [java.util.concurrent."
            "ThreadPoolExecutor@3c9e6f21] did not accept task\n\tCaused by: java.util.concurrent."
            "RejectedExecutionException",
        )

    tel.stream(step(onset, 0, 9, ramp=6), rejected)
    tel.stream(
        step(onset - 5, 0, 0.5, ramp=5),
        lambda t: svc.line(
            "WARN",
            "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=48s).",
            logger="com.zaxxer.hikari.pool.HikariPool",
            thread="HikariPool-1 housekeeper",
        ),
    )
    background(tel, svc)
    return Incident(
        name=f"cpu-throttle-{svc.name}-{ctx.seed}",
        service=svc.name,
        truth="resource-exhaustion",
        description="Every pod runs at its 2-core CPU limit and is CFS-throttled; the scoring executor's 200 "
        "threads are busy, its queue full, and tasks are rejected. Traffic is only ~10% up.",
        alert=AlertSpec(
            "ScoringAvailabilityLow",
            f"{name} availability below 99.5% SLO",
            f"{name} success ratio 94% over 10m",
            "http_server_requests_seconds_count",
        ),
        tel=tel,
        deploys=history(rng, svc.name, ctx.alert_at, 3, newest_hours=rng.uniform(25, 70)),
    )
