"""Read-only connectors: the control plane's eyes. Never imports `triage` or `sandbox`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
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
from connectors.validation import describe_errors

# type name in triage.yaml -> "module:Class" (each class has `settings_model` and `kind`).
# Imported on first use: vendor clients are slow to import, and a process needs only its own.
_CONNECTOR_PATHS = {
    "files_logs": "connectors.files_logs:FilesLogsConnector",
    "files_metrics": "connectors.files_metrics:FilesMetricsConnector",
    "files_deploys": "connectors.files_deploys:FilesDeploysConnector",
    "sqlite": "connectors.sqlite_db:SqliteConnector",
    "postgres": "connectors.postgres:PostgresConnector",
    "pagerduty": "connectors.pagerduty:PagerDutyConnector",
    "github": "connectors.github:GitHubConnector",
    "datadog": "connectors.datadog:DatadogConnector",
    "elasticsearch": "connectors.elasticsearch:ElasticsearchConnector",
    "prometheus": "connectors.prometheus:PrometheusConnector",
}


class _LazyRegistry(Mapping[str, Any]):
    """A read-only mapping whose values are imported when first looked up."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    def __getitem__(self, name: str) -> Any:
        module, _, attribute = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


CONNECTOR_TYPES: Mapping[str, Any] = _LazyRegistry(_CONNECTOR_PATHS)


def _resolve_paths(model: BaseModel, base_dir: Path) -> BaseModel:
    """Relative paths anywhere in the settings (secret files too) are taken from `base_dir`."""
    updates: dict[str, Any] = {}
    for field, value in model:
        if isinstance(value, Path) and not value.is_absolute():
            updates[field] = (base_dir / value).resolve()
        elif isinstance(value, BaseModel):
            updates[field] = _resolve_paths(value, base_dir)
    return model.model_copy(update=updates) if updates else model


def validate_settings(name: str, raw: dict[str, Any], base_dir: Path) -> BaseModel:
    """Validate one connector's settings; relative paths are taken from `base_dir`."""
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CONNECTOR_TYPES:
        known = ", ".join(sorted(CONNECTOR_TYPES))
        raise ConnectorConfigError(f"connector {name!r}: unknown type {kind!r} (known: {known})")
    try:
        settings: BaseModel = CONNECTOR_TYPES[kind].settings_model.model_validate(raw)
    except ValidationError as exc:
        # Field and problem only: pydantic's own text quotes the input, which may be a secret
        # pasted inline by mistake.
        problems = describe_errors(exc, CONNECTOR_TYPES[kind].settings_model, "(settings)")
        raise ConnectorConfigError(f"connector {name!r}: {problems}") from None
    return _resolve_paths(settings, base_dir)


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
