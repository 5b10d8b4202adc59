"""A connector's own credentials never reach evidence: not in the query as configured, not in a
backend's error message, not in a deep link (URL-encoded), not in rows. And `check()` says whether
the role can create temporary tables, which infra/sql/readonly_role.sql takes away."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from connectors.secrets import SecretRef, scrub, settings_secrets
from tests.connectors._util import req
from tests.connectors.postgres_fixtures import (
    READONLY_ROLE_SQL,
    SECRET,
    pg_connector,
    role,
    seeded_database,
)

ENV = "TRIAGE_TEST_CONNECTOR_PW"


@pytest.fixture(scope="module")
def db(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, "triage_secrets") as dsn:
        yield dsn


def test_scrub_removes_plain_and_url_encoded_forms() -> None:
    secret = "p@ss word/+1"
    text = f"a {secret} b {quote(secret, safe='')} c {quote_plus(secret)}"
    assert scrub(text, secret).count("[redacted]") == 3


def test_settings_secrets_resolves_every_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    settings = {"password": SecretRef(env=ENV), "nested": [SecretRef(env="TRIAGE_TEST_UNSET_PW")]}
    assert settings_secrets(settings) == [SECRET]


def test_a_password_in_the_query_or_the_error_is_not_kept(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    conn = pg_connector(db, password={"env": ENV}, retry_attempts=1,
                        link_template="https://console.example/sql?q={query}")
    try:
        selected = conn.query(req(f"SELECT '{SECRET}' AS echoed, 1 AS n"))
        failed = conn.query(req(f'SELECT * FROM "{SECRET}"'))
    finally:
        conn.close()
    assert selected.query == "SELECT '[redacted]' AS echoed, 1 AS n"
    assert selected.link is not None and quote(SECRET, safe="") not in selected.link
    assert selected.rows == [{"echoed": "[redacted]", "n": 1}]
    assert failed.error is not None and "does not exist" in failed.error
    everything = selected.model_dump_json() + failed.model_dump_json()
    assert SECRET not in everything and quote(SECRET, safe="") not in everything


def test_check_reports_whether_the_role_can_create_temporary_tables(postgres_dsn: str) -> None:
    with seeded_database(postgres_dsn, "triage_temp") as fresh:
        with role(postgres_dsn, fresh, ["GRANT pg_read_all_data TO {role}"]) as dsn:
            conn = pg_connector(dsn)
            try:
                before = conn.check()
            finally:
                conn.close()
        with role(postgres_dsn, fresh, [], script=READONLY_ROLE_SQL, name="triage_ro") as dsn:
            conn = pg_connector(dsn)
            try:
                after = conn.check()
                attempt = conn.query(req("\\connections"))
            finally:
                conn.close()
    assert any(d.startswith("can create temporary tables (TEMPORARY on database")
               for d in before.details), before.details
    assert "cannot create temporary tables" in after.details, after.details
    assert attempt.error is None
