"""Read-only connectors: the control plane's eyes. Never imports `triage` or `sandbox`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.base import (
    Connector,
    ConnectorCheck,
    ConnectorConfigError,
    ConnectorError,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    QueryRefused,
    QueryRequest,
)
from connectors.datadog import DatadogConnector
from connectors.elasticsearch import ElasticsearchConnector
from connectors.files_deploys import FilesDeploysConnector
from connectors.files_logs import FilesLogsConnector
from connectors.files_metrics import FilesMetricsConnector
from connectors.github import GitHubConnector
from connectors.pagerduty import PagerDutyConnector
from connectors.sqlite_db import SqliteConnector

# type name in triage.yaml -> connector class (each has `settings_model` and `kind`)
CONNECTOR_TYPES: dict[str, Any] = {
    "files_logs": FilesLogsConnector,
    "files_metrics": FilesMetricsConnector,
    "files_deploys": FilesDeploysConnector,
    "sqlite": SqliteConnector,
    "datadog": DatadogConnector,
    "elasticsearch": ElasticsearchConnector,
    "pagerduty": PagerDutyConnector,
    "github": GitHubConnector,
}


def validate_settings(name: str, raw: dict[str, Any], base_dir: Path) -> BaseModel:
    """Validate one connector's settings; relative paths are taken from `base_dir`."""
    kind = raw.get("type")
    if kind not in CONNECTOR_TYPES:
        known = ", ".join(sorted(CONNECTOR_TYPES))
        raise ConnectorConfigError(f"connector {name!r}: unknown type {kind!r} (known: {known})")
    try:
        settings: BaseModel = CONNECTOR_TYPES[kind].settings_model.model_validate(raw)
    except ValidationError as exc:
        raise ConnectorConfigError(f"connector {name!r}: {exc}") from exc
    for field, value in list(settings):
        if isinstance(value, Path) and not value.is_absolute():
            setattr(settings, field, (base_dir / value).resolve())
    return settings


def build_connector(name: str, raw: dict[str, Any], base_dir: Path) -> Connector:
    """Build the connector named `name` from its `triage.yaml` entry."""
    settings = validate_settings(name, raw, base_dir)
    connector: Connector = CONNECTOR_TYPES[raw["type"]](name, settings)
    return connector


__all__ = [
    "CONNECTOR_TYPES",
    "Connector",
    "ConnectorCheck",
    "ConnectorConfigError",
    "ConnectorError",
    "Evidence",
    "EvidenceKind",
    "EvidenceStatus",
    "QueryRefused",
    "QueryRequest",
    "build_connector",
    "validate_settings",
]
