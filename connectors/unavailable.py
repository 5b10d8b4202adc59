"""A stand-in for a connector that could not be built (say, its secret is unset): each of its
queries is error evidence naming the problem, so the investigation goes on with the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import (
    Connector,
    ConnectorCheck,
    ConnectorConfigError,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRequest,
)


class UnavailableConnector:
    """Answers every query with the reason the real connector is missing; never reachable."""

    def __init__(self, name: str, kind: EvidenceKind, problem: str) -> None:
        self.name = name
        self.kind = kind
        self.problem = problem

    def query(self, request: QueryRequest) -> Evidence:
        """Error evidence: the connector could not be set up."""
        return EvidenceBuilder(self, request).error(f"connector unavailable: {self.problem}")

    def check(self) -> ConnectorCheck:
        """Unreachable, for the same reason."""
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=False,
                              can_write=None, details=[self.problem])

    def close(self) -> None:
        """Nothing to release."""


def build_or_stand_in(name: str, raw: dict[str, Any], base_dir: Path) -> Connector:
    """The connector named `name`, or an `UnavailableConnector` saying why it cannot be built
    (its settings validated at config load, so only what happens at build time lands here)."""
    from connectors import CONNECTOR_TYPES, build_connector, validate_settings

    try:
        return build_connector(name, raw, base_dir)
    except ConnectorConfigError as exc:
        try:
            kind = getattr(validate_settings(name, raw, base_dir), "kind", None)
        except ConnectorConfigError:
            kind = None
        problem = str(exc) if str(exc).startswith("connector ") else f"connector {name!r}: {exc}"
        return UnavailableConnector(name, EvidenceKind(kind or CONNECTOR_TYPES[raw["type"]].kind),
                                    problem)
