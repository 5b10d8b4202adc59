"""A connector whose secret is unset is that connector's error evidence; the others still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import EvidenceKind, QueryRequest
from connectors.unavailable import UnavailableConnector, build_or_stand_in
from tests.conftest import make_settings, staged_demo
from triage.config import parse_config
from triage.models import Source, utcnow
from triage.replay import replay

POSTGRES = {"type": "postgres", "dsn": "postgresql://triage_ro@127.0.0.1:9/orders",
            "password": {"env": "TRIAGE_TEST_UNSET_PASSWORD"}}


def test_an_unset_secret_builds_a_stand_in_that_says_why(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_TEST_UNSET_PASSWORD", raising=False)
    connector = build_or_stand_in("orders_db", POSTGRES, tmp_path)
    assert isinstance(connector, UnavailableConnector)
    assert connector.kind == EvidenceKind.DATABASE
    now = utcnow()
    evidence = connector.query(QueryRequest(query="select 1", start=now, end=now))
    assert evidence.status == "error" and evidence.connector == "orders_db"
    assert evidence.error == ("connector unavailable: connector 'orders_db': secret not set: "
                              "environment variable TRIAGE_TEST_UNSET_PASSWORD is empty or unset")
    assert not connector.check().reachable


def test_with_the_secret_set_the_real_connector_is_built(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_TEST_UNSET_PASSWORD", "now-set")
    connector = build_or_stand_in("orders_db", POSTGRES, tmp_path)
    try:
        assert not isinstance(connector, UnavailableConnector)
    finally:
        connector.close()


def test_the_investigation_goes_on_with_the_other_connectors(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_TEST_UNSET_PASSWORD", raising=False)
    workdir, demo = staged_demo(tmp_path)
    raw = demo.model_dump(mode="json")
    raw["connectors"] = {**demo.connectors, "orders_pg": POSTGRES}
    raw["services"][0]["connectors"].append("orders_pg")
    raw["sandbox"] = "none"
    config = parse_config(raw, workdir, "test")
    outcome = replay(make_settings(tmp_path), config, Source.PAGERDUTY,
                     (workdir / "alert.json").read_bytes())
    report = outcome.report
    assert report.state == "completed", report.error
    failed = [q for q in report.queries if q.status == "error"]
    assert failed and all("orders_pg" in q.name for q in failed)
    assert all("TRIAGE_TEST_UNSET_PASSWORD is empty or unset" in q.summary for q in failed)
    assert any(q.status == "ok" for q in report.queries)
    assert report.findings is not None and report.findings.hypotheses[0].category == "bad-deploy"
