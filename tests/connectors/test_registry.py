"""build_connector / validate_settings: known types, strict settings, paths from base_dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors import (
    CONNECTOR_TYPES,
    Connector,
    ConnectorConfigError,
    ConnectorError,
    EvidenceKind,
    EvidenceStatus,
    build_connector,
    validate_settings,
)
from connectors.files_deploys import FilesDeploysConnector
from connectors.files_logs import FilesLogsConnector
from connectors.files_metrics import FilesMetricsConnector
from connectors.sqlite_db import SqliteConnector
from tests.connectors._util import req

# every registered type, so that adding a connector does not break this test
KNOWN = ", ".join(sorted(CONNECTOR_TYPES))


@pytest.mark.parametrize("raw", [
    {"type": "influxdb", "url": "http://x"},
    {"type": "Files_Logs", "path": "a.jsonl"},
    {"path": "a.jsonl"},
    {"type": None},
])
def test_unknown_type_lists_known_types(tmp_path: Path, raw: dict[str, Any]):
    with pytest.raises(ConnectorConfigError) as info:
        build_connector("edge-logs", raw, tmp_path)
    assert str(info.value) == (
        f"connector 'edge-logs': unknown type {raw.get('type')!r} (known: {KNOWN})")


def test_config_error_is_a_connector_error():
    assert issubclass(ConnectorConfigError, ConnectorError)


@pytest.mark.parametrize(("raw", "field"), [
    ({"type": "files_logs", "path": "a.jsonl", "follow": True}, "follow"),
    ({"type": "files_metrics", "path": "m.csv", "url": "http://x"}, "url"),
    ({"type": "files_deploys", "path": "d.json", "token": "t"}, "token"),
    ({"type": "sqlite", "path": "a.db", "mode": "rw"}, "mode"),
    ({"type": "sqlite", "path": "a.db", "timeout_seconds": "soon"}, "timeout_seconds"),
    ({"type": "files_logs"}, "path"),
])
def test_bad_settings_name_the_connector_and_the_field(tmp_path: Path, raw: dict[str, Any], field: str):
    with pytest.raises(ConnectorConfigError) as info:
        build_connector("prod-db", raw, tmp_path)
    message = str(info.value)
    assert message.startswith("connector 'prod-db': ")
    assert field in message


@pytest.mark.parametrize(("kind", "cls", "evidence_kind"), [
    ("files_logs", FilesLogsConnector, EvidenceKind.LOGS),
    ("files_metrics", FilesMetricsConnector, EvidenceKind.METRICS),
    ("files_deploys", FilesDeploysConnector, EvidenceKind.DEPLOYS),
    ("sqlite", SqliteConnector, EvidenceKind.DATABASE),
])
def test_relative_path_is_resolved_against_base_dir(tmp_path: Path, kind, cls, evidence_kind):
    base = tmp_path / "config"
    conn = build_connector("c1", {"type": kind, "path": "data/../data/file"}, base)
    assert isinstance(conn, cls)
    assert isinstance(conn, Connector)
    assert conn.name == "c1"
    assert conn.kind == evidence_kind
    settings: Any = getattr(conn, "settings")  # noqa: B009 (not part of the Connector protocol)
    assert settings.path == (base / "data" / "file").resolve()
    assert settings.path.is_absolute()
    assert set(CONNECTOR_TYPES) >= {"files_logs", "files_metrics", "files_deploys", "sqlite"}


def test_absolute_path_is_kept(tmp_path: Path):
    target = tmp_path / "elsewhere" / "app.jsonl"
    settings = validate_settings("c", {"type": "files_logs", "path": str(target)},
                                 tmp_path / "config")
    assert settings.path == target  # type: ignore[attr-defined]


def test_parent_relative_path_escapes_base_dir_but_is_normalised(tmp_path: Path):
    settings = validate_settings("c", {"type": "files_logs", "path": "../logs/app.jsonl"},
                                 tmp_path / "config")
    assert settings.path == tmp_path / "logs" / "app.jsonl"  # type: ignore[attr-defined]


def test_built_connector_reads_from_resolved_path(tmp_path: Path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.jsonl").write_text(
        '{"timestamp": "2024-05-01T12:00:01Z", "message": "hi"}\n')
    conn = build_connector("c", {"type": "files_logs", "path": "logs/app.jsonl"}, tmp_path)
    ev = conn.query(req(""))
    assert ev.status == EvidenceStatus.OK
    assert ev.rows[0]["message"] == "hi"
    conn.close()


def test_settings_defaults(tmp_path: Path):
    settings = validate_settings("c", {"type": "files_logs", "path": "a"}, tmp_path)
    assert (settings.timestamp_field, settings.message_field,  # type: ignore[attr-defined]
            settings.level_field) == ("timestamp", "message", "level")  # type: ignore[attr-defined]
    sqlite = validate_settings("d", {"type": "sqlite", "path": "a.db"}, tmp_path)
    assert sqlite.timeout_seconds == 5.0  # type: ignore[attr-defined]


def test_settings_errors_never_quote_the_input(tmp_path: Path):
    secret = "pasted-inline-secret-value-1234"
    with pytest.raises(ConnectorConfigError) as info:
        validate_settings("es", {"type": "elasticsearch", "hosts": ["http://x"], "api_key": secret,
                                 "index": ["logs-*"]}, tmp_path)
    assert secret not in str(info.value)
    assert info.value.__cause__ is None
    assert "api_key" in str(info.value)
