"""prometheus: `check()` and `triage connectors test` against real servers started with the flags
that open write endpoints (no scraping needed, so each starts in well under a second)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors import build_connector
from connectors.base import ConnectorCheck
from tests.connectors.prometheus_fixtures import prometheus_server
from triage.cli import app


def check(url: str) -> ConnectorCheck:
    conn = build_connector("prom", {"type": "prometheus", "url": url}, Path("."))
    try:
        return conn.check()
    finally:
        conn.close()


@pytest.mark.parametrize(("flag", "exposed"), [
    ("--web.enable-admin-api", "the admin API (delete series, snapshots, clean tombstones)"),
    ("--web.enable-remote-write-receiver", "the remote-write receiver (POST /api/v1/write)"),
])
def test_check_detects_write_endpoints(flag: str, exposed: str):
    with prometheus_server(auth=False, flags=(flag,)) as url:
        result = check(url)
    assert (result.reachable, result.can_write) == (True, True)
    assert any(d.startswith(f"this server exposes {exposed}") for d in result.details)


def test_lifecycle_api_is_noted_but_writes_no_data():
    with prometheus_server(auth=False, flags=("--web.enable-lifecycle",)) as url:
        result = check(url)
    assert result.can_write is False
    assert any("--web.enable-lifecycle is on" in d for d in result.details)


def test_cli_warns_loudly_when_the_server_accepts_writes(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    monkeypatch.delenv("TRIAGE_CONFIG", raising=False)
    with prometheus_server(auth=False, flags=("--web.enable-admin-api",)) as url:
        (tmp_path / "triage.yaml").write_text(yaml.safe_dump(
            {"connectors": {"prom": {"type": "prometheus", "url": url}}}))
        result = CliRunner().invoke(app, ["connectors", "test"])
    assert result.exit_code == 1
    assert "WARNING: the credentials of 'prom' CAN WRITE" in result.output
