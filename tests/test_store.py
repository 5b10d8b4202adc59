"""The store: schema creation and upgrade, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings, staged_demo
from tests.postgres import fresh_database
from triage.models import Source
from triage.replay import replay
from triage.store import SCHEMA_VERSION, Store, schema_version


def test_upgrade_creates_then_is_idempotent(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    assert store.current_version() is None
    assert store.upgrade() == SCHEMA_VERSION
    assert store.upgrade() == SCHEMA_VERSION
    with store.transaction() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar() == 1
    store.dispose()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.upgrade()
    with store.transaction() as conn:
        conn.execute(schema_version.update().values(version=SCHEMA_VERSION + 1))
    with pytest.raises(RuntimeError, match="newer than this build"):
        store.upgrade()
    store.dispose()


@pytest.mark.slow
def test_demo_runs_on_postgresql(tmp_path: Path, postgres_dsn: str) -> None:
    """Store, DBOS system tables and the whole investigation on PostgreSQL."""
    dsn = fresh_database(postgres_dsn, f"triage_{uuid.uuid4().hex[:8]}")
    workdir, config = staged_demo(tmp_path)
    settings = make_settings(tmp_path, database_url=dsn)
    outcome = replay(settings, config, Source.PAGERDUTY, (workdir / "alert.json").read_bytes())
    assert outcome.report.state == "completed"
    assert outcome.report.findings is not None
    assert outcome.report.findings.hypotheses[0].category == "bad-deploy"
    engine = sa.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM dbos.workflow_status")).scalar_one()
        version = conn.execute(sa.select(schema_version.c.version)).scalar_one()
    engine.dispose()
    assert status == "SUCCESS"
    assert version == SCHEMA_VERSION


@pytest.mark.slow
def test_concurrent_first_starts_on_postgresql_create_the_schema_once(postgres_dsn: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dsn = fresh_database(postgres_dsn, f"triage_{uuid.uuid4().hex[:8]}")
    stores = [Store(dsn) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(lambda store: store.upgrade(), stores))
    assert versions == [SCHEMA_VERSION] * 4
    with stores[0].transaction() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar() == 1
    for store in stores:
        store.dispose()


def test_sqlite_writers_of_every_process_queue_on_one_file_lock(tmp_path: Path) -> None:
    # Several API processes and workers write one SQLite file; each transaction holds the lock
    # file beside it, so the next writer wakes when it frees instead of in SQLite's sleep steps.
    import fcntl
    import os

    path = tmp_path / "triage.sqlite"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    other = os.open(f"{path}.write-lock", os.O_RDWR)  # another process's view of the lock
    try:
        with store.transaction(), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the transaction ended
        fcntl.flock(other, fcntl.LOCK_UN)
        with store.read():  # readers never take it
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
        store.dispose()
