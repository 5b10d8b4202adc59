"""`triage init`: a commented triage.yaml that `config check` accepts, never overwritten silently."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from triage.cli import app
from triage.cli.init import DATABASES, LOGS, METRICS, SOURCES
from triage.config import load_config
from triage.models import Alert, AlertStatus, Severity, Source, utcnow

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    for name in ("TRIAGE_CONFIG", "TRIAGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def init(*args: str) -> str:
    result = runner.invoke(app, ["init", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("logs", "metrics", "database"),
                         list(itertools.product(LOGS, METRICS, DATABASES)))
def test_every_choice_of_backends_loads(workdir: Path, logs: str, metrics: str,
                                        database: str) -> None:
    init("--service", "orders", "--logs", logs, "--metrics", metrics, "--database", database)
    config = load_config(workdir / "triage.yaml")
    wanted = {"logs": logs, "metrics": metrics, "database": database}
    assert sorted(config.connectors) == sorted(k for k, v in wanted.items() if v != "none")
    assert [s.name for s in config.services] == ["orders"]
    assert config.services[0].connectors == [k for k, v in wanted.items() if v != "none"]


@pytest.mark.parametrize("source", SOURCES)
def test_the_service_matches_an_alert_of_its_source(workdir: Path, source: str) -> None:
    init("--service", "orders", "--source", source)
    text = (workdir / "triage.yaml").read_text()
    labels = ({"pagerduty_service_id": "PXXXXXX"} if source == "pagerduty"
              else {"service": "orders"})
    alert = Alert(source=Source(source), external_id="a1", dedup_key="d1", title="t",
                  status=AlertStatus.FIRING, severity=Severity.CRITICAL, labels=labels,
                  started_at=utcnow())
    assert load_config(workdir / "triage.yaml").service_for(alert) is not None
    assert text.startswith("# triage.yaml")  # commented for the reader


def test_config_check_accepts_the_default_file(workdir: Path) -> None:
    assert "wrote triage.yaml" in init()
    (workdir / "logs.jsonl").write_text("")
    (workdir / "metrics.csv").write_text("timestamp,metric,value\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "checkout: connectors ['logs', 'metrics']" in result.output


def test_refuses_to_overwrite_without_force(workdir: Path) -> None:
    (workdir / "triage.yaml").write_text("# mine\n")
    refused = runner.invoke(app, ["init"])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert (workdir / "triage.yaml").read_text() == "# mine\n"
    init("--force", "--service", "payments")
    assert yaml.safe_load((workdir / "triage.yaml").read_text())["services"][0]["name"] == "payments"


def test_an_unknown_choice_exits_2_naming_the_choices(workdir: Path) -> None:
    result = runner.invoke(app, ["init", "--logs", "splunk"])
    assert result.exit_code == 2
    assert "elasticsearch" in result.output
    assert not (workdir / "triage.yaml").exists()
