"""The diagnosis analyzers with known answers: change-point onsets (late ones too), error shapes
by share, saturation, configuration changes in the logs, log volume, exact counts of a capped
read, and deploys judged by whether they precede the onset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import Evidence, EvidenceKind, EvidenceStatus
from connectors.base import MinuteCount, Sampling
from triage.analysis.runner import analyze, analyze_window, merged_logs
from triage.analysis.shapes import Shape, shape_of, shape_shares
from triage.analysis.signals import AnalysisWindow, CitedEvidence, SignalKind
from triage.playbook import PlaybookLibrary

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
ALERT = T0 + timedelta(minutes=60)
# The playbook's fixed split (alert - 15 min) is only the fallback: change points decide.
WINDOW = AnalysisWindow(T0, ALERT - timedelta(minutes=15), ALERT + timedelta(minutes=5))
RULES = PlaybookLibrary([]).rules_for(PlaybookLibrary([]).named("default"))


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def evidence(kind: EvidenceKind, rows: list[dict[str, Any]], step: str, **extra: Any) -> CitedEvidence:
    return CitedEvidence(step, Evidence(connector=step, kind=kind, status=EvidenceStatus.OK, query="*",
                                        start=WINDOW.start, end=WINDOW.end, row_count=len(rows),
                                        rows=rows, **extra))


def logs(errors_from: float, error: str, per_minute: int = 20, noise: dict[float, str] | None = None,
         until: float = 65) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for m in range(int(until)):
        for i in range(per_minute):
            at_ = at(m + i / per_minute)
            failing = m >= errors_from and i % 4 == 0
            rows.append({"timestamp": at_.isoformat(), "level": "error" if failing else "info",
                         "message": error.format(n=m * 100 + i) if failing
                         else f"GET /api/items/{m * 100 + i} 200 in {i + 3}ms"})
    for minute, line in (noise or {}).items():
        rows.append({"timestamp": at(minute).isoformat(), "level": "error", "message": line})
    return rows


def gauge(metric: str, values: list[float]) -> list[dict[str, Any]]:
    return [{"timestamp": at(m).isoformat(), "metric": metric, "value": v, "service": "api"}
            for m, v in enumerate(values)]


def deploys(*minutes: float) -> CitedEvidence:
    rows = [{"commit": f"{int(m):02d}" * 20, "deployed_at": at(m).isoformat(), "service": "api",
             "author": "lee", "description": f"deploy at {m}"} for m in minutes]
    return evidence(EvidenceKind.DEPLOYS, rows, "deploys")


def test_an_onset_three_minutes_before_the_alert_is_found_and_the_deploy_before_it_blamed() -> None:
    cited = [evidence(EvidenceKind.LOGS, logs(57, "TypeError: bad operand order={n}"), "logs"),
             deploys(10, 56)]
    onset, signals = analyze_window(cited, WINDOW)
    assert onset is not None and at(56) < onset.at <= at(58)
    deploy = next(s for s in signals if s.kind == SignalKind.RECENT_DEPLOY)
    assert deploy.detail["commit"] == "56" * 20  # the one before the onset, not the 10-minute one
    assert deploy.strength > 0.8
    new = next(s for s in signals if s.kind == SignalKind.NEW_ERRORS)
    assert new.detail["shapes"] == {"code": 1.0}


def test_a_deploy_after_the_onset_is_not_a_suspect_and_an_old_one_weighs_little() -> None:
    cited = [evidence(EvidenceKind.LOGS, logs(40, "TypeError: bad operand order={n}"), "logs"),
             deploys(0, 50)]
    deploy_signals = [s for s in analyze(cited, WINDOW) if s.kind == SignalKind.RECENT_DEPLOY]
    assert [s.detail["commit"] for s in deploy_signals] == ["00" * 20]
    assert deploy_signals[0].strength < 0.2  # 40 min before the onset: half-life 15 min


def test_one_stray_line_is_never_the_onset_and_weighs_nothing() -> None:
    rows = logs(50, "TypeError: bad operand order={n}",
                noise={30.2: "upstream connection reset by peer (POST https://ledger.internal/v1)"})
    cited = [evidence(EvidenceKind.LOGS, rows, "logs"), deploys(49)]
    onset, signals = analyze_window(cited, WINDOW)
    assert onset is not None and onset.at >= at(49)
    new = next(s for s in signals if s.kind == SignalKind.NEW_ERRORS)
    assert new.onset is not None and new.onset >= at(50)
    assert new.detail["shapes"].get("dependency", 0) < 0.05
    from triage.agent.rules import rank
    ranked = rank(RULES, signals, "api")
    assert ranked[0].category == "bad-deploy"
    assert "dependency-failure" not in [h.category for h in ranked]


def test_error_shapes_are_specific_first_and_count_by_share() -> None:
    assert shape_of("FATAL: remaining connection slots are reserved") == Shape.RESOURCE
    assert shape_of("HikariPool-1 - Connection is not available, request timed out after 30000ms;"
                    " pool exhausted") == Shape.RESOURCE
    assert shape_of("canceling statement due to lock timeout") == Shape.DB_LOCK
    assert shape_of("429 Too Many Requests: rate limited client=acme") == Shape.OVERLOAD
    assert shape_of("POST https://api.cardproc.example/v1/charges returned 503") == Shape.DEPENDENCY
    assert shape_of("write /var/lib/data: input/output error") == Shape.INFRASTRUCTURE
    assert shape_of("KeyError: 'locale'") == Shape.CODE
    assert shape_of("configuration reloaded: payments.timeout=3s") == Shape.CONFIG
    assert shape_of("GET /api/items 200 in 5ms") is None
    assert shape_shares([("KeyError: x", 98), ("connection reset by peer", 2)]) == {
        "code": 0.98, "dependency": 0.02}


def test_a_pool_gauge_ramping_to_its_maximum_is_saturation_not_lock_contention() -> None:
    in_use = [10.0 + (m % 2) for m in range(35)] + [10.0 + 2 * (m - 35) for m in range(35, 55)] + [50.0] * 10
    rows = gauge("db_pool_in_use", in_use) + gauge("db_pool_max", [50.0] * 65)
    pool_errors = logs(53, "timed out waiting for a connection from the pool (pool exhausted, 50/50)")
    signals = analyze([evidence(EvidenceKind.METRICS, rows, "metrics"),
                       evidence(EvidenceKind.LOGS, pool_errors, "logs")], WINDOW)
    full = next(s for s in signals if s.kind == SignalKind.GAUGE_AT_LIMIT)
    assert full.detail["metric"] == "db_pool_in_use" and "100%" in full.title
    assert full.onset is not None and at(33) <= full.onset <= at(37)  # where the ramp began
    from triage.agent.rules import rank
    assert rank(RULES, signals, "api")[0].category == "resource-exhaustion"


def test_a_configuration_change_announced_at_info_level_becomes_a_signal() -> None:
    rows = logs(47, "upstream call timed out after 3s calling https://ledger.internal/v1/post")
    rows.append({"timestamp": at(46.5).isoformat(), "level": "info",
                 "message": "configuration reloaded: ledger.timeout_seconds=3 (was 30)"})
    signals = analyze([evidence(EvidenceKind.LOGS, rows, "logs")], WINDOW)
    change = next(s for s in signals if s.kind == SignalKind.CONFIG_EVENT)
    assert "ledger.timeout_seconds=3" in change.title
    from triage.agent.rules import rank
    assert "config-change" in [h.category for h in rank(RULES, signals, "api")]


def test_log_volume_counts_every_level() -> None:
    rows = logs(99, "never", per_minute=10, until=47) + [
        {"timestamp": at(47 + i / 50).isoformat(), "level": "info", "message": f"GET /x/{i} 200"}
        for i in range(18 * 50)]
    signals = analyze([evidence(EvidenceKind.LOGS, rows, "logs")], WINDOW)
    volume = next(s for s in signals if s.kind == SignalKind.LOG_VOLUME)
    assert volume.detail["ratio"] > 4


def test_a_capped_read_counts_errors_exactly_from_the_backend() -> None:
    # 10 rows kept of 2,000 matched: the per-minute counts say 100 errors a minute from minute 50.
    per_minute = [MinuteCount(minute=at(m).isoformat(), count=100,
                              by_level={"error": 100} if m >= 50 else {"info": 100}) for m in range(65)]
    sampling = Sampling(method="newest 5 + sample 5", matched=6500, kept=10, newest=5, sampled=5,
                        per_minute=per_minute)
    rows = [{"timestamp": at(60 + i / 10).isoformat(), "level": "error", "message": "boom"}
            for i in range(10)]
    cited = evidence(EvidenceKind.LOGS, rows, "logs", truncated=True, sampling=sampling)
    onset, signals = analyze_window([cited], WINDOW)
    assert onset is not None and onset.at == at(50)
    spike = next(s for s in signals if s.kind == SignalKind.ERROR_SPIKE)
    assert spike.detail["incident_count"] == 1500


def test_error_and_all_level_reads_of_one_backend_are_analysed_once() -> None:
    rows = logs(50, "KeyError: x {n}")
    errors = [r for r in rows if r["level"] == "error"]
    merged = merged_logs([evidence(EvidenceKind.LOGS, errors, "logs"),
                          evidence(EvidenceKind.LOGS, rows, "logs")])
    assert len(merged) == 1 and len(merged[0].evidence.rows) == len(rows)


def test_a_shift_long_before_the_incident_does_not_date_it() -> None:
    # memory settled at a new level 50 min before the alert (an earlier, harmless deploy); the
    # error metric jumps 8 min before: the incident began then, and only a deploy before *that*
    # is a suspect.
    rows = (gauge("memory_used_bytes", [100.0 + (m % 3) for m in range(10)] + [180.0 + (m % 3)
                                                                                for m in range(10, 65)])
            + gauge("http_errors_total", [1.0 + (m % 2) for m in range(52)] + [40.0] * 13))
    onset, signals = analyze_window([evidence(EvidenceKind.METRICS, rows, "metrics"), deploys(9, 50)],
                                    WINDOW)
    assert onset is not None and at(51) <= onset.at <= at(53)
    deploy_signals = [s for s in signals if s.kind == SignalKind.RECENT_DEPLOY]
    assert deploy_signals[0].detail["commit"] == "50" * 20 and deploy_signals[0].strength > 0.8
    assert all(s.strength < 0.2 for s in deploy_signals[1:])  # ~43 min before the onset


def test_a_raw_prometheus_counter_is_read_as_its_rate() -> None:
    # 100 requests a minute, 500 a minute from minute 50: as a cumulative counter with a reset.
    total, values = 0.0, []
    for m in range(65):
        total = 0.0 if m == 20 else total + (500 if m >= 50 else 100)
        values.append(total)
    rows = gauge("http_requests_total", values)
    signals = analyze([evidence(EvidenceKind.METRICS, rows, "metrics")], WINDOW)
    shift = next(s for s in signals if s.kind == SignalKind.METRIC_SHIFT)
    assert shift.detail["baseline_median"] == 100 and shift.detail["incident_median"] == 500
    assert shift.onset == at(50)


def test_a_request_counter_rising_only_in_its_error_label_is_failures_not_traffic() -> None:
    from triage.analysis.metric_roles import role_of
    assert role_of('http_requests_total{code="500",service="api"}') == "errors"
    assert role_of('grpc_client_handled_total{grpc_code="Unavailable"}') == "errors"
    assert role_of('http_requests_total{code="200"}') == "traffic"
    assert role_of("http_server_requests_seconds_count") == "traffic"
    assert role_of("http_request_duration_seconds") == "latency"
    ok = gauge("http_requests_total", [600.0 + (m % 3) for m in range(65)])
    failing = [{**row, "code": "500"} for row in gauge("http_requests_total",
                                                      [1.0 + m % 2 for m in range(50)] + [90.0] * 15)]
    for row in ok:
        row["code"] = "200"
    signals = analyze([evidence(EvidenceKind.METRICS, ok + failing, "metrics")], WINDOW)
    from triage.agent.rules import rank
    assert "traffic-surge" not in [h.category for h in rank(RULES, signals, "api")]


def test_the_exception_a_logger_put_apart_decides_the_shape() -> None:
    rows = logs(99, "never")
    rows += [{"timestamp": at(50 + i / 10).isoformat(), "level": "error", "message": "Internal Server Error",
              "exc_info": "Traceback (most recent call last):\n  ...\npsycopg.errors.LockNotAvailable: "
                          "canceling statement due to lock timeout\nCONTEXT:  while updating tuple "
                          "(30,9) in relation \"slot\""} for i in range(100)]
    new = next(s for s in analyze([evidence(EvidenceKind.LOGS, rows, "logs")], WINDOW)
               if s.kind == SignalKind.NEW_ERRORS)
    assert new.detail["shapes"] == {"db_lock": 1.0}


def test_a_working_set_reaching_its_kubernetes_limit_is_at_its_limit_and_a_queue_is_not() -> None:
    used = [2.0e8 + m * 1e6 for m in range(35)] + [2.4e8 + (m - 35) * 1.2e7 for m in range(35, 55)]
    used += [5.1e8] * 10
    rows = (gauge("container_memory_working_set_bytes", used)
            + [{**row, "resource": "memory"} for row in gauge("kube_pod_container_resource_limits",
                                                              [5.12e8] * 65)]
            + [{**row, "resource": "cpu"} for row in gauge("kube_pod_container_resource_limits", [2.0] * 65)]
            + gauge("hikaricp_connections_pending", [0.0] * 50 + [42.0] * 15)
            + gauge("hikaricp_connections_max", [10.0] * 65))
    signals = analyze([evidence(EvidenceKind.METRICS, rows, "metrics")], WINDOW)
    full = [s for s in signals if s.kind == SignalKind.GAUGE_AT_LIMIT]
    assert [s.detail["metric"] for s in full] == ["container_memory_working_set_bytes"]
    assert "kube_pod_container_resource_limits" in full[0].title
