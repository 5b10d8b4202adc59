"""Reading what failed: the root cause of an exception dump, requests refused as the client's
fault (4xx) as neither traffic nor failures, access lines kept out of the failure shares, and
errors confined to a few of the service's machines."""

from __future__ import annotations

from typing import Any

from connectors import EvidenceKind
from tests.analysis.test_diagnosis import RULES, WINDOW, at, evidence
from triage.agent.rules import rank
from triage.analysis.attribution import is_logged_failure
from triage.analysis.drilldown import count_windows
from triage.analysis.levels import exception_line, failure_text, severity_of
from triage.analysis.locality import placement_signals
from triage.analysis.metric_roles import role_of
from triage.analysis.runner import analyze
from triage.analysis.shapes import Shape, shape_of
from triage.analysis.signals import SignalKind

JAVA = ("org.springframework.dao.PessimisticLockingFailureException: could not execute statement\n"
        "\tat org.hibernate.internal.ExceptionConverterImpl.convert(ExceptionConverterImpl.java:95)\n"
        "Caused by: org.postgresql.util.PSQLException: ERROR: canceling statement due to lock "
        "timeout\n\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(Q.java:2713)\n"
        "\t... 11 more")
PYTHON = ('Traceback (most recent call last):\n  File "app.py", line 3, in total\n'
          "    return sum(x) / len(x)\nZeroDivisionError: division by zero")


def test_the_root_cause_of_a_java_trace_and_the_exception_of_a_python_one_are_read() -> None:
    assert exception_line(JAVA) == ("Caused by: org.postgresql.util.PSQLException: ERROR: "
                                    "canceling statement due to lock timeout")
    assert exception_line(PYTHON) == "ZeroDivisionError: division by zero"
    assert exception_line("java.lang.IllegalStateException: closed\n\tat a.B.c(B.java:1)") == \
        "java.lang.IllegalStateException: closed"
    row = {"level": "ERROR", "message": "Reservation failed", "stack_trace": JAVA}
    assert shape_of(failure_text(row)) == Shape.DB_LOCK


def test_requests_refused_as_the_clients_fault_are_neither_traffic_nor_failures() -> None:
    assert role_of('http_requests_total{code="401",service="api"}') == "other"
    assert role_of('http_server_requests_seconds_count{status="409"}') == "other"
    assert role_of('http_requests_total{code="429"}') == "errors"  # throttled: we refused load
    assert role_of('http_requests_total{code="503"}') == "errors"
    assert role_of('http_requests_total{code="200"}') == "traffic"


def _rows(failing: list[str], nodes: int = 9) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for m in range(65):
        for n in range(nodes):
            node = f"ip-10-0-0-{n}"
            rows.append({"timestamp": at(m + n / nodes).isoformat(), "node": node, "level": "info",
                         "message": f"GET /v1/notify {200} in 12ms"})
            if m >= 45 and node in failing:
                rows.append({"timestamp": at(m + n / nodes).isoformat(), "node": node,
                             "level": "error",
                             "message": "lookup smtp.internal on 10.96.0.10:53: i/o timeout"})
    return rows


def _placed(rows: list[dict[str, Any]]) -> list[Any]:
    counts = count_windows(rows, WINDOW.onset, WINDOW.end, {"logged": is_logged_failure})
    return placement_signals(counts, "logged", "logs")


def test_errors_on_two_of_nine_nodes_are_a_local_cause() -> None:
    rows = _rows(["ip-10-0-0-2", "ip-10-0-0-7"])
    cited = evidence(EvidenceKind.LOGS, rows, "logs")
    [found] = _placed(rows)
    assert found.detail["values"] == ["ip-10-0-0-2", "ip-10-0-0-7"] or \
        found.detail["values"] == ["ip-10-0-0-7", "ip-10-0-0-2"]
    assert found.detail["share"] == 1.0 and found.detail["of_values"] == 9
    assert rank(RULES, analyze([cited], WINDOW), "notify")[0].category == "infrastructure"


def test_errors_on_every_node_are_not_local() -> None:
    every = [f"ip-10-0-0-{n}" for n in range(9)]
    rows = _rows(every)
    cited = evidence(EvidenceKind.LOGS, rows, "logs")
    assert _placed(rows) == []
    assert rank(RULES, analyze([cited], WINDOW), "notify")[0].category == "dependency-failure"


def test_access_lines_do_not_dilute_what_the_failures_are() -> None:
    rows: list[dict[str, Any]] = []
    for m in range(65):
        for i in range(20):
            stamp = at(m + i / 20).isoformat()
            failing = m >= 45 and i % 4 == 0
            rows.append({"timestamp": stamp, "level": "error" if failing else "info",
                         "message": f'1.2.3.4 - - "GET /api/menu HTTP/1.1" {404 if failing else 200} 77'})
            if failing:
                rows.append({"timestamp": stamp, "level": "error", "message":
                             "FATAL:  remaining connection slots are reserved for superuser"})
    signals = analyze([evidence(EvidenceKind.LOGS, rows, "logs")], WINDOW)
    new = next(s for s in signals if s.kind == SignalKind.NEW_ERRORS)
    assert new.detail["shapes"] == {"resource": 1.0}


def test_more_failure_texts_have_their_shape() -> None:
    assert shape_of("dial tcp 10.0.0.1:443: connect: cannot assign requested address") == \
        Shape.RESOURCE
    assert shape_of("READONLY You can't write against a read only replica.") == Shape.DEPENDENCY
    assert shape_of("token has invalid claims: token used before issued") == Shape.INFRASTRUCTURE
    assert shape_of("botocore.exceptions.ClientError: An error occurred (SlowDown) when calling "
                    "the PutObject operation (reached max retries: 4)") == Shape.DEPENDENCY


def test_a_lock_wait_the_database_logs_at_log_level_is_a_warning() -> None:
    wait = {"level": "info", "message": "LOG:  process 37198 still waiting for ShareLock on "
                                        "transaction 48892072 after 1000.154 ms"}
    assert severity_of(wait) == 1
    assert severity_of({"level": "info", "message": "LOG:  checkpoint complete"}) == 0
