"""Group commit: one writer thread makes every delivery that arrived while the previous
transaction was committing durable in one transaction (one fsync), and answers each its own.

A webhook hands over an `Arrival` (keys and alerts already as stored, ids pre-assigned) and
waits on its future. The batch dedupes by delivery key and by alert identity against the store
and against earlier arrivals of the same batch, then writes every table with one statement. A
batch that fails (a twin committed by another process between our read and our write, or any
bad row) is retried one arrival per transaction, so one arrival's conflict fails no other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from triage.failpoints import failpoint
from triage.intake import records
from triage.models import Alert
from triage.store import Store

log = logging.getLogger(__name__)
MAX_BATCH = 512  # bounds one transaction's size and its statements' parameter lists
BUSY_SECONDS = 0.1  # committed this recently: the ack path is busy


@dataclass(frozen=True)
class Arrival:
    """One delivery to make durable, as it will be stored (redacted, ids pre-assigned)."""

    source: str
    delivery_keys: tuple[str, ...]
    alerts: tuple[tuple[Alert, str, str], ...]  # (alert, alert id, investigation id)
    payload: Any
    received_at: datetime


@dataclass(frozen=True)
class Decision:
    """What became of one alert; for a delivery seen before, of the whole delivery."""

    status: Literal["accepted", "duplicate-alert", "duplicate-delivery"]
    investigation_id: str | None
    earlier_key: str = ""  # duplicate-delivery: the key it was recognised by, and when
    earlier_at: datetime | None = None


def write_batch(conn: Connection, batch: list[Arrival]) -> list[list[Decision]]:
    """Dedupe and store `batch` on `conn` (the caller's transaction); one list per arrival."""
    seen, known = records.known(conn, {(a.source, k) for a in batch for k in a.delivery_keys},
                                {(a.source, alert.dedup_key) for a in batch
                                 for alert, _, _ in a.alerts})
    delivery_rows: list[dict[str, Any]] = []
    alert_rows: list[dict[str, Any]] = []
    decisions: list[list[Decision]] = []
    for arrival in batch:
        earlier = next((seen[(arrival.source, k)] for k in arrival.delivery_keys
                        if (arrival.source, k) in seen), None)
        if earlier is not None:
            decisions.append([Decision("duplicate-delivery", earlier["investigation_id"],
                                       earlier["delivery_key"], earlier["received_at"])])
            continue
        made: list[Decision] = []
        first: tuple[str, str | None] | None = None  # the delivery's first alert and investigation
        for alert, alert_id, investigation_id in arrival.alerts:
            identity = (arrival.source, alert.dedup_key)
            if identity in known:
                made.append(Decision("duplicate-alert", known[identity][1]))
            else:
                alert_rows.append(records.alert_row(alert, alert_id, investigation_id,
                                                 arrival.payload, arrival.received_at))
                known[identity] = (alert_id, investigation_id)
                made.append(Decision("accepted", investigation_id))
            first = first or known[identity]
        outcome = ",".join("accepted" if d.status == "accepted" else "duplicate"
                           for d in made) or "empty"
        for key in dict.fromkeys(arrival.delivery_keys):
            row = {"source": arrival.source, "delivery_key": key,
                   "alert_id": first[0] if first else None,
                   "received_at": arrival.received_at, "outcome": outcome}
            delivery_rows.append(row)
            seen[(arrival.source, key)] = row | {"investigation_id": first[1] if first else None}
        decisions.append(made)
    records.insert_accepted(conn, delivery_rows, alert_rows)
    return decisions


class GroupCommitter:
    """The single writer: collects arrivals from a queue, commits them in batches."""

    def __init__(self, store: Store, on_commit: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.on_commit = on_commit  # told how many alerts a batch accepted
        self._last_commit = -BUSY_SECONDS
        self._queue: queue.SimpleQueue[tuple[Arrival, Future[list[Decision]]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._run, name="intake-commit", daemon=True)
        self._thread.start()

    def submit(self, arrival: Arrival) -> Future[list[Decision]]:
        """Queue `arrival`; the future resolves once it is committed (or failed)."""
        future: Future[list[Decision]] = Future()
        self._queue.put((arrival, future))
        return future

    def busy(self) -> bool:
        """Whether deliveries are arriving (a batch committed within `BUSY_SECONDS`)."""
        return time.monotonic() - self._last_commit < BUSY_SECONDS

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Arrival, Future[list[Decision]]]]) -> None:
        accepted = commit(self.store, batch)
        self._last_commit = time.monotonic()
        if accepted and self.on_commit is not None:
            self.on_commit(accepted)


def commit(store: Store, batch: list[tuple[Arrival, Future[list[Decision]]]]) -> int:
    """Commit `batch` in one transaction and resolve each future; if the batch fails, commit
    its arrivals one by one, so that only the failing one fails. Return the alerts accepted."""
    for _, future in batch:
        # From here on a request that goes away cannot cancel its future; one that already went
        # away is still written (its sender retries, and dedupe then recognises it).
        future.set_running_or_notify_cancel()
    try:
        with store.transaction() as conn:
            results = write_batch(conn, [arrival for arrival, _ in batch])
    except Exception:  # each arrival is then retried (and failed) on its own
        if len(batch) > 1:
            log.info("a batch of %d deliveries failed; committing them one by one", len(batch))
        return sum(_commit_alone(store, arrival, future) for arrival, future in batch)
    failpoint("intake:committed")  # durable, not yet answered nor promoted
    for (_, future), decisions in zip(batch, results, strict=True):
        _settle(future, decisions)
    return sum(d.status == "accepted" for made in results for d in made)


def _commit_alone(store: Store, arrival: Arrival, future: Future[list[Decision]]) -> int:
    # Twice: a twin committed by another process since our read is then seen as one.
    for attempt in range(2):
        try:
            with store.transaction() as conn:
                decisions = write_batch(conn, [arrival])[0]
        except IntegrityError as exc:
            if attempt:
                _settle(future, exc)
            continue
        except Exception as exc:  # handed to the request that sent it
            _settle(future, exc)
            return 0
        _settle(future, decisions)
        return sum(d.status == "accepted" for d in decisions)
    return 0


def _settle(future: Future[list[Decision]], outcome: list[Decision] | BaseException) -> None:
    if future.cancelled():  # its request went away before the batch began
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
