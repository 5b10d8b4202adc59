"""`db_activity.yaml`: database sessions a bundle holds open while its investigation runs, so
the PostgreSQL diagnostics see them for real in `pg_stat_activity` and `pg_locks`.

    idle_for: 40s                  # deliver the alert once every held session has been
                                   # in its state this long (the diagnostics have thresholds)
    sessions:
      - application_name: orders-api
        count: 8                   # this many sessions, each: BEGIN; statement; then idle
        statement: SELECT id FROM orders WHERE id = 42
      - application_name: reconcile-batch
        statement: UPDATE orders SET status = 'reconciling' WHERE created_at < '2026-10-14'
      - application_name: orders-api
        count: 3
        statement: UPDATE orders SET status = 'paid' WHERE id = 7
        wait: true                 # blocks behind an earlier session's locks
        lock_timeout: 300s         # ...and gives up by then if the harness is gone

Sessions open in order; a `wait` session must be seen waiting on a lock before the next opens.
Everything is rolled back and closed when the investigation is done.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.backends import BackendError

FILE = "db_activity.yaml"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
READY_SECONDS = 30.0  # how long a `wait` session may take to be seen waiting


def _seconds(value: object) -> float:
    """`500ms`, `40s`, `2m` or a number of seconds."""
    match = _DURATION.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration (e.g. 500ms, 40s, 2m)")
    return float(match[1]) * _UNITS[match[2] or "s"]


class Session(BaseModel):
    """One kind of session: who it is, what it ran, and whether it waits on a lock."""

    model_config = ConfigDict(extra="forbid")

    application_name: str
    statement: str
    count: int = Field(default=1, ge=1, le=100)
    wait: bool = Field(default=False, description="the statement blocks on a lock")
    lock_timeout: float = Field(default=300.0, gt=0, description="seconds, for `wait` sessions")

    _lock_seconds = field_validator("lock_timeout", mode="before")(_seconds)


class DbActivity(BaseModel):
    """`db_activity.yaml`."""

    model_config = ConfigDict(extra="forbid")

    database: str | None = Field(default=None, description="the database connector; default: "
                                 "the bundle's only one")
    idle_for: float = Field(default=0.0, ge=0, le=600)
    sessions: list[Session] = Field(min_length=1)

    _idle_seconds = field_validator("idle_for", mode="before")(_seconds)


def load_activity(bundle: Path) -> DbActivity | None:
    """The bundle's `db_activity.yaml`, validated; None when it has none."""
    path = bundle / FILE
    if not path.is_file():
        return None
    try:
        return DbActivity.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise BackendError(f"{path}: {exc}") from exc


class _Waiter:
    """A statement blocked on a lock, on its own connection in a thread."""

    def __init__(self, conn: psycopg.Connection, statement: str) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self._thread.start()

    def _run(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except psycopg.Error as exc:  # cancelled at the end, or the lock timeout struck
            self.error = exc

    def finish(self) -> None:
        if self._thread.is_alive():
            self.conn.cancel_safe()
        self._thread.join(10)


@contextmanager
def staged(dsn: str, activity: DbActivity) -> Iterator[list[int]]:
    """Open every session, wait until they are in their states (and idle long enough); yield
    their backend pids; roll back and close them all afterwards, whatever happened."""
    with contextlib.ExitStack() as stack:
        pids: list[int] = []
        for spec in activity.sessions:
            for _ in range(spec.count):
                conn = psycopg.connect(dsn, application_name=spec.application_name)
                stack.callback(conn.close)
                stack.callback(_rollback, conn)
                pids.append(conn.info.backend_pid)
                if spec.wait:
                    conn.execute(f"SET lock_timeout = '{int(spec.lock_timeout * 1000)}ms'")
                    waiter = _Waiter(conn, spec.statement)
                    stack.callback(waiter.finish)
                    _until_waiting(dsn, conn.info.backend_pid, waiter, spec.statement)
                else:
                    try:
                        conn.execute(spec.statement)
                    except psycopg.Error as exc:
                        raise BackendError(f"{FILE}: {spec.statement!r} failed: {exc}") from exc
        _until_idle_for(dsn, pids, activity.idle_for)
        yield pids


def _rollback(conn: psycopg.Connection) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.rollback()


def _until_waiting(dsn: str, pid: int, waiter: _Waiter, statement: str) -> None:
    """Return once `pid` waits on a lock; the statement must not finish instead."""
    deadline = time.monotonic() + READY_SECONDS
    with psycopg.connect(dsn, autocommit=True) as watch:
        while time.monotonic() < deadline:
            row = watch.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                [pid]).fetchone()
            if row and row[0] == "Lock":
                return
            if waiter.error is not None:
                raise BackendError(f"{FILE}: {statement!r} failed instead of waiting: "
                                   f"{waiter.error}")
            time.sleep(0.05)
    raise BackendError(f"{FILE}: {statement!r} did not wait on a lock within "
                       f"{READY_SECONDS:.0f}s (does an earlier session hold the rows?)")


def _until_idle_for(dsn: str, pids: list[int], seconds: float) -> None:
    """Return once every session has been in its current state for `seconds`."""
    if seconds <= 0:
        return
    deadline = time.monotonic() + seconds + READY_SECONDS
    with psycopg.connect(dsn, autocommit=True) as watch:
        while True:
            row = watch.execute(
                "SELECT coalesce(min(extract(epoch FROM now() - state_change)), 0)::float8 "
                "FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone()
            shortest = float(row[0]) if row else 0.0
            if shortest >= seconds:
                return
            if time.monotonic() > deadline:
                raise BackendError(f"{FILE}: sessions were not in their states for {seconds:g}s")
            time.sleep(min(1.0, max(0.05, seconds - shortest)))
