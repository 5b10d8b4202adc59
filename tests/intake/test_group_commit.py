"""Group commit and the background step: a batch dedupes within itself and against the store, one
arrival's conflict fails no other, and concurrent promoters make each investigation once."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.intake.conftest import Intake, unique
from triage import repository as repo
from triage.intake.commit import Arrival, Decision, commit, write_batch
from triage.intake.promote import promote_pending
from triage.models import Alert, Severity, Source, utcnow
from triage.store import alerts, deliveries, intake_pending, investigations


def arrival(key: str, dedup_key: str, alert_id: str | None = None) -> Arrival:
    """A one-alert Datadog delivery as the ack path would hand it over."""
    alert = Alert(source=Source.DATADOG, dedup_key=dedup_key, title=f"alert {dedup_key}",
                  severity=Severity.ERROR, started_at=utcnow())
    return Arrival(Source.DATADOG.value, (key,),
                   ((alert, alert_id or repo.new_id("alt"), repo.new_id("inv")),),
                   {"id": key}, utcnow())


def run(intake: Intake, batch: list[Arrival]) -> list[list[Decision] | BaseException]:
    futures: list[Future[list[Decision]]] = [Future() for _ in batch]
    commit(intake.runtime.store, list(zip(batch, futures, strict=True)))
    return [f.exception() or f.result() for f in futures]


def count(intake: Intake, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    with intake.runtime.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where))
                   .scalar_one())


def test_a_batch_dedupes_within_itself_and_against_the_store(intake: Intake) -> None:
    stored_key, stored_alert = unique("event:"), unique("cycle-")
    [[first]] = run(intake, [arrival(stored_key, stored_alert)])  # type: ignore[misc]
    new_key, new_alert = unique("event:"), unique("cycle-")
    batch = [arrival(new_key, new_alert),
             arrival(new_key, unique("cycle-")),           # same delivery again, in the batch
             arrival(unique("event:"), new_alert),         # same alert, new delivery
             arrival(stored_key, unique("cycle-")),        # a delivery stored earlier
             arrival(unique("event:"), stored_alert)]      # an alert stored earlier
    results = run(intake, batch)
    assert all(isinstance(r, list) for r in results), results
    decided = [r[0] for r in results if isinstance(r, list)]
    accepted = decided[0].investigation_id
    assert [d.status for d in decided] == ["accepted", "duplicate-delivery", "duplicate-alert",
                                           "duplicate-delivery", "duplicate-alert"]
    assert [d.investigation_id for d in decided] == [accepted, accepted, accepted,
                                                     first.investigation_id,
                                                     first.investigation_id]
    assert decided[3].earlier_key == stored_key
    assert count(intake, alerts, alerts.c.dedup_key == new_alert) == 1
    assert count(intake, deliveries, deliveries.c.delivery_key == new_key) == 1


def test_a_conflict_fails_only_its_own_arrival(intake: Intake) -> None:
    taken = repo.new_id("alt")
    run(intake, [arrival(unique("event:"), unique("cycle-"), alert_id=taken)])
    keys = [unique("event:") for _ in range(3)]
    # the middle one reuses a stored alert's id: the batch fails, then each goes alone
    results = run(intake, [arrival(keys[0], unique("cycle-")),
                           arrival(keys[1], unique("cycle-"), alert_id=taken),
                           arrival(keys[2], unique("cycle-"))])
    assert isinstance(results[1], sa.exc.IntegrityError)
    for result in (results[0], results[2]):
        assert isinstance(result, list) and result[0].status == "accepted"
    assert count(intake, deliveries, deliveries.c.delivery_key.in_(keys)) == 2


@pytest.mark.parametrize("promoters", [4])
def test_concurrent_promoters_make_each_investigation_once(intake: Intake, promoters: int) -> None:
    batch = [arrival(unique("event:"), unique("cycle-")) for _ in range(60)]
    run(intake, batch)
    ids = [inv for a in batch for _, _, inv in a.alerts]
    with ThreadPoolExecutor(max_workers=promoters) as pool:
        list(pool.map(lambda _: promote_pending(intake.runtime, limit=7), range(promoters * 4)))
    while promote_pending(intake.runtime):  # whatever the pool left (rows it skipped as locked)
        pass
    assert count(intake, investigations, investigations.c.id.in_(ids)) == len(ids)
    assert count(intake, intake_pending, intake_pending.c.investigation_id.in_(ids)) == 0
    with intake.runtime.store.read() as conn:
        table = "dbos.workflow_status" if intake.store == "postgresql" else "workflow_status"
        workflows = conn.execute(sa.text(f"SELECT workflow_uuid FROM {table}")).scalars()
        assert sorted(w for w in workflows if w in set(ids)) == sorted(ids)


def test_an_accepted_alert_reads_as_its_queued_investigation_before_that_is_created(
        intake: Intake) -> None:
    accepted = arrival(unique("event:"), unique("cycle-"))
    (_, alert_id, investigation_id), = accepted.alerts
    with intake.runtime.store.transaction() as conn:  # no promoter sees it before this commits
        write_batch(conn, [accepted])
        row = repo.get_investigation(conn, investigation_id)
        created = conn.execute(sa.select(investigations.c.id).where(
            investigations.c.id == investigation_id)).first()
    assert created is None
    assert row is not None
    assert (row["id"], row["alert_id"], row["state"]) == (investigation_id, alert_id, "queued")
    assert row["created_at"] == accepted.received_at
