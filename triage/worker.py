"""Run investigations in this process: DBOS launched with the investigation workflow registered.

The runtime holds state and services and the workflow's stages depend on it; this module is where
the two meet, so `triage.runtime` never imports the workflow that uses it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from dbos import DBOS

import triage.workflow  # noqa: F401  (registers the workflow with DBOS before launch)
from triage.intake.promote import WORKER_DELAY, Promoter
from triage.runtime import QUEUE_NAME, Runtime, dbos_config, install

# Sweeps up accepted alerts an API process acked but did not live to turn into investigations.
_sweeper: Promoter | None = None


def launch_worker(runtime: Runtime) -> None:
    """Start DBOS in this process: it recovers this worker's unfinished investigations, then
    takes new ones from the queue (at most `worker_concurrency` at once, and at most
    `service_concurrency` per service across all workers)."""
    install(runtime)
    DBOS(config=dbos_config(runtime.settings))
    DBOS.launch()
    DBOS.register_queue(
        QUEUE_NAME,
        worker_concurrency=runtime.settings.worker_concurrency,
        partition_concurrency=runtime.settings.service_concurrency,
        polling_interval_sec=0.2,
    )
    global _sweeper
    _sweeper = Promoter(runtime, older_than=WORKER_DELAY)


def stop_worker() -> None:
    """Stop DBOS and the sweeper in this process (tests start several in a row)."""
    global _sweeper
    if _sweeper is not None:
        _sweeper.close()
        _sweeper = None
    DBOS.destroy(destroy_registry=False)


def run_until_signalled(runtime: Runtime, started: Callable[[], None] = lambda: None) -> None:
    """Run investigations until SIGINT or SIGTERM (`triage worker`, and the worker process of
    `triage serve --processes`), calling `started` once running; then stop and close."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    launch_worker(runtime)
    started()
    stop.wait()
    stop_worker()
    runtime.close()

