"""postgres check(): connects, verifies read access, and finds whether the role could write —
with roles the test creates, including the one infra/sql/readonly_role.sql sets up."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from connectors import EvidenceStatus
from tests.connectors._util import req
from tests.connectors.postgres_fixtures import (
    READONLY_ROLE_SQL,
    pg_connector,
    role,
    seeded_database,
)


@pytest.fixture(scope="module")
def db(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, "triage_check") as dsn:
        yield dsn


def _check(dsn: str):
    conn = pg_connector(dsn)
    try:
        return conn.check()
    finally:
        conn.close()


def test_superuser_can_write(db: str):
    check = _check(db)
    assert (check.reachable, check.can_write) == (True, True)
    assert check.details[0].startswith("connected to 127.0.0.1:")
    assert " as postgres (PostgreSQL " in check.details[0]
    assert "CAN WRITE: superuser (can do anything)" in check.details


def test_readonly_role_script_gives_a_role_that_cannot_write(postgres_dsn: str, db: str):
    with role(postgres_dsn, db, [], script=READONLY_ROLE_SQL, name="triage_ro") as dsn:
        check = _check(dsn)
        conn = pg_connector(dsn)
        try:
            rows = conn.query(req("SELECT count(*) AS n FROM orders")).rows
            sessions = conn.query(req("\\connections"))
        finally:
            conn.close()
        with psycopg.connect(dsn, autocommit=True) as direct:
            # even outside the connector, the role's own defaults refuse a write
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                direct.execute("DELETE FROM orders")
            direct.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                direct.execute("DELETE FROM orders")
    assert (check.reachable, check.can_write) == (True, False), check.details
    assert " as triage_ro " in check.details[0]
    assert check.details[1] == "reads 4 of 4 tables and views"
    assert "member of pg_monitor, pg_read_all_data, pg_read_all_stats" in check.details[2]
    assert check.details[-1].startswith("default_transaction_read_only = on for this role; every "
                                        "query runs in BEGIN READ ONLY")
    assert not [d for d in check.details if d.startswith("CAN WRITE")]
    assert rows == [{"n": 40}]
    assert sessions.status == EvidenceStatus.OK


@pytest.mark.parametrize(("grants", "reason"), [
    (["GRANT SELECT, INSERT ON orders TO {role}"],
     "CAN WRITE: write privileges on 1 object(s): public.orders (INSERT)"),
    (["GRANT UPDATE (note) ON orders TO {role}"],
     "CAN WRITE: write privileges on 1 object(s): public.orders (UPDATE)"),
    (["GRANT DELETE, TRUNCATE ON audit, users TO {role}"],
     "CAN WRITE: write privileges on 2 object(s): public.audit (DELETE/TRUNCATE), "
     "public.users (DELETE/TRUNCATE)"),
    (["GRANT USAGE ON SEQUENCE counter_seq TO {role}"],
     "CAN WRITE: write privileges on 1 object(s): public.counter_seq (nextval/setval)"),
    (["GRANT CREATE ON SCHEMA public TO {role}"],
     "CAN WRITE: write privileges on 1 object(s): schema public (CREATE)"),
    (["ALTER ROLE {role} CREATEROLE"], "CAN WRITE: CREATEROLE (can create and alter roles)"),
    (["ALTER ROLE {role} CREATEDB"], "CAN WRITE: CREATEDB (can create databases)"),
    (["GRANT pg_write_all_data TO {role}"],
     "CAN WRITE: member of pg_write_all_data (can write every table)"),
    (["GRANT pg_signal_backend TO {role}"],
     "CAN WRITE: member of pg_signal_backend (can cancel and terminate sessions)"),
])
def test_any_write_privilege_is_reported(postgres_dsn: str, db: str, grants: list[str], reason: str):
    with role(postgres_dsn, db, grants) as dsn:
        check = _check(dsn)
    assert (check.reachable, check.can_write) == (True, True)
    assert reason in check.details


def test_many_writable_objects_are_summarised(postgres_dsn: str, db: str):
    grants = ["GRANT INSERT ON ALL TABLES IN SCHEMA public TO {role}",
              "GRANT UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}"]
    with role(postgres_dsn, db, grants) as dsn:
        check = _check(dsn)
    writes = [d for d in check.details if d.startswith("CAN WRITE")]
    # three tables, a view and three sequences: five named, two more counted
    assert writes == [
        "CAN WRITE: write privileges on 7 object(s): public.audit (INSERT), "
        "public.audit_id_seq (nextval/setval), public.counter_seq (nextval/setval), "
        "public.failed_orders (INSERT), public.orders (INSERT) and 2 more"]


def test_a_role_without_grants_reads_nothing_and_writes_nothing(postgres_dsn: str, db: str):
    with role(postgres_dsn, db, []) as dsn:
        check = _check(dsn)
        conn = pg_connector(dsn)
        try:
            ev = conn.query(req("SELECT * FROM orders"))
        finally:
            conn.close()
    assert (check.reachable, check.can_write) == (True, False)
    assert check.details[1].startswith("reads 0 of 4 tables and views; cannot read e.g. "
                                       "public.audit, public.failed_orders, public.orders")
    assert check.details[2].startswith("not a member of pg_monitor")
    assert ev.error == ("postgres error 42501: permission denied for table orders "
                        "(the connector's role lacks this privilege)")


def test_a_role_that_cannot_log_in_is_unreachable(postgres_dsn: str, db: str):
    with role(postgres_dsn, db, ["ALTER ROLE {role} NOLOGIN"]) as dsn:
        check = _check(dsn)
    assert (check.reachable, check.can_write) == (False, None)
    assert "is not permitted to log in" in check.details[0]
