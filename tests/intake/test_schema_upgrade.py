"""Schema 5 on a database of schema 4: alerts learn their investigation's id, and the table of
alerts waiting for one appears."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from triage.models import utcnow
from triage.store import SCHEMA_VERSION, Store, alerts, intake_pending, investigations, schema_version


def test_an_upgrade_names_each_alerts_investigation(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.upgrade()
    now = utcnow()
    with store.transaction() as conn:  # back to schema 4, with one triaged and one bare alert
        conn.execute(sa.text("DROP TABLE intake_pending"))
        conn.execute(sa.text("ALTER TABLE alerts DROP COLUMN investigation_id"))
        conn.execute(schema_version.update().values(version=4))
        for alert_id in ("alt_1", "alt_2"):
            conn.execute(sa.text(
                "INSERT INTO alerts (id, source, dedup_key, title, severity, status, labels, "
                "links, started_at, received_at, payload) VALUES (:id, 'datadog', :id, 't', "
                "'error', 'firing', '{}', '[]', :at, :at, '{}')"), {"id": alert_id, "at": now})
        conn.execute(investigations.insert().values(id="inv_1", alert_id="alt_1", state="queued",
                                                    brain="rules", created_at=now))
    assert store.upgrade() == SCHEMA_VERSION
    with store.transaction() as conn:  # restamped lower, the migrations run again harmlessly
        conn.execute(schema_version.update().values(version=4))
    assert store.upgrade() == SCHEMA_VERSION
    with store.read() as conn:
        named = dict(conn.execute(sa.select(alerts.c.id, alerts.c.investigation_id)).all())
        waiting = conn.execute(sa.select(sa.func.count()).select_from(intake_pending)).scalar()
    store.dispose()
    assert named == {"alt_1": "inv_1", "alt_2": None}
    assert waiting == 0
