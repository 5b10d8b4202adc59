"""The open-loop load of the ingest benchmark (`bench/ingest.py`): signed PagerDuty deliveries,
sent at a fixed rate whatever the replies are doing, each request's latency measured from its
scheduled send time (no coordinated omission), and the figures of one run."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loopback_http import LoopbackClient
from triage.intake.pagerduty import sign

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "samples" / "pagerduty" / "incident_triggered.json"
ROUTE = "/webhooks/pagerduty"
DRAIN_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0  # connection wait included


@dataclass(frozen=True)
class Delivery:
    """One prepared request."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """What happened to one request; `latency_s` counts from its scheduled send time."""

    latency_s: float | None
    done_at: float | None
    status: int | None
    accepted: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """One target's timed run, plus the investigations its warm-up requests started."""

    target: str
    outcomes: list[Outcome]
    started: float
    send_lags_s: list[float]
    warmup_accepted: tuple[str, ...]

    @property
    def sent(self) -> int:
        """Requests sent in the timed run."""
        return len(self.outcomes)

    @property
    def ok(self) -> int:
        """202 answers."""
        return sum(o.status == 202 for o in self.outcomes)

    @property
    def other_status(self) -> int:
        """HTTP answers other than 202."""
        return sum(o.status is not None and o.status != 202 for o in self.outcomes)

    @property
    def errors(self) -> int:
        """Requests without any HTTP answer (transport error, timeout, unfinished)."""
        return sum(o.status is None for o in self.outcomes)

    @property
    def latencies_ms(self) -> list[float]:
        """Latencies of the requests that got an HTTP answer, sorted, in ms."""
        return sorted(o.latency_s * 1000 for o in self.outcomes if o.latency_s is not None)

    @property
    def achieved_rate(self) -> float:
        """Answers per second, from the first scheduled send to the last answer."""
        ends = [o.done_at for o in self.outcomes if o.done_at is not None]
        if not ends:
            return 0.0
        return len(ends) / max(max(ends) - self.started, 1e-9)

    @property
    def accepted(self) -> set[str]:
        """Investigation ids answered with status `accepted`, warm-up included."""
        return {i for o in self.outcomes for i in o.accepted} | set(self.warmup_accepted)

    def lag_ms(self, q: float) -> float:
        """Nearest-rank percentile of how late the client issued requests, in ms."""
        return _nearest_rank(self.send_lags_s, q) * 1000

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies in ms (NaN without any)."""
        return _nearest_rank(self.latencies_ms, q)


def _nearest_rank(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def deliveries(count: int, secret: str) -> list[Delivery]:
    """`count` signed deliveries, each a distinct incident, as compact JSON."""
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    run = uuid.uuid4().hex[:8].upper()
    out = []
    for i in range(count):
        payload: dict[str, Any] = json.loads(json.dumps(sample))
        event = payload["event"]
        event["id"] = str(uuid.uuid4())
        data = event["data"]
        incident = f"PB{run}{i:07d}"
        data["id"] = incident
        data["number"] = i + 1
        data["incident_key"] = uuid.uuid4().hex
        data["self"] = f"https://api.pagerduty.com/incidents/{incident}"
        data["html_url"] = f"https://acme.pagerduty.com/incidents/{incident}"
        body = json.dumps(payload, separators=(",", ":")).encode()
        out.append(Delivery(body, {
            "content-type": "application/json",
            "user-agent": "PagerDuty-Webhook/V3.0",
            "x-pagerduty-signature": sign(body, secret),
            "x-webhook-id": str(uuid.uuid4()),
        }))
    return out


def _accepted_ids(body: bytes) -> tuple[str, ...]:
    try:
        results = json.loads(body).get("results", [])
    except (ValueError, AttributeError):
        return ()
    return tuple(r["investigation_id"] for r in results
                 if isinstance(r, dict) and r.get("status") == "accepted"
                 and isinstance(r.get("investigation_id"), str))


async def _send(client: LoopbackClient, request: bytes, scheduled: float,
                parse: bool) -> Outcome:
    try:
        status, body = await asyncio.wait_for(client.send(request), REQUEST_TIMEOUT_S)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            TimeoutError) as exc:
        return Outcome(None, None, None, error=type(exc).__name__)
    done = time.perf_counter()
    accepted = _accepted_ids(body) if parse and status == 202 else ()
    return Outcome(done - scheduled, done, status, accepted)


def _outcome(task: asyncio.Task[Outcome]) -> Outcome:
    if not task.done() or task.cancelled():
        return Outcome(None, None, None, error="unfinished")
    if (exc := task.exception()) is not None:
        return Outcome(None, None, None, error=type(exc).__name__)
    return task.result()


async def drive(target: str, port: int, warmup: list[Delivery], timed: list[Delivery],
                rate: float, connections: int) -> RunResult:
    """Send `warmup` one by one, then `timed` open loop at `rate` per second."""
    client = LoopbackClient(port, connections)
    parse = target == "triage"
    try:
        warmup_accepted: list[str] = []
        for delivery in warmup:
            request = client.request(ROUTE, delivery.body, delivery.headers)
            outcome = await _send(client, request, time.perf_counter(), parse)
            warmup_accepted.extend(outcome.accepted)
        requests = [client.request(ROUTE, delivery.body, delivery.headers) for delivery in timed]
        tasks: list[asyncio.Task[Outcome]] = []
        started = time.perf_counter() + 0.05
        lags: list[float] = []
        for i, request in enumerate(requests):
            scheduled = started + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(time.perf_counter() - scheduled)
            tasks.append(asyncio.create_task(_send(client, request, scheduled, parse)))
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await client.aclose()
    return RunResult(target, [_outcome(t) for t in tasks], started, sorted(lags),
                     tuple(warmup_accepted))
