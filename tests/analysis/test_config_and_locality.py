"""Two distinctions the first line of a report depends on:

- a configuration change that shows only as exhaustion (a pool's maximum lowered by a values-only
  deploy) is a config change with that deploy as the suspect, not resource exhaustion;
- failures only one zone's replicas log (the 5xx answered to clients spread over every replica by
  the load balancer) are infrastructure, not the dependency those replicas time out on; a host
  that is gone (EHOSTUNREACH, errno 113) is infrastructure too.
"""

from __future__ import annotations

from typing import Any

from connectors import EvidenceKind
from tests.analysis.test_diagnosis import RULES, WINDOW, at, evidence, gauge
from triage.agent.rules import rank
from triage.analysis.attribution import is_logged_failure
from triage.analysis.config_changes import config_only_deploys, limits_lowered
from triage.analysis.runner import analyze
from triage.analysis.shapes import Shape, shape_of
from triage.analysis.signals import SignalKind

VALUES_COMMIT = "a4" * 20


def _pool_incident(deploy_files: list[str]) -> list[Any]:
    """The pool's maximum falls from 40 to 10 at minute 44; requests then wait for connections."""
    metrics = (gauge("hikaricp_connections_max", [40.0] * 44 + [10.0] * 21)
               + gauge("hikaricp_connections_active", [8.0] * 44 + [10.0] * 21))
    rows: list[dict[str, Any]] = []
    for m in range(65):
        for i in range(10):
            failing = m >= 45 and i % 3 == 0
            rows.append({"timestamp": at(m + i / 10).isoformat(),
                         "level": "error" if failing else "info",
                         "message": "HikariPool-1 - Connection is not available, request timed out "
                                    "after 30000ms." if failing else f"GET /api/items/{i} 200"})
    deploys = [{"commit": VALUES_COMMIT, "deployed_at": at(42).isoformat(), "service": "api",
                "author": "argocd", "description": "Sync helm values", "files": deploy_files},
               {"commit": "0b" * 20, "deployed_at": at(2).isoformat(), "service": "api",
                "author": "lee", "description": "feature", "files": ["src/app.py"]}]
    return [evidence(EvidenceKind.METRICS, metrics, "metrics"),
            evidence(EvidenceKind.LOGS, rows, "logs"),
            evidence(EvidenceKind.DEPLOYS, deploys, "deploys")]


def test_a_lowered_pool_maximum_after_a_values_only_deploy_is_a_config_change() -> None:
    signals = analyze(_pool_incident(["deploy/helm/values-prod.yaml"]), WINDOW)
    config = [s for s in signals if s.kind == SignalKind.CONFIG_EVENT]
    assert {s.detail["source"] for s in config} == {"limit", "deploy"}
    limit = next(s for s in config if s.detail["source"] == "limit")
    assert (limit.detail["before"], limit.detail["after"]) == (40.0, 10.0)
    top = rank(RULES, signals, "api")[0]
    assert top.category == "config-change"
    assert top.suspect_commit == VALUES_COMMIT


def test_a_deploy_that_changed_code_is_not_a_configuration_only_deploy() -> None:
    cited = _pool_incident(["src/pool.py", "deploy/helm/values-prod.yaml"])
    assert config_only_deploys(cited[2], at(44)) == []
    # The lowered limit still says "configuration": exhaustion is not the cause named first.
    assert rank(RULES, analyze(cited, WINDOW), "api")[0].category != "resource-exhaustion"


def test_a_limit_that_rose_or_fell_long_before_is_not_a_change_at_the_onset() -> None:
    rose = evidence(EvidenceKind.METRICS, gauge("pool_max", [10.0] * 44 + [40.0] * 21), "m1")
    assert limits_lowered(rose, WINDOW) == []
    # 75 minutes before the onset is outside the hour a change is looked for in.
    early = evidence(EvidenceKind.METRICS, gauge("pool_max", [40.0] * 2 + [10.0] * 63), "m2")
    assert limits_lowered(early, WINDOW.__class__(at(-80), at(77), at(90))) == []
    # Capacity the platform reports is not configured: a node lost is not a config change.
    capacity = evidence(EvidenceKind.METRICS,
                        gauge("kube_node_status_capacity", [64.0] * 44 + [48.0] * 21), "m3")
    assert limits_lowered(capacity, WINDOW) == []


def _zone_rows(error_zone_only: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    for m in range(65):
        for i in range(30):
            zone = zones[i % 3]
            answered_5xx = m >= 45 and i % 5 == 0  # the load balancer spreads these
            rows.append({"timestamp": at(m + i / 30).isoformat(), "zone": zone,
                         "pod": f"api-{zone}-{i % 2}", "level": "error" if answered_5xx else "info",
                         "status": 504 if answered_5xx else 200,
                         "message": f"POST /oauth/token {504 if answered_5xx else 200}"})
            if m >= 45 and i % 2 == 0 and (zone == "us-east-1c" or not error_zone_only):
                rows.append({"timestamp": at(m + i / 30).isoformat(), "zone": zone,
                             "pod": f"api-{zone}-{i % 2}", "level": "error",
                             "message": "redis: get session: read tcp 10.1.4.7:5112->10.1.9.2:6379: "
                                        "i/o timeout"})
    return rows


def test_failures_only_one_zone_logs_are_infrastructure_not_the_dependency() -> None:
    signals = analyze([evidence(EvidenceKind.LOGS, _zone_rows(True), "logs")], WINDOW)
    zone = next(s for s in signals if s.kind == SignalKind.DRILLDOWN and s.detail["field"] == "zone")
    assert zone.detail["value"] == "us-east-1c" and zone.detail["anomaly_share"] > 0.9
    assert "of logged errors" in zone.title
    assert rank(RULES, signals, "api")[0].category == "infrastructure"


def test_failures_every_zone_logs_are_the_dependency() -> None:
    signals = analyze([evidence(EvidenceKind.LOGS, _zone_rows(False), "logs")], WINDOW)
    assert rank(RULES, signals, "api")[0].category == "dependency-failure"


def test_a_logged_failure_is_an_error_line_not_a_request_answered_5xx() -> None:
    assert is_logged_failure({"level": "error", "message": "redis: i/o timeout"})
    assert is_logged_failure({"level": 50, "msg": "x"})  # pino: 50 is error
    assert is_logged_failure({"level": "50", "message": "db down"})
    assert not is_logged_failure({"level": "error", "status": 504, "message": "POST /x 504"})
    assert not is_logged_failure({"level": "error", "message": '"GET /api HTTP/1.1" 503 12'})
    assert not is_logged_failure({"level": "warn", "message": "slow"})


def test_an_unreachable_host_is_infrastructure() -> None:
    for line in ("upstream connect error or disconnect/reset before headers. reset reason: "
                 "connection failure, transport failure reason: delayed connect error: 113",
                 "dial tcp 10.2.3.4:8080: connect: no route to host",
                 "connect EHOSTUNREACH 10.0.0.7:5432"):
        assert shape_of(line) == Shape.INFRASTRUCTURE, line
    assert shape_of("upstream connect error or disconnect/reset before headers. reset reason: "
                    "connection failure, transport failure reason: delayed connect error: 111") \
        == Shape.DEPENDENCY  # 111 is ECONNREFUSED: the host is there, the service is not
