"""The service's own metrics, on a Prometheus registry per runtime (never the process-global one,
so that two apps in one process, as in tests, count separately).

Other parts record through `runtime.metrics` (`triage.runtime.current().metrics` inside a
workflow step):

    metrics.record_model_usage("claude-sonnet-4-6", input_tokens=1200, output_tokens=300,
                               cache_read_tokens=900, cache_write_tokens=0, cost_usd=0.0081)
    metrics.record_model_call("claude-sonnet-4-6", "ok")       # or model_outcome(429), ...
    metrics.record_model_retry("claude-sonnet-4-6", "overloaded")  # a retry, and why
    with metrics.time_sandbox("local", "exec"):                # or observe_sandbox(...)
        sandbox.exec(...)

| metric                                   | type      | labels            |
| ---------------------------------------- | --------- | ----------------- |
| triage_webhooks_received_total           | counter   | source            |
| triage_webhooks_rejected_total           | counter   | source, reason    |
| triage_investigations                    | gauge     | state (from store)|
| triage_stage_duration_seconds            | histogram | stage             |
| triage_model_tokens_total                | counter   | model, kind       |
| triage_model_cost_usd_total              | counter   | model             |
| triage_model_calls_total                 | counter   | model, outcome    |
| triage_model_retries_total               | counter   | model, reason     |
| triage_sandbox_duration_seconds          | histogram | backend, action   |
| triage_notes_total                       | counter   | kind, outcome     |
| triage_store_up                          | gauge     |                   |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from triage.models import InvestigationState, Source
from triage.store import Store, investigations

log = logging.getLogger(__name__)
SOURCES = frozenset(source.value for source in Source)
# Rejections by HTTP status: a fixed set of reasons keeps label cardinality bounded.
REJECTION_REASONS = {400: "malformed", 401: "unauthorized", 403: "forbidden",
                     404: "unknown_route", 405: "method_not_allowed", 413: "too_large",
                     415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
                     503: "disabled"}
_STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_SANDBOX_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
# Model API attempts by HTTP status (the API's documented errors); others by class.
MODEL_OUTCOMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  408: "request_timeout", 409: "conflict", 413: "too_large", 429: "rate_limited",
                  500: "server_error", 529: "overloaded"}


def rejection_reason(status: int) -> str:
    """The `reason` label for a refused webhook's HTTP status."""
    return REJECTION_REASONS.get(status, "server_error" if status >= 500 else f"http_{status}")


def model_outcome(status: int) -> str:
    """The `outcome` label of a model API attempt answered with HTTP `status` (bounded set)."""
    if status < 400:
        return "ok"
    return MODEL_OUTCOMES.get(status, "server_error" if status >= 500 else "client_error")


class _InvestigationsByState(Collector):
    """`triage_investigations{state}` counted in the store at scrape time (every worker's)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        """Count investigations per state; report the store down instead of failing the scrape."""
        up = GaugeMetricFamily("triage_store_up", "Whether the store answered the last scrape.")
        try:
            with self._store.read() as conn:
                rows = conn.execute(sa.select(investigations.c.state, sa.func.count())
                                    .group_by(investigations.c.state)).all()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: store unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        counts = {state.value: 0 for state in InvestigationState} | {
            str(state): int(count) for state, count in rows}
        family = GaugeMetricFamily("triage_investigations", "Investigations by state.",
                                   labels=["state"])
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        yield family

    def describe(self) -> Iterable[Metric]:
        """No description up front: `collect` must not run (and query) at registration."""
        return []


class Metrics:
    """Every metric of one runtime, and the small API the rest of the service records with."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.webhooks_received = Counter("triage_webhooks_received", "Webhook deliveries received.",
                                         ["source"], registry=reg)
        self.webhooks_rejected = Counter("triage_webhooks_rejected",
                                         "Webhook deliveries refused, by HTTP status reason.",
                                         ["source", "reason"], registry=reg)
        self.stage_seconds = Histogram("triage_stage_duration_seconds",
                                       "Wall time of each completed investigation stage.",
                                       ["stage"], buckets=_STAGE_BUCKETS, registry=reg)
        self.model_tokens = Counter("triage_model_tokens", "Model tokens, by kind.",
                                    ["model", "kind"], registry=reg)
        self.model_cost = Counter("triage_model_cost_usd", "Model spend in US dollars.",
                                  ["model"], registry=reg)
        self.model_calls = Counter("triage_model_calls", "Model API attempts, by outcome (ok, "
                                   "timeout, unreachable, or the HTTP status's name).",
                                   ["model", "outcome"], registry=reg)
        self.model_retries = Counter("triage_model_retries", "Model API attempts retried, by the "
                                     "outcome that caused the retry.", ["model", "reason"],
                                     registry=reg)
        self.sandbox_seconds = Histogram("triage_sandbox_duration_seconds",
                                         "Wall time of sandbox actions.", ["backend", "action"],
                                         buckets=_SANDBOX_BUCKETS, registry=reg)
        self.notes = Counter("triage_notes", "PagerDuty notes, by outcome.", ["kind", "outcome"],
                             registry=reg)
        if store is not None:
            reg.register(_InvestigationsByState(store))

    def record_webhook(self, source: str, status: int) -> None:
        """Count one delivery to `/webhooks/<source>`, and its refusal when status >= 400."""
        source = source if source in SOURCES else "unknown"
        self.webhooks_received.labels(source).inc()
        if status >= 400:
            self.webhooks_rejected.labels(source, rejection_reason(status)).inc()

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record how long one completed stage took."""
        self.stage_seconds.labels(stage).observe(seconds)

    def record_model_usage(self, model: str, *, input_tokens: int = 0, output_tokens: int = 0,
                           cache_read_tokens: int = 0, cache_write_tokens: int = 0,
                           cost_usd: float = 0.0) -> None:
        """Add one model turn's usage (as the API reported it) and its cost."""
        for kind, count in zip(TOKEN_KINDS, (input_tokens, output_tokens, cache_read_tokens,
                                             cache_write_tokens), strict=True):
            if count < 0:
                raise ValueError(f"{kind} tokens cannot be negative ({count})")
            if count:
                self.model_tokens.labels(model, kind).inc(count)
        if cost_usd < 0:
            raise ValueError(f"cost cannot be negative ({cost_usd})")
        if cost_usd:
            self.model_cost.labels(model).inc(cost_usd)

    def record_model_call(self, model: str, outcome: str) -> None:
        """Count one model API attempt (`ok`, `timeout`, `unreachable`, `rate_limited`, ...)."""
        self.model_calls.labels(model, outcome).inc()

    def record_model_retry(self, model: str, reason: str) -> None:
        """Count one retried model API attempt; `reason` is the failed attempt's outcome."""
        self.model_retries.labels(model, reason).inc()

    def observe_sandbox(self, backend: str, action: str, seconds: float) -> None:
        """Record how long one sandbox action took."""
        self.sandbox_seconds.labels(backend, action).observe(seconds)

    @contextmanager
    def time_sandbox(self, backend: str, action: str) -> Iterator[None]:
        """Time the block as one sandbox action (recorded even when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_sandbox(backend, action, time.perf_counter() - started)

    def record_note(self, kind: str, outcome: str) -> None:
        """Count one note stage's outcome (`posted`, `recovered`, `skipped`, `error`)."""
        self.notes.labels(kind, outcome).inc()
