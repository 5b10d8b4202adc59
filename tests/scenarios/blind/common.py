"""The ordinary life of a service, which every incident is drawn over: requests in the access
log, RED metrics named as each stack's exporter names them, pod resources, background noise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

from tests.scenarios.blind.kit import Curve, Telemetry, flat
from tests.scenarios.blind.stacks import Svc, envoy, nginx, sprinkle

GIB = 1024**3


@dataclass
class Ctx:
    """What a builder gets: its seeded randomness, the alert time, a scratch dir for repos."""

    rng: Random
    seed: int
    alert_at: datetime
    scratch: Path

    def telemetry(self, before: int = 150) -> Telemetry:
        """An empty window ending a few minutes after the alert."""
        return Telemetry(self.rng, self.alert_at, before=before)

    def onset(self, lo: int, hi: int) -> float:
        """Minutes before the alert the trouble began (negative), with a random second."""
        return -self.rng.randint(lo, hi) + self.rng.random()


# request counter, latency p99 (seconds), per stack: (metric, status label)
RED = {
    "spring": ("http_server_requests_seconds_count", "status", "http_server_requests_seconds:p99"),
    "python": (
        "django_http_responses_total_by_status_total",
        "status",
        "django_http_requests_latency_seconds_by_view_method:p99",
    ),
    "zap": ("http_requests_total", "code", "service:http_request_duration_seconds:p99"),
    "logrus": ("http_requests_total", "code", "service:http_request_duration_seconds:p99"),
}


def traffic(
    tel: Telemetry,
    svc: Svc,
    rate: Curve,
    paths: list[tuple[str, str]],
    *,
    errors: Curve | None = None,
    p99: Curve | None = None,
    access: str = "nginx",
    error_status: tuple[int, ...] = (500,),
    log_share: float = 0.05,
    agent: str | None = None,
    upstream: str = "-",
) -> None:
    """Requests per minute, their error share and p99: metrics, and a share of them in the log."""
    errors = errors or flat(0.002)
    p99 = p99 or flat(0.25)
    counter, code_label, latency = RED[svc.stack]
    tel.series(
        counter,
        lambda m: rate(m) * (1 - errors(m)),
        noise=0.03,
        digits=0,
        service=svc.name,
        labels={code_label: "200"},
    )
    share = 1 / len(error_status)
    for status in error_status:
        tel.series(
            counter,
            lambda m: rate(m) * errors(m) * share,
            noise=0.25,
            digits=0,
            service=svc.name,
            labels={code_label: str(status)},
        )
    tel.series(latency, p99, noise=0.06, service=svc.name)
    if access == "nginx":
        tel.series(
            "nginx_ingress_controller_requests",
            rate,
            noise=0.03,
            digits=0,
            service=svc.name,
            ingress=svc.name,
        )
    rng = svc.rng

    def emit(t: datetime) -> dict[str, Any]:
        m = (t - tel.alert_at).total_seconds() / 60
        method, path = rng.choice(paths)
        failed = rng.random() < errors(m)
        secs = max(0.003, rng.lognormvariate(0, 0.6) * p99(m) / 4.0)
        if failed:
            secs = p99(m) * rng.uniform(0.8, 1.6)
        status = rng.choice(error_status) if failed else rng.choice([200] * 30 + [201, 204, 304, 404])
        if access == "envoy":
            flags = {503: "UF", 504: "UT", 500: "-"}.get(status, "-") if failed else "-"
            return envoy(svc, t, method, path, status, int(secs * 1000), flags, upstream)
        return nginx(svc, t, method, path, status, secs, agent=agent)

    tel.stream(lambda m: rate(m) * log_share, emit)


def pod_resources(
    tel: Telemetry,
    svc: Svc,
    mem_gib: float = 0.6,
    limit_gib: float = 1.0,
    cpu: float = 0.35,
    cpu_limit: float = 1.0,
    skip: set[str] | None = None,
) -> None:
    """cAdvisor working set and CPU per pod, and the limits kube-state-metrics reports."""
    for pod in svc.pods:
        if skip and pod.name in skip:
            continue
        tel.series(
            "container_memory_working_set_bytes",
            flat(mem_gib * GIB * svc.rng.uniform(0.9, 1.1)),
            noise=0.01,
            digits=0,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
        tel.series(
            "container_cpu_usage_seconds_total",
            flat(cpu * svc.rng.uniform(0.85, 1.15)),
            noise=0.08,
            service=svc.name,
            pod=pod.name,
            container=svc.name,
        )
    tel.series(
        "kube_pod_container_resource_limits",
        flat(limit_gib * GIB),
        noise=0.0,
        digits=0,
        service=svc.name,
        resource="memory",
        unit="byte",
        container=svc.name,
    )
    tel.series(
        "kube_pod_container_resource_limits",
        flat(cpu_limit),
        noise=0.0,
        service=svc.name,
        resource="cpu",
        unit="core",
        container=svc.name,
    )


def background(tel: Telemetry, svc: Svc, rate: float = 0.3) -> None:
    """Unrelated warnings and stray errors, before and during the incident."""
    sprinkle(tel, svc, rate)


def later(at: datetime, minutes: float) -> datetime:
    """`minutes` after `at`."""
    return at + timedelta(minutes=minutes)
