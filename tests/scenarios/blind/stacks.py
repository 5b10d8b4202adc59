"""How services of different stacks write their lines: nginx/envoy access logs, Go zap and
logrus JSON, Spring/logback JSON with exceptions, Python logging, Kubernetes events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Any

AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8)",
    "python-requests/2.31.0",
]


@dataclass
class Pod:
    """One replica: its name, node and zone."""

    name: str
    node: str
    zone: str


@dataclass
class Svc:
    """A service as its logs show it: name, stack, replicas."""

    name: str
    stack: str  # zap | logrus | spring | python
    pods: list[Pod]
    rng: Random
    version: str = "1.0.0"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, rng: Random, name: str, stack: str, replicas: int = 4) -> Svc:
        """Replicas spread over nodes in three zones, named as a Deployment names them."""
        rs = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(9))
        zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
        pods = []
        for i in range(replicas):
            zone = zones[i % 3]
            node = (
                f"ip-10-{rng.randrange(0, 4)}-{rng.randrange(16, 250)}-{rng.randrange(2, 250)}.ec2.internal"
            )
            tail = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            pods.append(Pod(f"{name}-{rs}-{tail}", node, zone))
        return cls(
            name, stack, pods, rng, f"{rng.randrange(1, 6)}.{rng.randrange(0, 40)}.{rng.randrange(0, 12)}"
        )

    def pod(self, pods: list[Pod] | None = None) -> Pod:
        """A replica, at random."""
        return self.rng.choice(pods or self.pods)

    def base(self, pod: Pod | None = None) -> dict[str, Any]:
        """The fields the log shipper adds to every line."""
        p = pod or self.pod()
        return {
            "service": self.name,
            "pod": p.name,
            "node": p.node,
            "zone": p.zone,
            "env": "prod",
            "version": self.version,
        }

    def line(self, level: str, message: str, pod: Pod | None = None, **fields: Any) -> dict[str, Any]:
        """An application log line in this stack's dialect."""
        record = self.base(pod)
        if self.stack == "spring":
            record.update(
                {
                    "level": level.upper().replace("WARNING", "WARN"),
                    "message": message,
                    "logger": fields.pop("logger", "c.a.web.RequestLoggingFilter"),
                    "thread": fields.pop("thread", f"http-nio-8080-exec-{self.rng.randrange(1, 200)}"),
                }
            )
        elif self.stack == "python":
            record.update(
                {
                    "level": level.upper().replace("WARN", "WARNING").replace("WARNINGING", "WARNING"),
                    "message": message,
                    "logger": fields.pop("logger", "app.views"),
                }
            )
        elif self.stack == "zap":
            record.update(
                {
                    "level": level.lower().replace("warning", "warn"),
                    "message": message,
                    "caller": fields.pop("caller", "server/handler.go:142"),
                }
            )
        else:  # logrus
            record.update(
                {
                    "level": level.lower().replace("warn", "warning").replace("warninging", "warning"),
                    "message": message,
                }
            )
        record.update(fields)
        return record

    def trace(self) -> str:
        """A W3C trace id."""
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(32))


def nginx(
    svc: Svc,
    t: datetime,
    method: str,
    path: str,
    status: int,
    secs: float,
    agent: str | None = None,
    client: str | None = None,
    upstream: float | None = None,
) -> dict[str, Any]:
    """An ingress-nginx access line (combined format + request/upstream times)."""
    rng = svc.rng
    ip = (
        client
        or f"{rng.choice([73, 98, 172, 24, 81])}.{rng.randrange(1, 255)}."
        f"{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"
    )
    stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
    up = f"{upstream if upstream is not None else max(0.0, secs - 0.001):.3f}"
    ua = agent or rng.choice(AGENTS)
    message = (
        f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {rng.randrange(120, 9000)} '
        f'"-" "{ua}" {secs:.3f} {up}'
    )
    level = "error" if status >= 500 else "warn" if status >= 400 else "info"
    record = svc.base()
    record.update(
        {
            "level": level,
            "message": message,
            "logger": "ingress-nginx",
            "status": status,
            "http_path": path.split("?")[0],
            "client_ip": ip,
            "user_agent": ua,
            "request_time": round(secs, 3),
        }
    )
    return record


