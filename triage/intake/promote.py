"""The background step after the 202: each accepted alert waiting in `intake_pending` becomes
its queued investigation and DBOS workflow, exactly once.

One transaction per batch claims the oldest waiting rows, inserts their investigations under
the ids the 202 already named, enqueues their workflows (workflow id = investigation id) and
deletes the rows: a crash before the commit leaves every row waiting, a crash after leaves none,
and two promoters never take the same row (row locks on PostgreSQL, serial writes on SQLite).
The API process promotes right after each commit; every worker also sweeps up rows older than a
few seconds, so an API that died between its 202 and the promotion loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from triage.failpoints import failpoint
from triage.intake import records
from triage.models import utcnow
from triage.runtime import Runtime, enqueue_options

log = logging.getLogger(__name__)
BATCH = 200
# While the ack path is busy, promote in short transactions (SQLite has one writer: a long one
# would hold every 202 behind it) and for at most a quarter of the time (one GIL): the 202s come
# first, the backlog drains when the storm passes. Short also because each batch holds the GIL
# throughout (one DBOS enqueue is ~0.3 ms of Python): batches of 16 every 50 ms doubled the 202s'
# p90 at 200 deliveries/s (8 ms against 4), while 4 every 10 ms keep pace up to ~350 a second.
BUSY_BATCH = 4
BUSY_SHARE = 0.25
BUSY_GAP_SECONDS = 0.01
WORKER_DELAY = timedelta(seconds=3)  # a live API promotes its own rows well before this
POLL_SECONDS = 1.0


def promote_pending(runtime: Runtime, limit: int = BATCH,
                    older_than: timedelta = timedelta(0)) -> int:
    """Create and enqueue the investigations of up to `limit` waiting alerts received at least
    `older_than` ago; return how many."""
    before = utcnow() - older_than
    with runtime.store.read() as conn:  # a cheap look first: no write lock for nothing
        oldest = records.oldest_pending(conn)
    if oldest is None or oldest > before:
        return 0
    with runtime.store.transaction() as conn:
        claimed = records.claim_pending(conn, limit, before)
        if not claimed:
            return 0
        records.create_investigations(conn, claimed, runtime.config.brain)
        for row in claimed:
            runtime.client.enqueue_in_transaction(
                conn, enqueue_options(row["investigation_id"], row["service"]),
                row["investigation_id"])
        failpoint("intake:promoting")  # enqueued, not committed: all of it must roll back
    return len(claimed)


def promote_now(runtime: Runtime, investigation_ids: list[str],
                timeout: float = 30.0) -> None:
    """Return once these investigations exist: promote what waits, and wait out another
    promoter holding them (callers that read them back at once: Slack's actions)."""
    deadline = time.monotonic() + timeout
    while True:
        promote_pending(runtime)
        with runtime.store.read() as conn:
            if not records.still_pending(conn, investigation_ids):
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"investigations {investigation_ids} still waiting after "
                               f"{timeout:.0f} s")
        time.sleep(0.01)  # another promoter holds them until its commit


class Promoter:
    """A thread that promotes waiting alerts when told (`wake`) and every `POLL_SECONDS`; it
    yields to the ack path while `busy()` says that is committing."""

    def __init__(self, runtime: Runtime, older_than: timedelta = timedelta(0),
                 busy: Callable[[], bool] = lambda: False) -> None:
        self.runtime = runtime
        self.older_than = older_than
        self.busy = busy
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intake-promote", daemon=True)
        self._thread.start()

    def wake(self, _accepted: int = 0) -> None:
        """Promote now (new alerts were committed)."""
        self._wake.set()

    def close(self) -> None:
        """Stop after the batch in progress; waiting rows stay for the next promoter."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the rows stay waiting; the next round retries
                log.exception("promoting accepted alerts to investigations failed; will retry")
                self._stop.wait(POLL_SECONDS)

    def _drain(self) -> None:
        while not self._stop.is_set():
            busy = self.busy()
            limit = BUSY_BATCH if busy else BATCH
            started = time.monotonic()
            done = promote_pending(self.runtime, limit, self.older_than)
            if busy and done:
                pause = (time.monotonic() - started) * (1 / BUSY_SHARE - 1)
                self._stop.wait(max(pause, BUSY_GAP_SECONDS))
            elif done < limit:
                return  # nothing more waiting (new commits wake us again)
