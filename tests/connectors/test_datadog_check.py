"""datadog: `check()` (key validation, read probes, application key scopes → can_write), settings,
deep links, and the `triage connectors test` / `triage query` commands on a Datadog connector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors import CONNECTOR_TYPES, ConnectorConfigError, validate_settings
from connectors.datadog import DatadogConnector, DatadogSettings
from connectors.datadog.links import metrics_link
from connectors.datadog.scopes import is_read_scope
from tests.connectors._util import T0, T1
from tests.connectors.datadog_fixtures import (
    API_KEY,
    APP_KEY,
    WRONG_KEY,
    app_key,
    make,
    seed,
    write_secrets,
)
from tests.fakes.datadog import FakeDatadog
from triage.cli import app


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDatadog]:
    with FakeDatadog(API_KEY, APP_KEY) as server:
        yield seed(server)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_secrets(tmp_path_factory.mktemp("dd-secrets"))


@pytest.fixture
def dd(fake: FakeDatadog, secrets: dict[str, Any]) -> Iterator[DatadogConnector]:
    fake.reset()
    seed(fake)
    connector = make(fake, secrets)
    yield connector
    connector.close()


def own_key(fake: FakeDatadog, scopes: list[str] | None) -> None:
    fake.app_keys = [app_key("other", "abcd", ["monitors_write"]),
                     app_key("sre-triage", APP_KEY[-4:], scopes)]


# --- check ----------------------------------------------------------------------------------------

def test_read_only_scopes_mean_cannot_write(dd, fake: FakeDatadog):
    own_key(fake, ["logs_read_data", "logs_read_index_data", "timeseries_query", "monitors_read",
                   "events_read"])
    check = dd.check()
    assert (check.connector, check.kind.value, check.reachable) == ("dd", "logs", True)
    assert check.can_write is False
    assert check.details == [
        f"datadoghq.eu via {fake.url}: API key valid",
        "logs: readable", "metrics: readable", "monitor: readable", "events: readable",
        "application key 'sre-triage' is scoped to read-only scopes: events_read, logs_read_data, "
        "logs_read_index_data, monitors_read, timeseries_query",
        "any Datadog API key can also submit data (metrics, logs, events); this connector calls no "
        "submit or write endpoint",
    ]
    assert fake.routes() == ["validate", "logs", "metrics", "monitors", "events", "app_keys"]


def test_write_scopes_mean_can_write(dd, fake: FakeDatadog):
    own_key(fake, ["logs_read_data", "monitors_write", "monitors_downtime", "dashboards_public_share"])
    check = dd.check()
    assert check.can_write is True and check.reachable
    assert ("application key 'sre-triage' has scopes that can change things: dashboards_public_share, "
            "monitors_downtime, monitors_write") in check.details


def test_unscoped_key_cannot_be_told(dd, fake: FakeDatadog):
    own_key(fake, None)
    check = dd.check()
    assert check.can_write is None
    assert any(d.startswith("application key 'sre-triage': the application key is unscoped: it carries "
                            "every permission of its owner") for d in check.details)


def test_key_listing_denied_cannot_be_told(dd, fake: FakeDatadog):
    fake.app_keys = None
    check = dd.check()
    assert check.can_write is None and check.reachable
    assert any(d.startswith("cannot read the application key's scopes (Datadog application key listing "
                            "failed: HTTP 403 Forbidden: Failed permission authorization checks")
               for d in check.details)
    assert any(d.startswith("Datadog limits what an application key can do by its scopes")
               for d in check.details)


def test_key_not_among_the_users_keys_cannot_be_told(dd, fake: FakeDatadog):
    fake.app_keys = [app_key("other", "abcd", ["logs_read_data"])]
    check = dd.check()
    assert check.can_write is None
    assert "no application key(s) of the current user match the configured one; cannot tell its scopes" \
        in check.details


def test_key_listing_follows_pages(dd, fake: FakeDatadog):
    fake.app_keys = [app_key(f"k{i}", f"{i:04d}", None) for i in range(150)]
    fake.app_keys.append(app_key("sre-triage", APP_KEY[-4:], ["events_read"]))
    assert dd.check().can_write is False
    assert fake.routes().count("app_keys") == 2


def test_unreadable_logs_make_a_logs_connector_unreachable(dd, fake: FakeDatadog, secrets: dict[str, Any]):
    fake.denied.add("logs")
    check = dd.check()
    assert not check.reachable
    assert any(d.startswith("logs: NOT readable: Datadog logs search failed: HTTP 403 Forbidden")
               for d in check.details)
    metrics_side = make(fake, secrets, kind="metrics").check()
    assert metrics_side.reachable and metrics_side.kind.value == "metrics"


def test_wrong_api_key_is_unreachable(fake: FakeDatadog, tmp_path: Path):
    fake.reset()
    check = make(fake, write_secrets(tmp_path, api_key=WRONG_KEY)).check()
    assert (check.reachable, check.can_write) == (False, None)
    assert check.details == [f"datadoghq.eu via {fake.url}: Datadog API key validation failed: HTTP 403 "
                             "Forbidden (the API key is invalid, or the application key or its owner "
                             "lacks permission)"]
    assert fake.routes() == ["validate"]


def test_invalid_answer_to_validate_is_unreachable(dd, fake: FakeDatadog):
    from tests.fakes.datadog import Scripted

    fake.script("validate", Scripted(200, {"valid": False}))
    check = dd.check()
    assert not check.reachable
    assert check.details == [f"datadoghq.eu via {fake.url}: Datadog says the API key is not valid"]


@pytest.mark.parametrize(("scope", "reads"), [
    ("logs_read_data", True), ("timeseries_query", True), ("monitors_read", True),
    ("events_read", True), ("user_access_read", True), ("logs_read_index_data", True),
    ("monitors_write", False), ("monitors_downtime", False), ("user_app_keys", False),
    ("dashboards_public_share", False), ("incident_write", False), ("read_write", False),
    ("synthetics_private_location_read", True), ("org_management", False), ("ready", False),
])
def test_scope_allowlist(scope: str, reads: bool):
    assert is_read_scope(scope) is reads


# --- settings -------------------------------------------------------------------------------------

def settings(**raw: Any) -> DatadogSettings:
    model = validate_settings("dd", {"type": "datadog", "api_key": {"env": "A"}, "app_key": {"env": "B"},
                                     **raw}, Path("."))
    assert isinstance(model, DatadogSettings)
    return model


def test_registered_as_datadog():
    assert CONNECTOR_TYPES["datadog"] is DatadogConnector


@pytest.mark.parametrize(("site", "api", "ui"), [
    (None, "https://api.datadoghq.com", "https://app.datadoghq.com"),
    ("datadoghq.eu", "https://api.datadoghq.eu", "https://app.datadoghq.eu"),
    ("https://app.datadoghq.eu/", "https://api.datadoghq.eu", "https://app.datadoghq.eu"),
    ("US5.datadoghq.com", "https://api.us5.datadoghq.com", "https://us5.datadoghq.com"),
    ("ap1.datadoghq.com", "https://api.ap1.datadoghq.com", "https://ap1.datadoghq.com"),
    ("ddog-gov.com", "https://api.ddog-gov.com", "https://app.ddog-gov.com"),
])
def test_site_gives_api_and_ui(site: str | None, api: str, ui: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DD_SITE", raising=False)
    model = settings(**({"site": site} if site else {}))
    assert (model.api_base(), model.ui_base()) == (api, ui)


def test_dd_site_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DD_SITE", "us3.datadoghq.com")
    assert settings().api_base() == "https://api.us3.datadoghq.com"
    assert settings(site="datadoghq.eu").api_base() == "https://api.datadoghq.eu"


@pytest.mark.parametrize(("raw", "field"), [
    ({"site": "not a site"}, "site"),
    ({"site": "datadoghq.com/evil"}, "site"),
    ({"base_url": "http://api.example.com"}, "plain http is only allowed to localhost"),
    ({"base_url": "https://api.example.com/v1"}, "not a path"),
    ({"base_url": "https://user:pw@api.example.com"}, "credentials"),
    ({"base_url": "ftp://x"}, "not an http(s) URL"),
    ({"kind": "database"}, "kind"),
    ({"page_size": 5000}, "page_size"),
    ({"api_key": "inline-secret"}, "api_key"),
    ({"password": {"env": "X"}}, "password"),
])
def test_bad_settings_are_refused(raw: dict[str, Any], field: str):
    with pytest.raises(ConnectorConfigError) as info:
        settings(**raw)
    assert field in str(info.value)
    assert "inline-secret" not in str(info.value)  # a key pasted inline is not echoed back


def test_loopback_http_and_https_base_urls_are_fine():
    assert settings(base_url="http://127.0.0.1:8126/").api_base() == "http://127.0.0.1:8126"
    assert settings(base_url="http://localhost:1").api_base() == "http://localhost:1"
    assert settings(base_url="https://dd-proxy.internal:8443").api_base() == "https://dd-proxy.internal:8443"


def test_metrics_link_for_an_arithmetic_expression_opens_its_first_metric():
    link = metrics_link("https://app.datadoghq.com", "sum:a.errors{*}.as_count() / sum:a.hits{*}.as_count()",
                        T0, T1)
    assert link.startswith("https://app.datadoghq.com/metric/explorer?exp_metric=a.errors&exp_agg=sum&")
    plain = metrics_link("https://app.datadoghq.com", "system.load.1{*}", T0, T1)
    assert "exp_metric=system.load.1&exp_row_type=metric" in plain and "exp_scope" not in plain


# --- the CLI --------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_config(fake: FakeDatadog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake.reset()
    seed(fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DD_CLI_API_KEY", API_KEY)
    monkeypatch.setenv("DD_CLI_APP_KEY", APP_KEY)
    config = {"connectors": {"datadog": {
        "type": "datadog", "site": "datadoghq.eu", "base_url": fake.url, "timeout_seconds": 2,
        "api_key": {"env": "DD_CLI_API_KEY"}, "app_key": {"env": "DD_CLI_APP_KEY"}}}}
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TRIAGE_CONFIG", str(path))
    return path


def test_cli_connectors_test_passes_for_a_read_only_key(cli_config: Path):
    result = runner.invoke(app, ["connectors", "test", "datadog"])
    assert result.exit_code == 0, result.output
    assert "datadog (logs): ok" in result.output
    assert "scoped to read-only scopes" in result.output
    assert "CAN WRITE" not in result.output
    assert API_KEY not in result.output and APP_KEY not in result.output


def test_cli_connectors_test_warns_loudly_for_write_scopes(cli_config: Path, fake: FakeDatadog):
    own_key(fake, ["logs_read_data", "monitors_write"])
    result = runner.invoke(app, ["connectors", "test", "datadog"])
    assert result.exit_code == 1
    assert "WARNING: the credentials of 'datadog' CAN WRITE" in result.output
    assert "monitors_write" in result.output


def test_cli_query_prints_evidence_as_json(cli_config: Path):
    start, end = T0.isoformat(), T1.isoformat()
    result = runner.invoke(app, ["query", "datadog", "logs: service:checkout status:error", "--since", start,
                                 "--until", end, "--limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.output)
    assert (evidence["status"], evidence["row_count"], evidence["truncated"]) == ("ok", 12, True)
    assert len(evidence["rows"]) == 5 and evidence["sampling"]["matched"] == 12
    assert evidence["link"].startswith("https://app.datadoghq.eu/logs?query=service%3Acheckout")
    assert datetime.fromisoformat(evidence["start"]) == T0.astimezone(UTC)


def test_cli_query_error_exits_one_with_datadogs_message(cli_config: Path):
    result = runner.invoke(app, ["query", "datadog", "monitor: 999"])
    assert result.exit_code == 1
    assert "error: Datadog monitor lookup failed: HTTP 404 Not Found: Monitor not found" in result.output