def envoy(
    svc: Svc, t: datetime, method: str, path: str, status: int, ms: int, flags: str = "-", upstream: str = "-"
) -> dict[str, Any]:
    """An Envoy sidecar access line (default format)."""
    rng = svc.rng
    message = (
        f'[{t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}Z] "{method} {path} HTTP/2" {status} {flags} '
        f'0 {rng.randrange(80, 4000)} {ms} {max(0, ms - 2) if status < 500 else "-"} "-" '
        f'"{rng.choice(AGENTS)}" "{svc.trace()[:8]}-{svc.trace()[:4]}" "{upstream}" "-"'
    )
    record = svc.base()
    record.update(
        {
            "level": "error" if status >= 500 else "info",
            "message": message,
            "logger": "envoy.access",
            "response_code": status,
            "response_flags": flags,
            "duration_ms": ms,
            "http_path": path.split("?")[0],
        }
    )
    return record


def k8s_event(
    svc: Svc, pod: Pod, reason: str, message: str, kind: str = "Warning", obj: str | None = None
) -> dict[str, Any]:
    """A Kubernetes event, as the event exporter ships it."""
    return {
        "service": svc.name,
        "level": "warn" if kind == "Warning" else "info",
        "message": f"{reason}: {message}",
        "logger": "kubernetes.events",
        "reason": reason,
        "type": kind,
        "involved_object": obj or f"Pod/{pod.name}",
        "pod": pod.name,
        "node": pod.node,
        "zone": pod.zone,
        "source": "node-controller"
        if obj and obj.startswith("Node/") and reason.startswith("Node")
        else "horizontal-pod-autoscaler"
        if obj and obj.startswith("HorizontalPodAutoscaler/")
        else "kubelet",
    }


def noise(svc: Svc) -> list[tuple[str, str, dict[str, Any]]]:
    """Warnings and stray errors every service of this stack logs on a quiet day."""
    common: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "spring": [
            (
                "WARN",
                "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=1m2s).",
                {"logger": "com.zaxxer.hikari.pool.HikariPool", "thread": "HikariPool-1 housekeeper"},
            ),
            (
                "WARN",
                "Resolved [org.springframework.web.HttpRequestMethodNotSupportedException: Request method "
                "'HEAD' is not supported]",
                {"logger": "o.s.w.s.m.s.DefaultHandlerExceptionResolver"},
            ),
            (
                "ERROR",
                "Servlet.service() for servlet [dispatcherServlet] threw exception: "
                "org.apache.catalina.connector.ClientAbortException: java.io.IOException: Broken pipe",
                {"logger": "o.a.c.c.C.[.[.[/].[dispatcherServlet]"},
            ),
        ],
        "python": [
            (
                "WARNING",
                "Retrying (Retry(total=2, connect=None, read=None)) after connection broken by "
                "'RemoteDisconnected('Remote end closed connection without response')': /v1/events",
                {"logger": "urllib3.connectionpool"},
            ),
            (
                "ERROR",
                "Invalid HTTP_HOST header: '169.254.169.254'. You may need to add '169.254.169.254' to "
                "ALLOWED_HOSTS.",
                {"logger": "django.security.DisallowedHost"},
            ),
            ("WARNING", "Not Found: /wp-login.php", {"logger": "django.request"}),
        ],
        "zap": [
            (
                "warn",
                "slow client: write deadline exceeded, closing connection",
                {"caller": "server/conn.go:311"},
            ),
            (
                "error",
                "failed to emit span batch: context deadline exceeded",
                {"caller": "otel/exporter.go:88"},
            ),
            ("warn", "request body larger than declared content-length", {"caller": "server/handler.go:77"}),
        ],
        "logrus": [
            ("warning", "statsd: buffer full, dropping metric", {}),
            ("error", "http: TLS handshake error from 10.0.2.14:51234: EOF", {}),
            ("warning", "config watcher: resync took 1.2s", {}),
        ],
    }
    return common[svc.stack]


def sprinkle(tel: Any, svc: Svc, rate: float = 0.35) -> None:
    """The background: each noise kind at its own small rate across the whole window."""
    for level, message, fields in noise(svc):
        weight = svc.rng.uniform(0.3, 1.0) * rate
        tel.stream(
            lambda m, w=weight: w, lambda t, lv=level, ms=message, f=fields: svc.line(lv, ms, **dict(f))
        )
