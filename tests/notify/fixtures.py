"""A loopback PagerDuty (HTTPS, throwaway CA) that accepts notes, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from tests.conftest import make_settings
from tests.fakes.pagerduty import FakePagerDuty, Key, incident
from triage.config import Settings
from triage.runtime import Runtime
from triage.store import steps

WRITE_KEY = "pdkey-WRITE-5e1b9c0d"  # planted: must never show up in errors or steps
READ_KEY = "pdkey-READ-77aa"
SENDER = "ops-bot@example.com"
DEMO_INCIDENT = "Q1CHK0UT42"  # the demo bundle's incident
SAMPLE_INCIDENT = "PGR0VU2"  # tests/samples/pagerduty/incident_triggered.json


@pytest.fixture(scope="module")
def pd() -> Iterator[FakePagerDuty]:
    """One fake PagerDuty per module, emptied before each test."""
    fake = FakePagerDuty()
    fake.keys = {WRITE_KEY: Key(read_only=False), READ_KEY: Key(read_only=True)}
    yield fake
    fake.server.stop()


@pytest.fixture(scope="module")
def pd_ca(pd: FakePagerDuty, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake's CA certificate as a PEM file (what TRIAGE_PAGERDUTY_CA_BUNDLE names)."""
    path = tmp_path_factory.mktemp("pd-ca") / "ca.pem"
    pd.ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    """Forget notes, requests and scripted replies of earlier tests (when the fake is in use)."""
    if "pd" not in request.fixturenames:
        return
    fake: FakePagerDuty = request.getfixturevalue("pd")
    fake.server.reset()
    fake.notes.clear()
    fake.lost_answers = 0
    fake.incidents = {i: incident(i, n, "Checkout 5xx", "2026-01-01T00:00:00Z")
                      for n, i in enumerate((DEMO_INCIDENT, SAMPLE_INCIDENT), 1)}


def notes_settings(tmp_path: Path, pd: FakePagerDuty, ca: Path, **overrides: Any) -> Settings:
    """Settings whose notes go to the fake, as the given sender."""
    values: dict[str, Any] = {"pagerduty_api_key": SecretStr(WRITE_KEY), "pagerduty_from": SENDER,
                              "pagerduty_base_url": pd.url, "pagerduty_ca_bundle": ca}
    return make_settings(tmp_path, **(values | overrides))


def notes_env(pd: FakePagerDuty, ca: Path) -> dict[str, str]:
    """The same, as a worker process's environment."""
    return {"TRIAGE_PAGERDUTY_API_KEY": WRITE_KEY, "TRIAGE_PAGERDUTY_FROM": SENDER,
            "TRIAGE_PAGERDUTY_BASE_URL": pd.url, "TRIAGE_PAGERDUTY_CA_BUNDLE": str(ca)}


def posts(pd: FakePagerDuty) -> list[str]:
    """`POST /path` of every note posting the fake received since the test began."""
    return [f"{s.method} {s.path}" for s in pd.server.seen if s.method == "POST"]


def stage_steps(runtime: Runtime, investigation_id: str, name: str) -> dict[str, tuple[str, str]]:
    """The (status, summary) of the step called `name` in each stage of an investigation."""
    with runtime.store.read() as conn:
        rows = conn.execute(sa.select(steps.c.stage, steps.c.status, steps.c.summary).where(
            steps.c.investigation_id == investigation_id, steps.c.name == name)).all()
    return {stage: (status, summary) for stage, status, summary in rows}
