"""What a metric series measures, from its name and its labels: failures, latency, traffic, or
something else. `http_requests_total{code="500"}` rising is failures, not traffic: a surge is
judged on the series that count requests answered well (or all of them), never on an error
label's series.
"""

from __future__ import annotations

import re
from typing import Literal

Role = Literal["errors", "latency", "traffic", "other"]

STATUS_LABELS = frozenset({"status", "code", "status_code", "http_status", "response_code",
                           "grpc_code", "outcome", "result", "status_class", "response_status",
                           "http_response_status_code", "rpc_grpc_status_code"})
FAILED_VALUE = re.compile(
    r"(?i)^(5\d\d|5xx|429|error|errors|failed|failure|fail|server_error|exception|timeout|"
    r"unavailable|deadline_?exceeded|internal|unknown|resource_?exhausted|aborted|"
    r"data_?loss|cancelled|canceled|[1-9]\d?)$")  # gRPC numeric codes other than 0 (OK)
CLIENT_ERROR_VALUE = re.compile(r"(?i)^(4\d\d|4xx|client_error)$")  # 429 matched FAILED_VALUE first
ERROR_NAME = re.compile(r"(?i)error|fail|5xx|exception|reject|timeout|dropped|denied|refused|"
                        r"retries|retry|restart|crash|oom")
LATENCY_NAME = re.compile(r"(?i)latency|duration|response_time|_time$|_time_|seconds$|_ms$|"
                          r"_bucket$|quantile|percentile|p9[059]|p50")
TRAFFIC_NAME = re.compile(r"(?i)request|rps|qps|throughput|traffic|arrivals|handled|served|"
                          r"sessions_started|messages_in|events_in|hits")
OUTBOUND_NAME = re.compile(r"(?i)client|outbound|upstream|downstream|egress|external|dependency|"
                           r"vendor|provider")
_LABEL = re.compile(r'(\w[\w.]*)="((?:[^"\\]|\\.)*)"')


def labels_of(key: str) -> dict[str, str]:
    """The labels of a series key `name{a="1",b="2"}`."""
    inner = key.split("{", 1)[1] if "{" in key else ""
    return {name: value for name, value in _LABEL.findall(inner)}


def counts_failures(labels: dict[str, str]) -> bool:
    """Whether a status-like label says these are failed requests."""
    return any(name.lower() in STATUS_LABELS and FAILED_VALUE.match(value.strip())
               for name, value in labels.items())


def rejects(labels: dict[str, str]) -> bool:
    """Whether a status-like label says these requests were refused as the client's fault (4xx):
    not traffic (a surge is judged on requests served), not the service failing either."""
    return any(name.lower() in STATUS_LABELS and CLIENT_ERROR_VALUE.match(value.strip())
               for name, value in labels.items())


def role_of(key: str) -> Role:
    """What the series measures."""
    name = key.split("{", 1)[0]
    labels = labels_of(key)
    if counts_failures(labels) or ERROR_NAME.search(name):
        return "errors"
    if rejects(labels):
        return "other"
    # `http_server_requests_seconds_count` counts requests; `_seconds` alone is their duration.
    if re.search(r"(?i)_count$|_total$", name) and TRAFFIC_NAME.search(name):
        return "traffic"
    if LATENCY_NAME.search(name):
        return "latency"
    if TRAFFIC_NAME.search(name):
        return "traffic"
    return "other"


def is_outbound(key: str) -> bool:
    """Whether the series measures calls this service makes to others."""
    return OUTBOUND_NAME.search(key.split("{", 1)[0]) is not None
