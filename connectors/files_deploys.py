"""Deploy history from a JSON file (`deploys.json`): the embedded "what changed" source."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import (
    ConnectorCheck,
    Evidence,
    EvidenceBuilder,
    EvidenceKind,
    QueryRefused,
    QueryRequest,
)
from connectors.filters import parse_filter
from connectors.timeparse import parse_timestamp


class Deploy(BaseModel):
    """One deploy as recorded by the deploy system."""

    model_config = ConfigDict(extra="allow")

    service: str
    commit: str
    deployed_at: str
    id: str = ""
    previous_commit: str | None = None
    author: str = ""
    description: str = ""
    url: str | None = None
    files: list[str] = Field(default_factory=list)


class FilesDeploysSettings(BaseModel):
    """`type: files_deploys` — a JSON array of deploys."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["files_deploys"] = "files_deploys"
    path: Path


class FilesDeploysConnector:
    """Deploys inside the time range that match a filter such as `service=checkout`."""

    kind = EvidenceKind.DEPLOYS
    settings_model = FilesDeploysSettings

    def __init__(self, name: str, settings: FilesDeploysSettings) -> None:
        self.name = name
        self.settings = settings

    def query(self, request: QueryRequest) -> Evidence:
        """Return the matching deploys, oldest first."""
        builder = EvidenceBuilder(self, request)
        try:
            record_filter = parse_filter(request.query)
            raw = json.loads(self.settings.path.read_text(encoding="utf-8"))
            dated = sorted(((parse_timestamp(d.deployed_at), d) for d in map(Deploy.model_validate, raw)),
                           key=lambda pair: pair[0])
        except QueryRefused as exc:
            return builder.error(str(exc))
        except FileNotFoundError:
            return builder.error(f"deploys file not found: {self.settings.path}")
        except OSError as exc:
            return builder.error(f"cannot read deploys file {self.settings.path}: {exc.strerror}")
        except (ValueError, TypeError, ValidationError) as exc:
            return builder.error(f"{self.settings.path} is not a JSON list of deploys: {exc}")
        rows: list[dict[str, Any]] = []
        for deployed_at, deploy in dated:
            record = deploy.model_dump()
            if request.start <= deployed_at < request.end and (
                record_filter.matches(record, deploy.description)
            ):
                rows.append(record)
        summary = "; ".join(
            f"{row['deployed_at']} {row['service']} {row['commit'][:10]} by {row['author'] or '?'}"
            for row in rows[-5:]
        )
        return builder.ok(rows, f"{len(rows)} deploys; latest: {summary}")

    def check(self) -> ConnectorCheck:
        """The file is readable; it is only ever opened for reading."""
        path = self.settings.path
        readable = path.is_file() and os.access(path, os.R_OK)
        detail = f"{path} is readable" if readable else f"{path} is missing or unreadable"
        return ConnectorCheck(connector=self.name, kind=self.kind, reachable=readable,
                              can_write=False, details=[detail, "opened read-only by design"])

    def close(self) -> None:
        """Nothing to release: the file is read per query."""
